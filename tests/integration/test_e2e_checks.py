#!/usr/bin/python3
# tests/integration/test_e2e_checks.py - mailmoat-checks behind a real Postfix: REJECT text reaches the
# client (5xx, and 451 for a 4.x.x text), HOLD lands in the hold queue, PREPEND/REPLACE/IGNORE change the
# delivered headers, REDIRECT/BCC change who receives it, SIGHUP keeps the old tables when a new one is
# bad, and hostile input (10 MB line, 100-deep MIME, catastrophic regex) is handled in bounded time.
import base64
import os
import signal
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

HEADER_RULES = r"""# header rules
/^Subject:.*forbidden/      REJECT 5.7.1 Forbidden subject (rule 2)
/^Subject:.*later/          REJECT 4.7.1 come back later
/^Subject:.*quarantine/     HOLD suspicious subject
/^Subject:.*to the trap/    REDIRECT trap@example.net
/^Subject:.*keep a copy/    BCC archive@example.net
/^Subject: (.*) tag me/     REPLACE Subject: [tagged] $1
/^X-Tracking:/              IGNORE
/^X-Agent: (.*)/            PREPEND X-Agent-Was: $1
"""
BODY_RULES = r"""/^(a+)+$/ REJECT catastrophic pattern matched
/^body reject/ REJECT body rejected
/hidden phrase/ REJECT raw line rule
"""
DECODED_RULES = r"""/hidden phrase/ REJECT 5.7.1 phrase found in decoded text
"""


def send(pf, sender, rcpt, data):
    try:
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=60) as s:
            s.ehlo("client.mailmoat.test")
            s.mail(sender)
            s.rcpt(rcpt)
            code, text = s.data(data)
    except smtplib.SMTPResponseException as e:
        code, text = e.smtp_code, e.smtp_error
    return code, text.decode() if isinstance(text, bytes) else text


def msg(subject, extra="", body="hello\r\n"):
    return (f"From: a@example.org\r\nTo: b@example.net\r\nSubject: {subject}\r\nDate: Tue, 01 Dec 2026 00:00:00 +0000\r\n"
            f"Message-ID: <{abs(hash(subject))}@example.org>\r\n{extra}\r\n{body}").encode()


