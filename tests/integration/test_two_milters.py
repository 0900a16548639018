#!/usr/bin/python3
# tests/integration/test_two_milters.py - two mailmoat-example-milter instances in smtpd_milters: does
# the second milter see the header the first one added? (Answer and reasoning: docs/notes/two-milters.md.)
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

PROGRAM = "mailmoat-example-milter"


class TwoMiltersTest(mmtest.TestCase):
    def test_second_milter_and_the_first_ones_header(self):
        first_args = ["--header-name", "X-First", "--header-value", "added by the first milter"]
        second_args = ["--header-name", "X-Second", "--header-value", "added by the second milter",
                       "--report-header", "X-First"]
        with mmtest.Sink() as sink, mmtest.Daemon(PROGRAM, first_args, name="first") as first, \
                mmtest.Daemon(PROGRAM, second_args, name="second") as second:
            params = {"smtpd_milters": f"{first.socket}, {second.socket}", "milter_default_action": "tempfail"}
            with mmtest.Postfix(sink.port, params) as pf:
                version = pf.postconf("-h", "mail_version").strip()
                qid = self.assertAccepted(mmtest.swaks(pf, subject="two milters"))
                [msg] = sink.wait_messages(1)
                sys.stderr.write(f"Postfix {version}: X-Saw-X-First: {msg.header('X-Saw-X-First')}\n")
                self.assertEqual(msg.header("X-First"), f"added by the first milter (queue id {qid})")
                self.assertEqual(msg.header("X-Second"), f"added by the second milter (queue id {qid})")
                # Observed with Postfix 3.7: the second milter is NOT shown the first milter's header.
                self.assertEqual(msg.header("X-Saw-X-First"), "no")

                # Control: a header that was in the message as sent is seen by the second milter, so
                # the "no" above is about the first milter's addition, not a broken report.
                self.assertAccepted(mmtest.swaks(pf, subject="sent with X-First",
                                                 headers=["X-First: from the client"]))
                sink.wait_messages(2)
                [msg2] = sink.find("sent with X-First")
                self.assertEqual(msg2.header("X-Saw-X-First"), "yes")
                pf.wait_idle()


if __name__ == "__main__":
    mmtest.run()
