#!/usr/bin/python3
# tests/integration/test_e2e_example_policy.py - mailmoat-example-policy behind a real Postfix
# (check_policy_service): REJECT reaches the client as 5xx, DEFER_IF_PERMIT as 4xx, both with the
# policy's text; DUNNO lets the message through. Over inet and unix sockets.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

PROGRAM = "mailmoat-example-policy"


class ExamplePolicyTest(mmtest.TestCase):
    def test_reject_defer_dunno(self):
        with mmtest.Sink() as sink, mmtest.Daemon(PROGRAM) as policy:
            self.assertTrue(policy.socket.startswith("inet:127.0.0.1:"))
            params = {
                "smtpd_recipient_restrictions":
                    f"check_policy_service {policy.socket}, permit_mynetworks, reject_unauth_destination",
                # A policy server that does not answer must not look like DUNNO.
                "smtpd_policy_service_default_action": "451 4.3.5 policy service unavailable",
                "smtpd_policy_service_timeout": "20s",
            }
            with mmtest.Postfix(sink.port, params) as pf:
                r = mmtest.swaks(pf, to="reject-me@example.net", subject="to a reject address")
                code, text = self.assertRejected(r, "5", "example policy rejects")
                self.assertRegex(text, r"^5\.7\.1 <reject-me@example\.net>: Recipient address rejected: "
                                       r"example policy rejects <reject-me@example\.net>$")

                r = mmtest.swaks(pf, to="defer-me@example.net", subject="to a defer address")
                code, text = self.assertRejected(r, "4", "example policy defers")
                self.assertEqual(code, "450")
                self.assertRegex(text, r"^4\.7\.1 <defer-me@example\.net>: Recipient address rejected: "
                                       r"example policy defers <defer-me@example\.net>$")

                r = mmtest.swaks(pf, to="dora@example.net", subject="to a plain address")
                qid = self.assertAccepted(r)
                [msg] = sink.wait_messages(1)
                self.assertEqual(msg.rcpt_to, ["dora@example.net"])
                self.assertEqual(msg.header("Subject"), "to a plain address")
                pf.wait_idle()
                self.assertTrue(pf.log_lines(rf"{qid}: to=<dora@example.net>.*status=sent"))
                self.assertEqual(sink.find("to a reject address") + sink.find("to a defer address"), [])
                # The rejections were Postfix acting on the policy answer, not a failure to reach it.
                self.assertEqual(pf.log_lines("policy service unavailable"), [])
                self.assertTrue(pf.log_lines(r"NOQUEUE: reject: RCPT from .*example policy rejects"))
                self.assertTrue(pf.log_lines(r"NOQUEUE: reject: RCPT from .*example policy defers"))
            log = policy.log()
            self.assertIn('to=<reject-me@example.net> action="REJECT 5.7.1 example policy rejects', log)
            self.assertIn('to=<defer-me@example.net> action="DEFER_IF_PERMIT 4.7.1 example policy defers', log)
            self.assertIn("to=<dora@example.net> action=DUNNO", log)

    def test_defer_if_permit_needs_a_permit(self):
        # DEFER_IF_PERMIT defers only when a later restriction would permit; here the client is outside
        # mynetworks, reject_unauth_destination rejects first and the deferral never shows. (Over a
        # unix socket, which smtpd - user postfix - reaches through the socket's group.)
        with mmtest.Sink() as sink, mmtest.Daemon(PROGRAM, socket="unix") as policy:
            self.assertTrue(policy.socket.startswith("unix:/"))
            params = {
                "mynetworks": "192.0.2.0/24",
                "smtpd_relay_restrictions": "",
                "smtpd_recipient_restrictions":
                    f"check_policy_service {policy.socket}, permit_mynetworks, reject_unauth_destination",
            }
            with mmtest.Postfix(sink.port, params) as pf:
                r = mmtest.swaks(pf, to="defer-me@example.net")
                self.assertRejected(r, "554", "Relay access denied")
                self.assertIsNone(r.find_reply("4"))
                self.assertEqual(sink.messages(), [])
            # The policy server was asked and did answer DEFER_IF_PERMIT.
            self.assertIn('to=<defer-me@example.net> action="DEFER_IF_PERMIT 4.7.1', policy.log())


if __name__ == "__main__":
    mmtest.run()
