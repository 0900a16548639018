#!/usr/bin/python3
# tests/integration/test_e2e_grey.py - mailmoat-grey behind a real Postfix (450 4.7.1, delivered retry with one
# X-Greylist for three recipients, whitelisted recipient at once), SPF keying over a test DNS zone, state
# across SIGTERM and kill -9 under load, 50 concurrent clients on one new triplet, malformed requests and a
# silent client while others are served, SIGHUP reload (new text, store kept; a bad config keeps the old).
import os
import pwd
import re
import signal
import socket
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

PROGRAM = "mailmoat-grey"

ZONE = """$ORIGIN test.
$TTL 300
@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
pool IN TXT "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8:77::/48 -all"
nospf IN A 192.0.2.1
"""


def state_dir():
    """A directory for the store that outlives one daemon run (restart tests), writable by the daemon."""
    d = mmtest.make_tmpdir("grey-state")
    if os.geteuid() == 0:
        user, _ = mmtest.daemon_account()
        pw = pwd.getpwnam(user)
        os.chown(d, pw.pw_uid, pw.pw_gid)
    return d


def no_spf_config(d):
    """A config file turning SPF keying off, as an admin would write it (so the config-file path of a
    boolean is exercised too). Returns ["--config", path]."""
    path = os.path.join(d, "grey.conf")
    with open(path, "w") as f:
        f.write("spf-keying = no\n")
    os.chmod(path, 0o644)
    return ["--config", path]


