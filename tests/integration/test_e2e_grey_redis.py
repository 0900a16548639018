#!/usr/bin/python3
# tests/integration/test_e2e_grey_redis.py - two mailmoat-grey instances sharing one real redis-server (started
# here on a free port): the first attempt seen by one, the retry accepted by the other; Redis going away
# mid-run gives the store-failure action at once while others are served, and greylisting resumes after.
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402
from test_e2e_grey import ask, no_spf_config  # noqa: E402

PROGRAM = "mailmoat-grey"


class GreyRedis(mmtest.TestCase):
    def test_two_instances_share_one_redis(self):
        conf_dir = mmtest.make_tmpdir("grey-conf")
        try:
            with mmtest.Redis() as redis:
                store = f"redis://127.0.0.1:{redis.port}/2"
                args = ["--delay", "2s", *no_spf_config(conf_dir), "--store", store,
                        "--whitelist-recipient-entries", "postmaster@"]
                with mmtest.Daemon(PROGRAM, args, name="grey-a") as a, mmtest.Daemon(PROGRAM, args, name="grey-b") as b:
                    first = ask(a.socket, recipient="shared@rcpt.test", instance="a1")
                    self.assertTrue(first.startswith("DEFER_IF_PERMIT 4.7.1"), first)
                    early = ask(b.socket, recipient="shared@rcpt.test", instance="b1")
                    self.assertTrue(early.startswith("DEFER_IF_PERMIT 4.7.1"), early)
                    time.sleep(2.2)
                    retry = ask(b.socket, recipient="shared@rcpt.test", instance="b2")
                    self.assertTrue(retry.startswith("PREPEND X-Greylist: delayed"), retry)
                    self.assertEqual(ask(a.socket, recipient="shared@rcpt.test", instance="a2"), "DUNNO")

                    # Redis goes away mid-run: the safe action (default DUNNO) at once, logged; others served.
                    redis.stop()
                    for inst, d in (("x1", a), ("x2", b), ("x3", a)):
                        t0 = time.monotonic()
                        self.assertEqual(ask(d.socket, recipient=f"new-{inst}@rcpt.test", instance=inst), "DUNNO")
                        self.assertLess(time.monotonic() - t0, 2)
                    self.assertEqual(ask(a.socket, recipient="postmaster@rcpt.test"), "DUNNO")

                    # Redis is back (same port, empty): greylisting resumes once the backoff has passed.
                    redis2 = mmtest.Redis(redis.port)
                    redis2.start()
                    try:
                        got = mmtest.wait_until(
                            lambda: ask(a.socket, recipient="after@rcpt.test").startswith("DEFER_IF_PERMIT 4.7.1"),
                            15, "greylisting to resume after Redis came back", interval=0.5)
                        self.assertTrue(got)
                    finally:
                        redis2.stop()
                    log_a, log_b = a.log(), b.log()
                self.assertIn("to=<shared@rcpt.test> result=greylisted reason=new", log_a)
                self.assertIn("to=<shared@rcpt.test> result=greylisted reason=early-retry", log_b)
                self.assertIn("to=<shared@rcpt.test> result=pass reason=retry", log_b)
                self.assertRegex(log_a, r"warning: .*to=<new-x1@rcpt.test> result=tempfail reason=\"?redis: .* store=redis://")
                self.assertIn("to=<new-x2@rcpt.test> result=tempfail", log_b)
        finally:
            mmtest.remove_tmpdir(conf_dir)


if __name__ == "__main__":
    mmtest.run()
