#!/usr/bin/python3
# tests/integration/test_two_milters.py - two mailmoat-example-milter instances in smtpd_milters: does
# the second milter see the header the first one added? (Answer and reasoning: docs/notes/two-milters.md.)
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

PROGRAM = "mailmoat-example-milter"


class TwoMiltersTest(mmtest.TestCase):
    def test_second_milter_sees_the_first_ones_header(self):
        first_args = ["--header-name", "X-First", "--header-value", "added by the first milter"]
        second_args = ["--header-name", "X-Second", "--header-value", "added by the second milter",
                       "--report-header", "X-First"]
        with mmtest.Sink() as sink, mmtest.Daemon(PROGRAM, first_args, name="first") as first, \
                mmtest.Daemon(PROGRAM, second_args, name="second") as second:
            in_order = {"smtpd_milters": f"{first.socket}, {second.socket}", "milter_default_action": "tempfail"}
            with mmtest.Postfix(sink.port, in_order) as pf:
                version = pf.postconf("-h", "mail_version").strip()
                qid = self.assertAccepted(mmtest.swaks(pf, subject="first then second"))
                [msg] = sink.wait_messages(1)
                sys.stderr.write(f"Postfix {version}: X-Saw-X-First: {msg.header('X-Saw-X-First')}\n")
                self.assertEqual(msg.header("X-First"), f"added by the first milter (queue id {qid})")
                self.assertEqual(msg.header("X-Second"), f"added by the second milter (queue id {qid})")
                # Observed with Postfix 3.7: the second milter is shown the header the first one added.
                self.assertEqual(msg.header("X-Saw-X-First"), "yes")
                pf.wait_idle()
            # The second milter was shown one header more than the first (the added X-First).
            seen = {}
            for name, daemon in (("first", first), ("second", second)):
                m = re.search(rf"{qid}: action=continue header=X-\w+ headers=(\d+)", daemon.log())
                self.assertIsNotNone(m, daemon.log())
                seen[name] = int(m.group(1))
            self.assertEqual(seen["second"], seen["first"] + 1)

            # Control: with the order reversed the reporting milter runs before X-First exists, and
            # says so - the "yes" above comes from the first milter's addition, not from the report.
            reversed_order = {"smtpd_milters": f"{second.socket}, {first.socket}",
                              "milter_default_action": "tempfail"}
            with mmtest.Postfix(sink.port, reversed_order) as pf:
                qid = self.assertAccepted(mmtest.swaks(pf, subject="second then first"))
                sink.wait_messages(2)
                [msg] = sink.find("second then first")
                self.assertEqual(msg.header("X-First"), f"added by the first milter (queue id {qid})")
                self.assertEqual(msg.header("X-Saw-X-First"), "no")
                pf.wait_idle()


if __name__ == "__main__":
    mmtest.run()
