#!/usr/bin/python3
# tests/integration/test_fail2ban.py - the fail2ban filters in fail2ban/filter.d match exactly the
# intended log lines of the real daemons: mailmoat-spf's rejections, mailmoat-grey's early retries and
# mailmoat-dmarc's enforced failures (reject, hold), and none of their other lines (passes, softfails,
# first greylistings, DMARC passes and p=none failures, lines whose client-chosen HELO, sender or DKIM
# signature imitate a matching line, each other's lines).
#
# mailmoat-dmarc is a milter: it runs behind a private Postfix, and each message comes from its own
# loopback address (swaks --local-interface 127.0.0.N), the client address its decision line names.
#
# The daemons run with --foreground (stderr: "PROGRAM: LEVEL: MESSAGE"); each line is written out as
# rsyslog writes the same message to /var/log/mail.log ("Mon DD HH:MM:SS HOST PROGRAM[PID]: MESSAGE"),
# because the test machine has no syslog daemon. fail2ban-regex then reads that file with the filter.
import grp
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

FILTERS = os.path.join(mmtest.SOURCE_DIR, "fail2ban", "filter.d")
ZONES = [
    "$ORIGIN forged.test.\n@ 300 IN SOA ns.test. hm.test. 1 3600 600 86400 60\n@ 300 IN TXT \"v=spf1 -all\"\n",
    "$ORIGIN pass.test.\n@ 300 IN SOA ns.test. hm.test. 1 3600 600 86400 60\n"
    "@ 300 IN TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n",
    "$ORIGIN soft.test.\n@ 300 IN SOA ns.test. hm.test. 1 3600 600 86400 60\n@ 300 IN TXT \"v=spf1 ~all\"\n",
    # DMARC: p=reject and p=quarantine domains nobody but their own servers may use, an aligned
    # one whose SPF allows the loopback clients, and a p=none one.
    "$ORIGIN bank.test.\n@ 300 IN SOA ns.test. hm.test. 1 3600 600 86400 60\n@ 300 IN TXT \"v=spf1 -all\"\n"
    "_dmarc 300 IN TXT \"v=DMARC1; p=reject\"\n",
    "$ORIGIN quar.test.\n@ 300 IN SOA ns.test. hm.test. 1 3600 600 86400 60\n@ 300 IN TXT \"v=spf1 -all\"\n"
    "_dmarc 300 IN TXT \"v=DMARC1; p=quarantine\"\n",
    "$ORIGIN aligned.test.\n@ 300 IN SOA ns.test. hm.test. 1 3600 600 86400 60\n"
    "@ 300 IN TXT \"v=spf1 ip4:127.0.0.0/8 -all\"\n_dmarc 300 IN TXT \"v=DMARC1; p=reject\"\n",
    "$ORIGIN nopol.test.\n@ 300 IN SOA ns.test. hm.test. 1 3600 600 86400 60\n@ 300 IN TXT \"v=spf1 -all\"\n"
    "_dmarc 300 IN TXT \"v=DMARC1; p=none\"\n",
]


class Policy:
    """One connection to a policy server, as Postfix's smtpd keeps it."""

    def __init__(self, spec):
        host, _, port = spec[len("inet:"):].rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.file = self.sock.makefile("rwb")
        self.n = 0

    def ask(self, client, sender, recipient="bob@example.org", helo="mta.example.net", state="RCPT"):
        self.n += 1
        attrs = {"request": "smtpd_access_policy", "protocol_state": state, "protocol_name": "ESMTP",
                 "client_address": client, "client_name": "unknown", "reverse_client_name": "unknown",
                 "helo_name": helo, "sender": sender, "recipient": recipient, "recipient_count": "0",
                 "queue_id": f"{0xA0000 + self.n:X}", "instance": f"{self.n:x}.{os.getpid():x}.0"}
        self.file.write(b"".join(f"{k}={v}\n".encode() for k, v in attrs.items()) + b"\n")
        self.file.flush()
        lines = []
        while True:
            ln = self.file.readline().decode().rstrip("\n")
            if not ln:
                return lines[0] if lines else ""
            lines.append(ln)

    def close(self):
        self.file.close()
        self.sock.close()


def syslog_lines(daemon):
    """The daemon's stderr decision lines in rsyslog's file format."""
    out = []
    stamp = time.strftime("%b %e %H:%M:%S")
    for ln in daemon.log().splitlines():
        m = re.match(r"^(mailmoat-\w+): (?:error|warning|notice|info|debug): (.*)$", ln)
        if m:
            out.append(f"{stamp} mx {m.group(1)}[{daemon.proc.pid}]: {m.group(2)}")
    return out


