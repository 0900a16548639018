#!/usr/bin/python3
# tests/integration/test_postfix_config.py - `mailmoat postfix-config` output pasted into a real Postfix.
#
# The daemons run with the configuration files the packages install (debian/make-conffile: the daemon's
# --dump-defaults with the socket below Postfix's queue directory), their sockets in a set-group-id
# directory as tmpfiles.d makes it. postfix-config reads those files; its main.cf section is appended
# verbatim to a private Postfix's main.cf and its master.cf section to master.cf, and mail flows:
#   inbound on port 25, through a plain and a chrooted smtpd: a forged sender is rejected by SPF before
#   greylisting; a genuine one is greylisted, then passes on retry with Received-SPF, X-Greylist and a
#   DKIM verification result, and mailmoat-dmarc's dmarc=pass (sender.test publishes p=reject, SPF
#   aligned); mailmoat-checks runs with its installed configuration (no tables) and passes all;
#   outbound from an internal client: signed by mailmoat-dkim, a 1200-octet line left unfolded
#   (smtp_line_length_limit = 0), and the signature verifies with dkimpy.
# Also: the default sockets postfix-config assumes are the ones each daemon's --dump-defaults prints.
import grp
import os
import pwd
import re
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

import dkim  # noqa: E402  (python3-dkim)

DAEMONS = ["spf", "grey", "dkim", "dmarc", "checks"]
MAKE_CONFFILE = os.path.join(mmtest.SOURCE_DIR, "debian", "make-conffile")


def mailmoat(*args):
    return subprocess.run([mmtest.program_path("mailmoat"), *args], capture_output=True, text=True, timeout=30)


def genkey(d, name):
    return mmtest.dkim_key(d, name)


def txt(name, record):
    parts = [record[i:i + 200] for i in range(0, len(record), 200)]
    return f"{name} 300 IN TXT " + " ".join(f'"{p}"' for p in parts) + "\n"


def send(port, mail_from, rcpt, data):
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
        s.ehlo("client.mailmoat.test")
        s.sendmail(mail_from, [rcpt], data)


def sections(text):
    """(main.cf text, master.cf text) of postfix-config's output."""
    main, master, cur = [], [], None
    for line in text.splitlines():
        if line.startswith("# ---- main.cf"):
            cur = main
        elif line.startswith("# ---- master.cf"):
            cur = master
        elif cur is not None:
            cur.append(line)
    return "\n".join(main) + "\n", "\n".join(master) + "\n"


