#!/usr/bin/python3
# tests/integration/test_e2e_example_milter.py - mailmoat-example-milter behind a real Postfix: the
# added header reaches the delivered message with Postfix's queue id, a REJECTME subject reaches the SMTP
# client as 550 5.7.1 with the milter's text; over inet and unix sockets, and via sendmail
# (non_smtpd_milters).
import grp
import os
import pwd
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

PROGRAM = "mailmoat-example-milter"
HEADER = "X-Mailmoat-Example"
VALUE = "seen by mailmoat-example-milter"
REJECT_TEXT = "5.7.1 example milter rejects this message"


def milter_params(spec):
    return {
        "smtpd_milters": spec,
        "non_smtpd_milters": spec,
        # An unreachable milter must not let mail through unmarked.
        "milter_default_action": "tempfail",
    }


class ExampleMilterTest(mmtest.TestCase):
    def check_pass_and_reject(self, sink, pf, tag):
        r = mmtest.swaks(pf, to="alice@example.net", subject=f"hello {tag}")
        qid = self.assertAccepted(r)
        self.assertRegex(qid or "", r"^[0-9A-F]{6,}$", str(r))
        msg = sink.wait_messages(1)[-1]
        self.assertEqual(msg.header("Subject"), f"hello {tag}")
        self.assertEqual(msg.header(HEADER), f"{VALUE} (queue id {qid})")
        # Postfix's own Received header carries the same queue id.
        self.assertIn(f"with ESMTP id {qid}", msg.header("Received"))
        self.assertEqual(len(msg.msg.get_all(HEADER)), 1)

        r = mmtest.swaks(pf, to="bob@example.net", subject=f"please REJECTME {tag}")
        code, text = self.assertRejected(r, "550", REJECT_TEXT)
        self.assertEqual((code, text), ("550", REJECT_TEXT))
        self.assertIsNone(r.queue_id())
        self.assertTrue(pf.wait_log(r"milter-reject: END-OF-MESSAGE from .*: " + re.escape(REJECT_TEXT)))
        pf.wait_idle()
        self.assertEqual(sink.find(f"please REJECTME {tag}"), [])
        self.assertEqual(len(sink.messages()), 1)

    def test_inet_socket_smtp_and_sendmail(self):
        with mmtest.Sink() as sink, mmtest.Daemon(PROGRAM) as milter, \
                mmtest.Postfix(sink.port, milter_params(milter.socket)) as pf:
            self.assertTrue(milter.socket.startswith("inet:127.0.0.1:"))
            self.check_pass_and_reject(sink, pf, "inet")

            # Non-SMTP submission: cleanup applies non_smtpd_milters.
            pf.sendmail("From: local@mailmoat.test\nTo: carol@example.net\nSubject: via sendmail\n\nbody\n",
                        "local@mailmoat.test", ["carol@example.net"])
            sink.wait_messages(2)
            [msg] = sink.find("via sendmail")
            self.assertEqual(msg.rcpt_to, ["carol@example.net"])
            [qid] = pf.queue_ids(r"pickup\[\d+\]: [0-9A-F]+: uid=0 from=<local@mailmoat.test>")
            self.assertEqual(msg.header(HEADER), f"{VALUE} (queue id {qid})")
            pf.wait_idle()
            self.assertIn(f"{qid}: action=continue", milter.log())

            # A non-SMTP message the milter rejects cannot be refused to anyone: cleanup bounces it,
            # and the bounce to the (remote) sender carries the milter's text.
            pf.sendmail("From: local@mailmoat.test\nTo: dave@example.net\nSubject: REJECTME locally\n\nbody\n",
                        "local@mailmoat.test", ["dave@example.net"])
            sink.wait_messages(3)
            [bounce] = [m for m in sink.messages() if m.mail_from == ""]
            self.assertEqual(bounce.rcpt_to, ["local@mailmoat.test"])
            report = bounce.raw.decode("utf-8", "replace")
            self.assertIn("<dave@example.net>: example milter rejects this message", report)
            self.assertIn("Status: 5.7.1", report)
            self.assertEqual(sink.find("REJECTME locally"), [])
            pf.wait_idle()

    def test_unix_socket(self):
        with mmtest.Sink() as sink, mmtest.Daemon(PROGRAM, socket="unix") as milter, \
                mmtest.Postfix(sink.port, milter_params(milter.socket)) as pf:
            self.assertTrue(milter.socket.startswith("unix:/"))
            st = os.stat(milter.socket[len("unix:"):])
            self.assertEqual((pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name),
                             ("mailmoat", "postfix"))
            # The daemon dropped root for the mailmoat account.
            with open(f"/proc/{milter.proc.pid}/status", encoding="ascii") as f:
                uid_line = next(ln for ln in f if ln.startswith("Uid:"))
            self.assertEqual({int(x) for x in uid_line.split()[1:]}, {pwd.getpwnam("mailmoat").pw_uid})
            self.check_pass_and_reject(sink, pf, "unix")

    def test_options_reach_the_message(self):
        args = ["--header-name", "X-Custom-Check", "--header-value", "custom value",
                "--reject-subject", "FORBIDDEN"]
        with mmtest.Sink() as sink, mmtest.Daemon(PROGRAM, args) as milter, \
                mmtest.Postfix(sink.port, milter_params(milter.socket)) as pf:
            qid = self.assertAccepted(mmtest.swaks(pf, subject="REJECTME is no longer special"))
            [msg] = sink.wait_messages(1)
            self.assertEqual(msg.header("X-Custom-Check"), f"custom value (queue id {qid})")
            self.assertIsNone(msg.header(HEADER))
            self.assertRejected(mmtest.swaks(pf, subject="a FORBIDDEN word"), "550", REJECT_TEXT)


if __name__ == "__main__":
    mmtest.run()