def ask(sock_spec, timeout=30, **attrs):
    """One policy request on a fresh connection; returns the action text."""
    host, port = sock_spec[len("inet:"):].rsplit(":", 1)
    req = {"request": "smtpd_access_policy", "protocol_state": "RCPT", "protocol_name": "ESMTP",
           "client_address": "192.0.2.10", "client_name": "unknown", "helo_name": "client.test",
           "sender": "alice@sender.test", "recipient": "bob@rcpt.test", "instance": "i1"}
    req.update(attrs)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(("".join(f"{k}={v}\n" for k, v in req.items()) + "\n").encode())
        data = b""
        while not data.endswith(b"\n\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    text = data.decode()
    if not text.startswith("action="):
        raise AssertionError(f"no answer: {text!r}")
    return text.strip()[len("action="):]


class GreyEndToEnd(mmtest.TestCase):
    def test_through_postfix(self):
        sdir = state_dir()
        try:
            args = ["--delay", "2s", *no_spf_config(sdir), "--store", f"sqlite:{sdir}/grey.db",
                    "--whitelist-recipient-entries", "postmaster@", "--hostname", "mx.test"]
            with mmtest.Sink() as sink, mmtest.Daemon(PROGRAM, args) as grey:
                params = {
                    "smtpd_recipient_restrictions":
                        f"check_policy_service {grey.socket}, permit_mynetworks, reject_unauth_destination",
                    "smtpd_policy_service_default_action": "451 4.3.5 policy service unavailable",
                }
                with mmtest.Postfix(sink.port, params) as pf:
                    rcpts = "a@example.net,b@example.net,c@example.net"
                    r = mmtest.swaks(pf, sender="carol@sender.test", to=rcpts, subject="first try")
                    code, text = self.assertRejected(r, "4", "4.7.1")
                    self.assertEqual(code, "450")
                    self.assertIn("Greylisted, please try again in 2 seconds", text)

                    r = mmtest.swaks(pf, sender="dave@sender.test", to="postmaster@example.net", subject="whitelisted")
                    self.assertAccepted(r)

                    time.sleep(2.5)
                    r = mmtest.swaks(pf, sender="carol@sender.test", to=rcpts, subject="retry")
                    self.assertAccepted(r)
                    msgs = sink.wait_messages(2)
                    [retry] = [m for m in msgs if m.msg["Subject"] == "retry"]
                    self.assertEqual(sorted(retry.rcpt_to), ["a@example.net", "b@example.net", "c@example.net"])
                    xg = retry.msg.get_all("X-Greylist")
                    self.assertEqual(len(xg), 1, xg)
                    m = re.match(r"^delayed (\d+) seconds by mailmoat-grey-\S+ at mx.test; ", xg[0])
                    self.assertTrue(m, xg[0])
                    self.assertGreaterEqual(int(m.group(1)), 2)
                    [white] = [m for m in msgs if m.msg["Subject"] == "whitelisted"]
                    self.assertIsNone(white.msg.get_all("X-Greylist"))
                    self.assertEqual(sink.find("first try"), [])
                    self.assertEqual(pf.log_lines("policy service unavailable"), [])
                log = grey.log()
            self.assertIn("result=whitelisted reason=whitelist-recipients:postmaster@", log)
            self.assertRegex(log, r"from=<carol@sender.test> to=<a@example.net> result=greylisted reason=new "
                                  r"key=network key_client=127.0.0.0/24")
            self.assertRegex(log, r"to=<a@example.net> result=pass reason=retry .*delayed=\d+ action=PREPEND")
        finally:
            mmtest.remove_tmpdir(sdir)

    def test_spf_keying(self):
        sdir = state_dir()
        try:
            args = ["--delay", "1s", "--store", f"sqlite:{sdir}/grey.db", "--dns-timeout", "2", "--dns-retries", "0"]
            with mmtest.DnsServer(ZONE) as dns, mmtest.Daemon(PROGRAM, args + ["--dns-server", dns.address]) as grey:
                a = ask(grey.socket, client_address="192.0.2.10", sender="news@pool.test", instance="s1")
                self.assertTrue(a.startswith("DEFER_IF_PERMIT 4.7.1"), a)
                b = ask(grey.socket, client_address="198.51.100.9", sender="x@nospf.test", instance="s2")
                self.assertTrue(b.startswith("DEFER_IF_PERMIT 4.7.1"), b)
                time.sleep(1.5)
                # The pool's other, unrelated network: same SPF-authenticated sender, so the retry passes.
                a = ask(grey.socket, client_address="2001:db8:77:1::25", sender="news@pool.test", instance="s3")
                self.assertTrue(a.startswith("PREPEND X-Greylist: delayed"), a)
                # No SPF pass: another network is another triplet.
                b = ask(grey.socket, client_address="203.0.113.9", sender="x@nospf.test", instance="s4")
                self.assertTrue(b.startswith("DEFER_IF_PERMIT 4.7.1"), b)
                log = grey.log()
            self.assertIn("from=<news@pool.test> to=<bob@rcpt.test> result=greylisted reason=new key=spf key_client=pool.test", log)
            self.assertIn("client=2001:db8:77:1::25 from=<news@pool.test> to=<bob@rcpt.test> result=pass reason=retry "
                          "key=spf key_client=pool.test", log)
            self.assertIn("client=203.0.113.9 from=<x@nospf.test> to=<bob@rcpt.test> result=greylisted reason=new "
                          "key=network key_client=203.0.113.0/24", log)
        finally:
            mmtest.remove_tmpdir(sdir)

    def test_state_survives_sigterm_and_kill9(self):
        sdir = state_dir()
        # No auto-whitelisting here: every re-asked triplet must pass on its own stored entry.
        args = ["--delay", "2s", *no_spf_config(sdir), "--auto-whitelist-clients", "0", "--store", f"sqlite:{sdir}/grey.db"]
        try:
            # SIGTERM: a clean stop (the harness checks exit status 0).
            with mmtest.Daemon(PROGRAM, args) as grey:
                self.assertTrue(ask(grey.socket, recipient="term@rcpt.test").startswith("DEFER_IF_PERMIT"))
            # kill -9 during a load run: every triplet answered before the kill was stored.
            answered = []
            grey = mmtest.Daemon(PROGRAM, args, name="grey-kill")
            grey.start()
            try:
                stop = threading.Event()

                def load(worker):
                    n = 0
                    while not stop.is_set():
                        rcpt = f"w{worker}-{n}@rcpt.test"
                        try:
                            a = ask(grey.socket, timeout=5, recipient=rcpt, client_address=f"10.{worker}.0.1")
                        except (OSError, AssertionError):
                            return
                        if a.startswith("DEFER_IF_PERMIT"):
                            answered.append((worker, rcpt))
                        n += 1

                threads = [threading.Thread(target=load, args=(w,)) for w in range(4)]
                for t in threads:
                    t.start()
                time.sleep(1.5)
                grey.proc.kill()   # SIGKILL to the daemon we started, mid-load
                grey.proc.wait()
                stop.set()
                for t in threads:
                    t.join()
            finally:
                grey.stop()
            self.assertGreater(len(answered), 50)
            sys.stderr.write(f"kill -9 test: {len(answered)} triplets answered before the kill\n")
            time.sleep(2.1)
            with mmtest.Daemon(PROGRAM, args, name="grey-after") as grey:
                mmtest.wait_until(lambda: "event=started" in grey.log(), 10, "the restarted daemon's start line")
                # Same answers as before the crash: known triplets pass once the delay is over.
                a = ask(grey.socket, recipient="term@rcpt.test", instance="t2")
                self.assertTrue(a.startswith("PREPEND X-Greylist"), a)
                for worker, rcpt in answered:
                    a = ask(grey.socket, recipient=rcpt, client_address=f"10.{worker}.0.1", instance=rcpt)
                    self.assertTrue(a.startswith("PREPEND X-Greylist"), f"{rcpt}: {a}")
                log = grey.log()
            self.assertEqual(len(re.findall(r"reason=new", log)), 0, "a triplet answered before kill -9 was lost")
            db = sqlite3.connect(f"{sdir}/grey.db")
            try:
                self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
                self.assertEqual(db.execute("PRAGMA journal_mode").fetchone()[0], "wal")
            finally:
                db.close()
        finally:
            mmtest.remove_tmpdir(sdir)

    def test_concurrent_and_hostile_clients(self):
        sdir = state_dir()
        args = ["--delay", "1h", *no_spf_config(sdir), "--store", f"sqlite:{sdir}/grey.db",
                "--greylist-text", "Greylisted", "--idle-timeout", "30s"]
        try:
            with mmtest.Daemon(PROGRAM, args) as grey:
                host, port = grey.socket[len("inet:"):].rsplit(":", 1)
                # A silent client and one that stops mid-request hold their connections meanwhile.
                silent = socket.create_connection((host, int(port)), timeout=10)
                partial = socket.create_connection((host, int(port)), timeout=10)
                partial.sendall(b"request=smtpd_access_policy\nsender=half")
                try:
                    answers = []
                    barrier = threading.Barrier(50)
                    lock = threading.Lock()

                    def client():
                        barrier.wait()
                        a = ask(grey.socket, sender="same@sender.test", recipient="same@rcpt.test",
                                client_address="198.51.100.7")
                        with lock:
                            answers.append(a)

                    threads = [threading.Thread(target=client) for _ in range(50)]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                    self.assertEqual(len(answers), 50)
                    self.assertEqual(set(answers), {"DEFER_IF_PERMIT 4.7.1 Greylisted"})

                    # Malformed and oversized requests: the safe answer, and the daemon serves others.
                    with socket.create_connection((host, int(port)), timeout=10) as s:
                        s.sendall(b"this is not a policy request\n\n")
                        self.assertEqual(s.recv(100), b"action=DUNNO\n\n")
                    with socket.create_connection((host, int(port)), timeout=10) as s:
                        s.sendall(b"sender=" + b"x" * 100000 + b"\n\n")
                        self.assertTrue(s.recv(100).startswith(b"action=DUNNO"))
                    a = ask(grey.socket, recipient="other@rcpt.test", client_address="198.51.100.7")
                    self.assertEqual(a, "DEFER_IF_PERMIT 4.7.1 Greylisted")
                finally:
                    silent.close()
                    partial.close()
                log = grey.log()
            # Exactly one of the 50 created the entry; the others saw it.
            new = [ln for ln in log.splitlines() if "to=<same@rcpt.test>" in ln and "reason=new" in ln]
            early = [ln for ln in log.splitlines() if "to=<same@rcpt.test>" in ln and "reason=early-retry" in ln]
            self.assertEqual((len(new), len(early)), (1, 49))
        finally:
            mmtest.remove_tmpdir(sdir)

    def test_sighup_reload(self):
        sdir = state_dir()
        conf = os.path.join(sdir, "grey.conf")

        def write_conf(text):
            with open(conf, "w") as f:
                f.write("spf-keying = no\n" + text)
            os.chmod(conf, 0o644)

        try:
            write_conf("greylist-text = first text\n")
            with mmtest.Daemon(PROGRAM, ["--config", conf, "--store", f"sqlite:{sdir}/grey.db"]) as grey:
                self.assertEqual(ask(grey.socket, recipient="a@rcpt.test"), "DEFER_IF_PERMIT 4.7.1 first text")
                write_conf("greylist-text = second text\n")
                grey.proc.send_signal(signal.SIGHUP)
                mmtest.wait_until(lambda: "event=reloaded" in grey.log(), 10, "the reload")
                # The store stayed open: the same triplet is an early retry, answered with the new text.
                self.assertEqual(ask(grey.socket, recipient="a@rcpt.test"), "DEFER_IF_PERMIT 4.7.1 second text")
                write_conf("delay = forever\n")
                grey.proc.send_signal(signal.SIGHUP)
                mmtest.wait_until(lambda: "kept-old-config" in grey.log(), 10, "the refused reload")
                self.assertEqual(ask(grey.socket, recipient="b@rcpt.test"), "DEFER_IF_PERMIT 4.7.1 second text")
                log = grey.log()
            self.assertEqual(len(re.findall(r"to=<a@rcpt.test> result=greylisted reason=early-retry", log)), 1)
        finally:
            mmtest.remove_tmpdir(sdir)

    def test_store_failure_action(self):
        sdir = state_dir()
        args = [*no_spf_config(sdir), "--store", f"sqlite:{sdir}/grey.db",
                "--store-failure-action", "DEFER_IF_PERMIT 4.3.0 greylisting store unavailable"]
        try:
            with mmtest.Daemon(PROGRAM, args) as grey:
                self.assertTrue(ask(grey.socket, recipient="a@rcpt.test").startswith("DEFER_IF_PERMIT 4.7.1"))
                # Another process holds the write lock past the daemon's busy timeout (2 s): the store
                # cannot answer, so the configured action comes back instead of a hang or a guess.
                db = sqlite3.connect(f"{sdir}/grey.db", isolation_level=None, timeout=5)
                try:
                    db.execute("BEGIN EXCLUSIVE")
                    t0 = time.monotonic()
                    a = ask(grey.socket, recipient="b@rcpt.test", client_address="203.0.113.1")
                    self.assertEqual(a, "DEFER_IF_PERMIT 4.3.0 greylisting store unavailable")
                    self.assertLess(time.monotonic() - t0, 5)
                finally:
                    db.execute("ROLLBACK")
                    db.close()
                # The store is back: greylisting resumes.
                a = ask(grey.socket, recipient="c@rcpt.test", client_address="203.0.113.1")
                self.assertTrue(a.startswith("DEFER_IF_PERMIT 4.7.1"), a)
                log = grey.log()
            self.assertRegex(log, r"warning: .*result=tempfail .*store=sqlite:")
        finally:
            mmtest.remove_tmpdir(sdir)


if __name__ == "__main__":
    mmtest.run()