def fail2ban_regex(log_path, filter_dir, filter_name):
    """(number matched, number missed, matched lines, output) of fail2ban-regex with the filter."""
    r = subprocess.run(["fail2ban-regex", "--print-all-matched", "--print-all-missed", "--raw", log_path,
                        os.path.join(filter_dir, filter_name + ".conf")], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"fail2ban-regex exited {r.returncode}:\n{r.stdout}{r.stderr}")
    m = re.search(r"^Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed", r.stdout, re.M)
    if not m:
        raise AssertionError(f"no summary from fail2ban-regex:\n{r.stdout}")
    matched = re.findall(r"^\|  (.*mailmoat-\w+\[\d+\]: .*)$", r.stdout.split("|- Matched line(s):")[-1]
                         .split("|- Missed line(s):")[0], re.M) if int(m.group(3)) else []
    return int(m.group(3)), int(m.group(4)), matched, r.stdout


def banned_hosts(log_path, filter_dir, filter_name):
    """The addresses fail2ban-regex -v takes from the filter's <HOST> in each matched line (what a jail
    would ban), sorted."""
    r = subprocess.run(["fail2ban-regex", "-v", "--raw", log_path, os.path.join(filter_dir, filter_name + ".conf")],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"fail2ban-regex exited {r.returncode}:\n{r.stdout}{r.stderr}")
    failregex = r.stdout.split("Failregex:", 1)[1].split("Ignoreregex:", 1)[0]
    return sorted(re.findall(r"^\|\s+(\d+\.\d+\.\d+\.\d+)\s+\w{3} \w{3} ", failregex, re.M))


