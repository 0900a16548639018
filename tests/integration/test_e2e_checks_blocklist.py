#!/usr/bin/python3
# tests/integration/test_e2e_checks_blocklist.py - the managed blocklist behind a real Postfix: a delivered
# message blocked with `mailmoat checks block` by subject (RFC 2047 encoded, with regex metacharacters), by
# From domain, by client address and by envelope sender is rejected when sent again; `unblock` lets it
# through; a hand-broken table is refused by the CLI with FILE:LINE and, on SIGHUP, by the daemon, which
# keeps the old table.
import os
import signal
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

REJECT_TEXT = "5.7.1 Message rejected by local blocklist"


def message(subject, sender="deals@spam.example", msgid="1"):
    return (f"From: Deals <{sender}>\r\nTo: b@example.net\r\nSubject: {subject}\r\n"
            f"Message-ID: <{msgid}.{abs(hash(subject))}@bulk.example>\r\n\r\nBuy now.\r\n").encode()


def send(pf, data, mail_from="s@example.org"):
    try:
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=60) as s:
            s.ehlo("client.mailmoat.test")
            s.mail(mail_from)
            s.rcpt("b@example.net")
            code, text = s.data(data)
    except smtplib.SMTPResponseException as e:
        code, text = e.smtp_code, e.smtp_error
    return code, text.decode() if isinstance(text, bytes) else text


class BlocklistTest(mmtest.TestCase):
    def cli(self, *args, input=None):
        return subprocess.run([mmtest.program_path("mailmoat"), "checks", *args], capture_output=True, text=True,
                              input=input, timeout=30)

    def test_block_unblock_through_postfix(self):
        tdir = mmtest.make_tmpdir("checks-block")
        self.addCleanup(mmtest.remove_tmpdir, tdir)
        table = os.path.join(tdir, "blocklist")
        pid_file = os.path.join(tdir, "checks.pid")
        conf = os.path.join(tdir, "mailmoat-checks.conf")
        with open(conf, "w") as f:
            f.write(f"blocklist-table = {table}\npid-file = {pid_file}\n")
        os.chmod(conf, 0o644)

        with mmtest.Sink() as sink, mmtest.Daemon("mailmoat-checks", ["--config", conf]) as milter, \
                mmtest.Postfix(sink.port, {"smtpd_milters": milter.socket, "milter_default_action": "tempfail"}) as pf:
            self.assertIn("blocklist table does not exist yet", milter.log())
            reloads = [0]

            def wait_reload():
                reloads[0] += 1
                mmtest.wait_until(lambda: milter.log().count("configuration reloaded") >= reloads[0], 10,
                                  "mailmoat-checks to reload")

            def block(*args, input=None):
                r = self.cli("block", "--config", conf, *args, input=input)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("mailmoat-checks reloaded", r.stdout)
                wait_reload()
                return r

            # Spam that got through: delivered, then blocked by its (encoded, metacharacter-laden) subject.
            subject = "=?UTF-8?Q?Gro=C3=9Fe_Aktion:_50%_(nur_heute)_$$$_[jetzt]?="
            spam = message(subject)
            self.assertEqual(send(pf, spam)[0], 250)
            [delivered] = sink.wait_messages(1)
            path = os.path.join(tdir, "spam.eml")
            with open(path, "wb") as f:
                f.write(delivered.raw)
            r = block("--by", "subject", "--reason", "spam wave", path)
            self.assertIn('blocked subject "Große Aktion: 50% (nur heute) $$$ [jetzt]" as entry 1', r.stdout)
            self.assertEqual(send(pf, spam), (550, REJECT_TEXT))
            self.assertRegex(milter.log(), rf"check=blocklist rule={table}:\d+ action=REJECT")
            # The same subject written differently (another encoding) is the same key.
            self.assertEqual(send(pf, message("=?UTF-8?B?R3Jvw59lIEFrdGlvbjogNTAlIChudXIgaGV1dGUpICQkJCBbamV0enRd?=",
                                              sender="other@ok.example")), (550, REJECT_TEXT))
            # A duplicate block is refused politely, nothing changes.
            dup = self.cli("block", "--config", conf, "--by", "subject", path)
            self.assertEqual(dup.returncode, 1)
            self.assertIn("already blocked (entry 1", dup.stderr)

            # By From domain: another subject from the same domain is rejected, from another domain accepted.
            block("--by", "from-domain", "-", input=delivered.raw.decode())
            self.assertEqual(send(pf, message("something else", sender="news@SPAM.example")), (550, REJECT_TEXT))
            self.assertEqual(send(pf, message("something else", sender="news@fine.example"))[0], 250)

            # unblock by id and by value: accepted again.
            listing = self.cli("list", "--config", conf)
            self.assertEqual(listing.returncode, 0, listing.stderr)
            self.assertRegex(listing.stdout, r'(?m)^1 \S+Z subject "Große Aktion.*" reason="spam wave" line=\d+$')
            self.assertRegex(listing.stdout, r'(?m)^2 \S+Z from-domain "spam.example" line=\d+$')
            r = self.cli("unblock", "--config", conf, "1")
            self.assertEqual(r.returncode, 0, r.stderr)
            wait_reload()
            r = self.cli("unblock", "--config", conf, "spam.example")
            self.assertEqual(r.returncode, 0, r.stderr)
            wait_reload()
            self.assertEqual(send(pf, spam)[0], 250)

            # Envelope keys: the client address (from the Received header Postfix wrote) and MAIL FROM.
            block("--by", "client-ip", path)
            self.assertEqual(send(pf, message("anything at all", sender="x@fine.example")), (550, REJECT_TEXT))
            self.assertRegex(milter.log(), r'input="client-ip=127.0.0.1"')
            self.assertEqual(self.cli("unblock", "--config", conf, "127.0.0.1").returncode, 0)
            wait_reload()
            block("--by", "sender", "--value", "<bounce+tag@lists.example>")
            self.assertEqual(send(pf, message("list mail", sender="x@fine.example"), mail_from="bounce+tag@lists.example"),
                             (550, REJECT_TEXT))
            self.assertEqual(send(pf, message("list mail", sender="x@fine.example"))[0], 250)

            # A hand-broken table: the CLI refuses it (FILE:LINE) and writes nothing ...
            with open(table) as f:
                good = f.read()
            with open(table, "a") as f:
                f.write("/^subject=(unclosed$/ REJECT hand edit\n")
            bad_line = len(good.splitlines()) + 1
            r = self.cli("block", "--config", conf, "--by", "subject", "--value", "more spam")
            self.assertEqual(r.returncode, 78, r.stdout + r.stderr)
            self.assertIn(f"{table}:{bad_line}: error in regular expression", r.stderr)
            with open(table) as f:
                self.assertEqual(f.read(), good + "/^subject=(unclosed$/ REJECT hand edit\n")
            # ... and the daemon, on SIGHUP, names it too and keeps the old table.
            with open(pid_file) as f:
                os.kill(int(f.read()), signal.SIGHUP)
            mmtest.wait_until(lambda: "reload failed" in milter.log(), 10, "the reload failure")
            self.assertIn(f"{table}:{bad_line}", milter.log())
            self.assertEqual(send(pf, message("list mail 2", sender="x@fine.example"), mail_from="bounce+tag@lists.example"),
                             (550, REJECT_TEXT))
            self.assertIsNone(milter.proc.poll(), "the milter is still running")


if __name__ == "__main__":
    mmtest.run()
