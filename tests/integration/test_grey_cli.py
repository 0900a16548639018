#!/usr/bin/python3
# tests/integration/test_grey_cli.py - `mailmoat grey` beside a running mailmoat-grey, on its SQLite store (found
# through the daemon's config file) and on a real redis-server started here: list/search shows what the daemon
# stored, a manual whitelist entry is honoured by the daemon without a reload, a deleted entry is greylisted
# anew by the daemon, stats counts what is there.
import itertools
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402
from test_e2e_grey import ask, state_dir  # noqa: E402

PROGRAM = "mailmoat-grey"


def cli(*args, expect=0):
    p = subprocess.run([mmtest.program_path("mailmoat"), "grey", *args], capture_output=True, text=True, timeout=30)
    if p.returncode != expect:
        raise AssertionError(f"mailmoat grey {' '.join(args)}: exit {p.returncode}, expected {expect}\n"
                             f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p.stdout


class GreyCli(mmtest.TestCase):
    def exercise(self, grey, where):
        """The same checks on either store; `where` is the CLI's store selection (--config or --store)."""
        sock = grey.socket
        self.assertTrue(ask(sock, recipient="bob@rcpt.test", instance="a1").startswith("DEFER_IF_PERMIT 4.7.1"))
        self.assertTrue(ask(sock, client_address="2001:db8:5::9", sender="carol@other.test",
                            recipient="dan@rcpt.test", instance="a2").startswith("DEFER_IF_PERMIT"))
        # list and search: the daemon's entries (new ones are committed before they are answered).
        out = cli(*where, "list")
        self.assertIn("network\t192.0.2.0/24\talice@sender.test\tbob@rcpt.test\t", out)
        self.assertIn("network\t2001:db8:5::/64\tcarol@other.test\tdan@rcpt.test\t", out)
        out = cli(*where, "list", "--client", "2001:db8:5::1")
        self.assertIn("carol@other.test", out)
        self.assertNotIn("alice@sender.test", out)
        self.assertNotIn("carol@other.test", cli(*where, "list", "--domain", "sender.test"))

        # A manual whitelist entry: the running daemon honours it within its refresh interval.
        self.assertTrue(ask(sock, client_address="198.51.100.7", recipient="m1@rcpt.test").startswith("DEFER"))
        cli(*where, "whitelist", "--client", "198.51.100.0/24")
        cli(*where, "whitelist", "--sender", "@friends.test")
        self.assertIn("client\t198.51.100.0/24\t", cli(*where, "whitelist", "--list"))
        # Each attempt asks for a new recipient: on a slow machine the same triplet, asked again and
        # again until the refresh, would outlive the delay and pass, and the counts below would change.
        n = itertools.count()
        self.assertTrue(mmtest.wait_until(
            lambda: ask(sock, client_address="198.51.100.8", recipient=f"m2-{next(n)}@rcpt.test") == "DUNNO", 10,
            "the daemon to honour the manual client whitelist", interval=0.3))
        # (Each whitelist command may land on either side of one of the daemon's refreshes: wait for both.)
        self.assertTrue(mmtest.wait_until(
            lambda: ask(sock, client_address="192.0.2.50", sender="x@mx.friends.test",
                        recipient=f"m3-{next(n)}@rcpt.test") == "DUNNO", 10,
            "the daemon to honour the manual sender whitelist", interval=0.3))
        self.assertTrue(ask(sock, client_address="192.0.2.50", sender="x@enemies.test",
                            recipient="m3@rcpt.test").startswith("DEFER"))
        cli(*where, "whitelist", "--client", "198.51.100.0/24", "--remove")
        self.assertTrue(mmtest.wait_until(
            lambda: ask(sock, client_address="198.51.100.9", recipient="m4@rcpt.test").startswith("DEFER"), 10,
            "the daemon to drop the removed whitelist entry", interval=0.3))

        # Delete: after the delay the triplet would pass; deleted, the daemon greylists it anew.
        time.sleep(2.2)
        self.assertEqual(cli(*where, "delete", "--sender", "alice@sender.test", "--recipient", "bob@"),
                         "deleted 1 entry\n")
        time.sleep(1.0)  # the daemon applies the store's change log every 0.5 s (SQLite)
        a = ask(sock, recipient="bob@rcpt.test", instance="a3")
        self.assertTrue(a.startswith("DEFER_IF_PERMIT"), a)
        # The other triplet, not deleted, passes.
        a = ask(sock, client_address="2001:db8:5::9", sender="carol@other.test", recipient="dan@rcpt.test",
                instance="a4")
        self.assertTrue(a.startswith("PREPEND X-Greylist"), a)

        time.sleep(0.3)  # SQLite: updates of known entries reach the file within sqlite-flush-ms
        stats = cli(*where, "stats")
        self.assertIn("entries-passed\t1\n", stats)
        self.assertIn("manual-whitelist\t1\n", stats)
        log = grey.log()
        self.assertRegex(log, r"to=<m2-\d+@rcpt.test> result=whitelisted reason=manual-whitelist:client:198.51.100.0/24")
        self.assertIn("to=<bob@rcpt.test> result=greylisted reason=new", log.split("to=<m4@rcpt.test>")[-1])
        # Nothing matching, a store that is not there: failures, not silent success.
        cli(*where, "delete", "--sender", "nobody@nowhere.test", expect=1)

    def test_cli_beside_daemon_on_sqlite(self):
        sdir = state_dir()
        try:
            conf = os.path.join(sdir, "grey.conf")
            with open(conf, "w") as f:
                f.write(f"spf-keying = no\nstore = sqlite:{sdir}/grey.db\ndelay = 2s\n")
            os.chmod(conf, 0o644)
            with mmtest.Daemon(PROGRAM, ["--config", conf], name="grey-cli") as grey:
                self.exercise(grey, ["--config", conf])
        finally:
            mmtest.remove_tmpdir(sdir)

    def test_cli_beside_daemon_on_redis(self):
        cdir = mmtest.make_tmpdir("grey-cli-conf")
        try:
            with mmtest.Redis() as redis:
                store = f"redis://127.0.0.1:{redis.port}/3"
                conf = os.path.join(cdir, "grey.conf")
                with open(conf, "w") as f:
                    f.write("spf-keying = no\ndelay = 2s\n")
                os.chmod(conf, 0o644)
                with mmtest.Daemon(PROGRAM, ["--config", conf, "--store", store], name="grey-cli-redis") as grey:
                    self.exercise(grey, ["--store", store])
                redis.stop()
                err = subprocess.run([mmtest.program_path("mailmoat"), "grey", "--store", store, "stats"],
                                     capture_output=True, text=True, timeout=30)
                self.assertEqual(err.returncode, 69, err.stderr)  # EX_UNAVAILABLE
        finally:
            mmtest.remove_tmpdir(cdir)


if __name__ == "__main__":
    mmtest.run()