class PostfixConfigTest(mmtest.TestCase):
    def test_default_sockets_match_the_daemons(self):
        for d in DAEMONS:
            with self.subTest(daemon=d):
                dump = subprocess.run([mmtest.program_path(f"mailmoat-{d}"), "--dump-defaults", "--config", "/dev/null"],
                                      capture_output=True, text=True, timeout=30, check=True).stdout
                default = re.search(r"^#socket = (\S+)$", dump, re.M).group(1)
                r = mailmoat("postfix-config", "--config-dir=/nonexistent", f"--daemon={d}", "--chroot=no",
                             "--section=main")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertRegex(r.stdout, rf"(check_policy_service|smtpd_milters =) {re.escape(default)}\n")

    def test_pasted_output_wires_postfix(self):
        mmtest.require_root()
        tmp = mmtest.make_tmpdir("pfconf")
        self.addCleanup(mmtest.remove_tmpdir, tmp)
        uid = pwd.getpwnam("mailmoat").pw_uid
        postfix_gid = grp.getgrnam("postfix").gr_gid
        data = os.path.join(tmp, "data")          # the greylist store, written as user mailmoat
        os.mkdir(data, 0o750)
        os.chown(data, uid, grp.getgrnam("mailmoat").gr_gid)
        key_path, pem, record = genkey(tmp, "sender")
        out_key, _, out_record = genkey(tmp, "outbound")
        records = {b"sel._domainkey.sender.test.": record, b"out._domainkey.mailmoat.test.": out_record}
        zones = [
            "$ORIGIN sender.test.\n@ 300 IN SOA ns.test. hm.test. 1 3600 600 86400 60\n"
            "@ 300 IN TXT \"v=spf1 ip4:127.0.0.1 -all\"\n_dmarc 300 IN TXT \"v=DMARC1; p=reject\"\n"
            + txt("sel._domainkey", record),
            "$ORIGIN forged.test.\n@ 300 IN SOA ns.test. hm.test. 1 3600 600 86400 60\n"
            "@ 300 IN TXT \"v=spf1 ip4:192.0.2.1 -all\"\n",
            "$ORIGIN mailmoat.test.\n@ 300 IN SOA ns.test. hm.test. 1 3600 600 86400 60\n"
            + txt("out._domainkey", out_record),
        ]
        chroot_port = mmtest.free_port()
        # master.cf: a second smtpd on another port, chrooted in the queue directory as on Debian.
        chrooted = f"127.0.0.1:{chroot_port} inet n - y - - smtpd\n"
        # Inbound mail is for example.net (relayed to the sink as if it were the final destination);
        # only 127.0.0.2 is internal.
        params = {"mynetworks": "127.0.0.2/32", "relay_domains": "example.net"}
        with mmtest.Sink() as sink, mmtest.DnsServer(zones) as dns, \
                mmtest.Postfix(sink.port, params, master_cf_extra=chrooted) as pf:
            sockdir = os.path.join(pf.queue_dir, "mailmoat")     # tmpfiles.d: 2750 mailmoat:postfix
            os.mkdir(sockdir)
            os.chown(sockdir, uid, postfix_gid)
            os.chmod(sockdir, 0o2750)
            confdir = os.path.join(tmp, "etc")
            os.mkdir(confdir)
            for d in DAEMONS:
                conf = subprocess.run([MAKE_CONFFILE, d, mmtest.program_path(f"mailmoat-{d}"), pf.queue_dir],
                                      capture_output=True, text=True, check=True).stdout
                if d == "dkim":
                    self.assertIn("\nmode = v\n", conf)
                    conf = conf.replace("\nmode = v\n", "\nmode = sv\n")
                with open(os.path.join(confdir, f"mailmoat-{d}.conf"), "w", encoding="utf-8") as f:
                    f.write(conf)

            def daemon(d, *args):
                conf = os.path.join(confdir, f"mailmoat-{d}.conf")
                return mmtest.Daemon(f"mailmoat-{d}", ["--config", conf, "--dns-server", dns.address, *args],
                                     socket=f"unix:{sockdir}/{d}.sock")

            with daemon("spf", "--skip-networks=127.0.0.2") as spf, \
                    daemon("grey", "--delay=2s", f"--store=sqlite:{data}/grey.db", "--spf-keying=no") as grey, \
                    daemon("dkim", "--internal-hosts=127.0.0.2", "--domain=mailmoat.test", "--selector=out",
                           f"--key-file={out_key}", "--authserv-id=mx.mailmoat.test") as dk, \
                    daemon("dmarc", "--authserv-id=mx.mailmoat.test", f"--store=sqlite:{data}/dmarc.sqlite") as dm, \
                    daemon("checks") as ck:
                for x in (spf, grey, dk, dm, ck):
                    self.assertEqual(os.stat(x.socket[5:]).st_gid, postfix_gid)
                r = mailmoat("postfix-config", f"--config-dir={confdir}", f"--queue-directory={pf.queue_dir}")
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                main, master = sections(r.stdout)
                self.assertIn("check_policy_service unix:mailmoat/spf.sock", main)
                self.assertIn("smtpd_milters = unix:mailmoat/dkim.sock, unix:mailmoat/dmarc.sock, "
                              "unix:mailmoat/checks.sock", main)
                # Paste: main.cf lines appended as printed (later settings win in main.cf); the
                # submission services of master.cf on free loopback ports instead of 587/465.
                with open(os.path.join(pf.config_dir, "main.cf"), "a", encoding="utf-8") as f:
                    f.write("\n# pasted from mailmoat postfix-config\n" + main)
                sub_port, subs_port = mmtest.free_port(), mmtest.free_port()
                master = re.sub(r"^submission ", f"127.0.0.1:{sub_port} ", master, flags=re.M)
                master = re.sub(r"^submissions ", f"127.0.0.1:{subs_port} ", master, flags=re.M)
                with open(os.path.join(pf.config_dir, "master.cf"), "a", encoding="utf-8") as f:
                    f.write(master)
                check = subprocess.run(["/usr/sbin/postconf", "-c", pf.config_dir, "-n"], capture_output=True,
                                       text=True, timeout=30)
                self.assertNotIn("warning", check.stderr, check.stderr)
                self.assertIn("smtp_line_length_limit = 0", check.stdout)
                services = subprocess.run(["/usr/sbin/postconf", "-c", pf.config_dir, "-M"], capture_output=True,
                                          text=True, timeout=30)
                self.assertRegex(services.stdout, rf"127\.0\.0\.1:{sub_port} +inet .*smtpd_milters=unix:mailmoat/dkim\.sock")
                pf.reload()

                for port in (pf.port, chroot_port):
                    with self.subTest(smtpd=port):
                        self._inbound(sink, port, pem, records)
                # The second smtpd really ran chrooted in the queue directory (its idle process is still there).
                roots = set()
                for pid in mmtest.group_members(pf.proc.pid):
                    try:
                        with open(f"/proc/{pid}/comm", encoding="utf-8") as f:
                            if f.read().strip() == "smtpd":
                                roots.add(os.path.realpath(f"/proc/{pid}/root"))
                    except OSError:
                        continue
                self.assertIn(os.path.realpath(pf.queue_dir), roots, "no chrooted smtpd ran")
                self._outbound(sink, pf, records)
            logs = "\n".join(pf.log_lines())
            self.assertNotRegex(logs, r"(warning|fatal|error).*(mailmoat|milter|policy)", logs[-3000:])

    def _inbound(self, sink, port, pem, records):
        # Forged sender: SPF rejects at RCPT, before greylisting could record anything.
        r = mmtest.swaks(port, sender="a@forged.test", to=f"bob{port}@example.net", subject=f"forged {port}")
        self.assertRejected(r, "550", "SPF")
        # Genuine sender with a DKIM signature: greylisted first, then accepted on retry.
        subject = f"genuine {port}"
        rcpt = f"carol{port}@example.net"
        msg = (f"From: a@sender.test\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
               f"Message-ID: <{port}@sender.test>\r\n\r\nHello.\r\n").encode()
        signed = dkim.sign(msg, b"sel", b"sender.test", pem, include_headers=[b"from", b"to", b"subject"]) + msg
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as refused:
            send(port, "a@sender.test", rcpt, signed)
        code, text = refused.exception.recipients[rcpt]
        self.assertEqual(code, 450, text)
        self.assertIn(b"Greylisted", text)
        time.sleep(2.5)
        send(port, "a@sender.test", rcpt, signed)
        [m] = mmtest.wait_until(lambda: sink.find(subject), 20, "the genuine message at the sink")
        self.assertRegex(m.header("Received-SPF") or "", r"^pass ")
        self.assertRegex(m.header("X-Greylist") or "", r"delayed \d+ seconds by mailmoat-grey")
        ar = [v for k, v in m.headers() if k.lower() == "authentication-results"]
        self.assertTrue(any(re.match(r"mx\.mailmoat\.test;.*dkim=pass .*header\.d=sender\.test", v) for v in ar), ar)
        self.assertTrue(any(re.match(r"mx\.mailmoat\.test;.*dmarc=pass .*header\.from=sender\.test", v) for v in ar), ar)
        self.assertFalse(sink.find(f"forged {port}"))

    def _outbound(self, sink, pf, records):
        long_line = "x" * 1200
        r = mmtest.swaks(pf, sender="alice@mailmoat.test", to="bob@example.net", subject="outbound",
                         body=f"Hello,\n{long_line}\n", extra=["--local-interface", "127.0.0.2"])
        self.assertAccepted(r)
        [m] = mmtest.wait_until(lambda: sink.find("outbound"), 20, "the outbound message at the sink")
        raw = m.raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        self.assertIn(long_line.encode() + b"\r\n", raw, "the long line was folded")
        self.assertIn("d=mailmoat.test", m.header("DKIM-Signature") or "")

        def dnsfunc(name, timeout=5):
            return records.get(name, "").encode()
        self.assertTrue(dkim.verify(raw, dnsfunc=dnsfunc), "dkimpy rejects the outbound signature")


if __name__ == "__main__":
    mmtest.run()
