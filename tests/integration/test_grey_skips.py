#!/usr/bin/python3
# tests/integration/test_grey_skips.py - the running mailmoat-grey over its socket: SASL-authenticated clients and
# trusted client certificates skip greylisting, the greylisting text carries the remaining delay, senders on
# no-auto-whitelist-senders stay greylisted from an auto-whitelisted client, and a restart keeps the counters.
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402
from test_e2e_grey import ask, state_dir  # noqa: E402

PROGRAM = "mailmoat-grey"


class GreySkips(mmtest.TestCase):
    def test_skips_text_and_sender_blacklist(self):
        sdir = state_dir()
        try:
            conf = os.path.join(sdir, "grey.conf")
            with open(conf, "w") as f:
                f.write(f"spf-keying = no\nstore = sqlite:{sdir}/grey.db\ndelay = 3s\nauto-whitelist-clients = 1\n"
                        "trusted-ccerts = 11:22:33:44\nno-auto-whitelist-senders = @bulk.test\n"
                        "greylist-text = come back in %d seconds\n")
            os.chmod(conf, 0o644)
            with mmtest.Daemon(PROGRAM, ["--config", conf], name="grey-skips") as grey:
                s = grey.socket
                self.assertEqual(ask(s, sasl_username="alice", recipient="r1@rcpt.test"), "DUNNO")
                self.assertEqual(ask(s, client_address="203.0.113.9", ccert_fingerprint="11:22:33:44",
                                     recipient="r2@rcpt.test"), "DUNNO")
                self.assertTrue(ask(s, client_address="203.0.113.9", ccert_fingerprint="11:22:33:45",
                                    recipient="r2@rcpt.test").startswith("DEFER_IF_PERMIT"))
                # The text with the remaining delay (3 s, then less on an early retry).
                self.assertEqual(ask(s, recipient="r3@rcpt.test"), "DEFER_IF_PERMIT 4.7.1 come back in 3 seconds")
                time.sleep(1.1)
                m = re.fullmatch(r"DEFER_IF_PERMIT 4\.7\.1 come back in (\d) seconds", ask(s, recipient="r3@rcpt.test"))
                self.assertIsNotNone(m)
                self.assertIn(int(m.group(1)), (1, 2))
                # A blacklisted sender's accepted retry: the client is not auto-whitelisted by it.
                self.assertTrue(ask(s, client_address="198.51.100.5", sender="n@bulk.test",
                                    recipient="r4@rcpt.test").startswith("DEFER"))
                time.sleep(3.1)  # past the delay for r4 too (asked 1.1 s after r3)
                self.assertTrue(ask(s, recipient="r3@rcpt.test", instance="m2").startswith("PREPEND X-Greylist"))
                self.assertTrue(ask(s, client_address="198.51.100.5", sender="n@bulk.test", recipient="r4@rcpt.test",
                                    instance="m3").startswith("PREPEND X-Greylist"))
                self.assertTrue(ask(s, client_address="198.51.100.5", sender="other@x.test",
                                    recipient="r5@rcpt.test").startswith("DEFER"))
                # 192.0.2.0/24 has one accepted retry: auto-whitelisted, but not for @bulk.test.
                self.assertEqual(ask(s, sender="new@x.test", recipient="r6@rcpt.test"), "DUNNO")
                self.assertTrue(ask(s, sender="n@bulk.test", recipient="r6@rcpt.test").startswith("DEFER"))
                log = grey.log()
            self.assertIn("result=pass reason=sasl", log)
            self.assertIn("to=<r2@rcpt.test> result=pass reason=ccert", log)
            self.assertIn("to=<r6@rcpt.test> result=whitelisted reason=auto-whitelist", log)
            # After a restart (SIGTERM, the last batch written) the counter is still there.
            with mmtest.Daemon(PROGRAM, ["--config", conf], name="grey-skips-2") as grey:
                self.assertEqual(ask(grey.socket, sender="later@x.test", recipient="r7@rcpt.test"), "DUNNO")
        finally:
            mmtest.remove_tmpdir(sdir)


if __name__ == "__main__":
    mmtest.run()
