#!/usr/bin/python3
# tests/integration/test_fail2ban.py - the fail2ban filters in fail2ban/filter.d match exactly the
# intended log lines of the real daemons: mailmoat-spf's rejections and mailmoat-grey's early retries,
# and none of their other lines (passes, softfails, first greylistings, lines whose client-chosen HELO or
# sender imitate a matching line, each other's lines).
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
            time.sleep(0.3)
            spf_lines, grey_lines = syslog_lines(spf), syslog_lines(grey)

        self.assertGreaterEqual(len(spf_lines), 6, spf_lines)
        self.assertGreaterEqual(len(grey_lines), 5, grey_lines)
        # The filters include fail2ban's common.conf from their own directory, as in /etc/fail2ban/filter.d.
        filter_dir = os.path.join(tmp, "filter.d")
        os.mkdir(filter_dir)
        shutil.copy("/etc/fail2ban/filter.d/common.conf", filter_dir)
        for name in ("mailmoat-spf", "mailmoat-grey"):
            shutil.copy(os.path.join(FILTERS, name + ".conf"), filter_dir)
        log_path = os.path.join(tmp, "mail.log")
        with open(log_path, "w", encoding="utf-8") as f:
            f.write("\n".join(spf_lines + grey_lines) + "\n")

        n, missed, lines, out = fail2ban_regex(log_path, filter_dir, "mailmoat-spf")
        self.assertEqual(n, 3, out)
        self.assertEqual(missed, len(spf_lines) + len(grey_lines) - 3, out)
        hosts = sorted(re.search(r"client=(\S+)", ln).group(1) for ln in lines)
        self.assertEqual(hosts, ["192.0.2.10", "192.0.2.10", "198.51.100.7"], out)
        for ln in lines:
            self.assertIn("mailmoat-spf[", ln)

        n, missed, lines, out = fail2ban_regex(log_path, filter_dir, "mailmoat-grey")
        self.assertEqual(n, 2, out)
        self.assertEqual(missed, len(spf_lines) + len(grey_lines) - 2, out)
        for ln in lines:
            self.assertIn("client=203.0.113.30 ", ln)
            self.assertIn("reason=early-retry", ln)

        # Keep the log lines as an artefact of the run for docs/packaging.md.
        artefact = os.path.join(mmtest.BUILD_DIR, "fail2ban-test-mail.log")
        with open(artefact, "w", encoding="utf-8") as f:
            f.write("\n".join(spf_lines + grey_lines) + "\n")


if __name__ == "__main__":
    mmtest.run()