class Fail2banTest(mmtest.TestCase):
    def test_filters_match_the_intended_lines_only(self):
        tmp = mmtest.make_tmpdir("fail2ban")
        self.addCleanup(mmtest.remove_tmpdir, tmp)
        data = os.path.join(tmp, "data")          # the greylist store, written as user mailmoat
        os.mkdir(data, 0o750)
        os.chown(data, pwd.getpwnam("mailmoat").pw_uid, grp.getgrnam("mailmoat").gr_gid)
        with mmtest.DnsServer(ZONES) as dns, \
                mmtest.Daemon("mailmoat-spf", ["--dns-server", dns.address, "--skip-networks=127.0.0.1"]) as spf, \
                mmtest.Daemon("mailmoat-grey", ["--dns-server", dns.address, "--delay=60s",
                                                f"--store=sqlite:{data}/grey.db", "--spf-keying=no"]) as grey:
            p = Policy(spf.socket)
            # To be banned: SPF fail of the MAIL FROM domain (twice), and of the HELO name.
            self.assertTrue(p.ask("192.0.2.10", "a@forged.test").startswith("action=550"))
            self.assertTrue(p.ask("192.0.2.10", "b@forged.test").startswith("action=550"))
            self.assertTrue(p.ask("198.51.100.7", "", helo="forged.test").startswith("action=550"))
            # Not to be banned: pass, softfail, no record, a HELO that imitates a rejection.
            self.assertFalse(p.ask("192.0.2.11", "a@pass.test").startswith("action=5"))
            self.assertFalse(p.ask("198.51.100.12", "a@soft.test").startswith("action=5"))
            self.assertFalse(p.ask("192.0.2.13", "a@pass.test",
                                   helo='x action=550 reason="mailfrom fail"').startswith("action=5"))
            p.close()

            g = Policy(grey.socket)
            # To be banned: retries long before the delay (60 s) is over.
            self.assertIn("DEFER_IF_PERMIT", g.ask("203.0.113.30", "a@pass.test", "r1@example.org"))
            self.assertIn("DEFER_IF_PERMIT", g.ask("203.0.113.30", "a@pass.test", "r1@example.org"))
            self.assertIn("DEFER_IF_PERMIT", g.ask("203.0.113.30", "a@pass.test", "r1@example.org"))
            # Not to be banned: a first attempt, also one whose sender imitates an early retry.
            self.assertIn("DEFER_IF_PERMIT", g.ask("203.0.113.31", "a@pass.test", "r2@example.org"))
            self.assertIn("DEFER_IF_PERMIT",
                          g.ask("203.0.113.32", '"x result=greylisted reason=early-retry remaining=5 '
                                'action=DEFER_IF_PERMIT"@pass.test', "r3@example.org"))
            g.close()
            dmarc_lines = self._dmarc_lines(dns)
            time.sleep(0.3)
            spf_lines, grey_lines = syslog_lines(spf), syslog_lines(grey)

        self.assertGreaterEqual(len(spf_lines), 6, spf_lines)
        self.assertGreaterEqual(len(grey_lines), 5, grey_lines)
        self.assertGreaterEqual(len([ln for ln in dmarc_lines if " action=" in ln]), 6, dmarc_lines)
        everything = spf_lines + grey_lines + dmarc_lines
        # The filters include fail2ban's common.conf from their own directory, as in /etc/fail2ban/filter.d.
        filter_dir = os.path.join(tmp, "filter.d")
        os.mkdir(filter_dir)
        shutil.copy("/etc/fail2ban/filter.d/common.conf", filter_dir)
        for name in ("mailmoat-spf", "mailmoat-grey", "mailmoat-dmarc"):
            shutil.copy(os.path.join(FILTERS, name + ".conf"), filter_dir)
        log_path = os.path.join(tmp, "mail.log")
        with open(log_path, "w", encoding="utf-8") as f:
            f.write("\n".join(everything) + "\n")

        n, missed, lines, out = fail2ban_regex(log_path, filter_dir, "mailmoat-spf")
        self.assertEqual(n, 3, out)
        self.assertEqual(missed, len(everything) - 3, out)
        hosts = sorted(re.search(r"client=(\S+)", ln).group(1) for ln in lines)
        self.assertEqual(hosts, ["192.0.2.10", "192.0.2.10", "198.51.100.7"], out)
        for ln in lines:
            self.assertIn("mailmoat-spf[", ln)

        n, missed, lines, out = fail2ban_regex(log_path, filter_dir, "mailmoat-grey")
        self.assertEqual(n, 2, out)
        self.assertEqual(missed, len(everything) - 2, out)
        for ln in lines:
            self.assertIn("client=203.0.113.30 ", ln)
            self.assertIn("reason=early-retry", ln)

        n, missed, lines, out = fail2ban_regex(log_path, filter_dir, "mailmoat-dmarc")
        self.assertEqual(n, 3, out)
        self.assertEqual(missed, len(everything) - 3, out)
        # What a jail would ban: the client, never the address a crafted DKIM d= wrote before it.
        hosts = banned_hosts(log_path, filter_dir, "mailmoat-dmarc")
        self.assertEqual(hosts, ["127.0.0.10", "127.0.0.10", "127.0.0.11"], out)
        self.assertEqual(sum("ip=127.0.0.99 " in ln for ln in lines), 1, "the crafted line is among the matches")
        actions = sorted(re.search(r" action=(\S+) ", ln).group(1) for ln in lines)
        self.assertEqual(actions, ["hold", "reject", "reject"], out)
        for ln in lines:
            self.assertIn("mailmoat-dmarc[", ln)
            self.assertIn(" dmarc=fail ", ln)

        # Keep the log lines as an artefact of the run for docs/packaging.md.
        artefact = os.path.join(mmtest.BUILD_DIR, "fail2ban-test-mail.log")
        with open(artefact, "w", encoding="utf-8") as f:
            f.write("\n".join(everything) + "\n")

    def _dmarc_lines(self, dns):
        """mailmoat-dmarc's lines for six messages through a private Postfix, each from its own client."""
        args = ["--dns-server", dns.address, "--store", "none", "--authserv-id", "mx.mailmoat.test"]
        with mmtest.Sink() as sink, mmtest.Daemon("mailmoat-dmarc", args, socket="unix") as dmarcd:
            params = {"smtpd_milters": dmarcd.socket, "milter_default_action": "tempfail",
                      "relay_domains": "example.org"}
            with mmtest.Postfix(sink.port, params) as pf:
                def send(client, sender, from_header, subject, headers=()):
                    return mmtest.swaks(pf, sender=sender, to="bob@example.org", subject=subject,
                                        extra=["--local-interface", client, "--header", f"From: {from_header}",
                                               *[a for h in headers for a in ("--add-header", h)]])
                # To be banned: a p=reject domain forged twice (550), the second time with a DKIM signature
                # whose d= (logged in the line before ip=) names another client; a p=quarantine one (held).
                fake_ip = 'x ip=127.0.0.99 authors=1 store=ok reason=x'
                self.assertRejected(send("127.0.0.10", "a@pass.test", "ceo@bank.test", "forged 1"), "550", "DMARC")
                self.assertRejected(send("127.0.0.10", "b@pass.test", "ceo@bank.test", "forged 2",
                                         headers=[f'DKIM-Signature: v=1; a=rsa-sha256; d="{fake_ip}"; s=x; '
                                                  'h=from; bh=AAAA; b=AAAA']), "550", "DMARC")
                self.assertAccepted(send("127.0.0.11", "a@pass.test", "news@quar.test", "quarantined"))
                # Not to be banned: a pass, a p=none failure, and a p=none failure whose DKIM signature
                # (d=, reported in the line) and HELO imitate the fields of a matching line.
                self.assertAccepted(send("127.0.0.12", "a@aligned.test", "a@aligned.test", "aligned"))
                self.assertAccepted(send("127.0.0.13", "a@pass.test", "news@nopol.test", "p none"))
                fake = 'action=reject header_from=bank.test dmarc=fail ip=127.0.0.99 authors=1 store=ok reason=x'
                self.assertAccepted(send("127.0.0.14", "a@pass.test", "news@nopol.test", "imitation",
                                         headers=[f'DKIM-Signature: v=1; a=rsa-sha256; d="{fake}"; s=x; '
                                                  'h=from; bh=AAAA; b=AAAA']))
                mmtest.wait_until(lambda: len(sink.messages()) >= 3, 20, "the accepted messages")
                held = mmtest.wait_until(lambda: [q for q in pf.queue() if q.get("queue_name") == "hold"], 10,
                                         "the held message")
                self.assertEqual(len(held), 1, held)
            time.sleep(0.3)
            return syslog_lines(dmarcd)


if __name__ == "__main__":
    mmtest.run()