class ChecksE2ETest(mmtest.TestCase):
    def test_actions_reload_and_hostile_input(self):
        tdir = mmtest.make_tmpdir("checks-tables")
        try:
            header = os.path.join(tdir, "header_checks")
            body = os.path.join(tdir, "body_checks")
            decoded = os.path.join(tdir, "decoded_body_checks")
            with open(decoded, "w") as f:
                f.write(DECODED_RULES)
            os.chmod(decoded, 0o644)
            with open(header, "w") as f:
                f.write(HEADER_RULES)
            with open(body, "w") as f:
                f.write(BODY_RULES)
            for p in (header, body):
                os.chmod(p, 0o644)
            args = ["--header-checks", f"pcre:{header}", "--body-checks", f"pcre:{body}", "--match-time-limit", "3000",
                    "--decoded-body-checks", f"pcre:{decoded}"]
            with mmtest.Sink() as sink, mmtest.Daemon("mailmoat-checks", args) as milter, \
                    mmtest.Postfix(sink.port, {"smtpd_milters": milter.socket, "milter_default_action": "tempfail",
                                               "message_size_limit": "30000000"}) as pf:
                # REJECT: the table's text reaches the SMTP client; 4.x.x gives 451.
                r = mmtest.swaks(pf, subject="a forbidden word")
                self.assertRejected(r, "550", "5.7.1 Forbidden subject (rule 2)")
                r = mmtest.swaks(pf, subject="try later")
                self.assertRejected(r, "451", "4.7.1 come back later")
                self.assertRegex(milter.log(), rf"rule={header}:2 action=REJECT")

                # HOLD: in Postfix's hold queue.
                qid = self.assertAccepted(mmtest.swaks(pf, subject="quarantine me"))
                mmtest.wait_until(lambda: any(m["queue_id"] == qid and m["queue_name"] == "hold" for m in pf.queue()),
                                  20, "the message in the hold queue")

                # PREPEND / REPLACE / IGNORE change the delivered headers.
                self.assertAccepted(mmtest.swaks(pf, subject="hello tag me", headers=["X-Tracking: 1234",
                                                                                      "X-Agent: Mutt 2.2"]))
                [m] = sink.wait_messages(1)
                self.assertEqual(m.header("Subject"), "[tagged] hello")
                self.assertIsNone(m.header("X-Tracking"))
                names = [n for n, _ in m.headers()]
                self.assertEqual(m.header("X-Agent-Was"), "Mutt 2.2")
                self.assertEqual(names.index("X-Agent-Was") + 1, names.index("X-Agent"))

                # REDIRECT / BCC change who receives it.
                self.assertAccepted(mmtest.swaks(pf, to="alice@example.net", subject="off to the trap"))
                self.assertAccepted(mmtest.swaks(pf, to="bob@example.net", subject="please keep a copy"))
                sink.wait_messages(3)
                [trap] = sink.find("off to the trap")
                self.assertEqual(trap.rcpt_to, ["trap@example.net"])
                rcpts = sorted(r for x in sink.find("please keep a copy") for r in x.rcpt_to)
                self.assertEqual(rcpts, ["archive@example.net", "bob@example.net"])

                # A bad table on SIGHUP: named FILE:LINE in the log, the old tables stay.
                with open(header, "w") as f:
                    f.write(HEADER_RULES + "/unclosed REJECT\n")
                os.kill(milter.proc.pid, signal.SIGHUP)
                mmtest.wait_until(lambda: "reload failed" in milter.log(), 10, "the reload failure")
                bad_line = len(HEADER_RULES.splitlines()) + 1
                self.assertIn(f"{header}:{bad_line}", milter.log())
                self.assertRejected(mmtest.swaks(pf, subject="forbidden again"), "550", "Forbidden subject")
                # A good table on SIGHUP replaces the old one.
                with open(header, "w") as f:
                    f.write("/^Subject:.*brand new/ REJECT 5.7.1 new rule\n")
                os.kill(milter.proc.pid, signal.SIGHUP)
                mmtest.wait_until(lambda: "configuration reloaded" in milter.log(), 10, "the reload")
                self.assertRejected(mmtest.swaks(pf, subject="a brand new rule"), "550", "5.7.1 new rule")
                self.assertAccepted(mmtest.swaks(pf, subject="forbidden is fine now"))

                # MIME: a phrase hidden in base64 is caught on the decoded text; the raw-line rule misses it.
                b64 = base64.encodebytes(b"Dear friend, this hidden phrase is encoded.\n").decode().replace("\n", "\r\n")
                mime = ('MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="q"\r\n')
                code, text = send(pf, "s@example.org", "b@example.net",
                                  msg("encoded", extra=mime, body="--q\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                      "Content-Transfer-Encoding: base64\r\n\r\n" + b64 + "--q--\r\n"))
                self.assertEqual((code, text), (550, "5.7.1 phrase found in decoded text"))
                self.assertIn("check=decoded_body", milter.log())
                self.assertNotIn("raw line rule", milter.log())

                # Hostile input: catastrophic backtracking, a 10 MB line, MIME nested 100 deep.
                t0 = time.monotonic()
                code, _ = send(pf, "s@example.org", "b@example.net",
                               msg("backtracking", body="".join("a" * 40 + "!\r\n" for _ in range(300))))
                self.assertEqual(code, 250)
                self.assertLess(time.monotonic() - t0, 15)
                self.assertRegex(milter.log(), r"problem=.*match error")

                t0 = time.monotonic()
                code, _ = send(pf, "s@example.org", "b@example.net", msg("huge line", body="z" * (10 << 20) + "\r\n"))
                self.assertEqual(code, 250)
                self.assertLess(time.monotonic() - t0, 30)

                deep = 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b0"\r\n'
                inner = ""
                for i in range(100):
                    inner += f'--b{i}\r\nContent-Type: multipart/mixed; boundary="b{i + 1}"\r\n\r\n'
                inner += "--b100\r\n\r\nbody reject\r\n"
                code, text = send(pf, "s@example.org", "b@example.net", msg("deep", extra=deep, body=inner))
                # Below the 100-level nesting limit the line is still a body line: the body rule fires.
                self.assertEqual((code, text), (550, "5.7.1 body rejected"))
                self.assertTrue(milter.proc.poll() is None, "the milter is still running")
        finally:
            mmtest.remove_tmpdir(tdir)


if __name__ == "__main__":
    mmtest.run()
