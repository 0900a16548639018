#!/usr/bin/python3
# tests/integration/test_harness.py - self-test of mmtest.py without any mailmoat program: a private
# Postfix relays a swaks message and a sendmail message to the Sink, the test DNS server answers, and
# teardown leaves no process and no temporary directory behind.
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

ZONE = """\
$ORIGIN harness.test.
$TTL 300
@       IN SOA ns.harness.test. hostmaster.harness.test. 1 3600 600 86400 60
@       IN NS  ns.harness.test.
@       IN MX  10 mx.harness.test.
@       IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
mx      IN A   192.0.2.25
;@servfail broken.harness.test
"""


def dns_query(port, name, qtype):
    """A minimal stub query (stdlib only, so the test checks dnsd rather than the client library).
    Returns (rcode, answer_count)."""
    qtypes = {"A": 1, "MX": 15, "TXT": 16}
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtypes[qtype], 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(q, ("127.0.0.1", port))
        data, _ = s.recvfrom(4096)
    _id, flags, _qd, an, _ns, _ar = struct.unpack(">HHHHHH", data[:12])
    return flags & 0xF, an


def our_processes(pgids):
    """Live PIDs still in any of the given process groups."""
    return [pid for pgid in pgids for pid in mmtest.group_members(pgid)]


class HarnessTest(mmtest.TestCase):
    def test_relay_dns_and_cleanup(self):
        with mmtest.Sink() as sink, mmtest.DnsServer(ZONE) as dns, \
                mmtest.Postfix(sink.port, {
                    "mynetworks": "127.0.0.0/8",
                    "smtpd_recipient_restrictions":
                        "check_recipient_access inline:{{blocked@example.net=550 5.7.1 harness blocks this}}",
                }, check=True) as pf:
            self.assertNotIn("warning", pf.check_output)
            pgids = {pf.proc.pid, dns.proc.pid}
            dirs = [sink.dir, dns.dir, pf.dir]

            # DNS: answers, NXDOMAIN, SERVFAIL directive, query log.
            self.assertEqual(dns_query(dns.port, "harness.test", "MX"), (0, 1))
            self.assertEqual(dns_query(dns.port, "mx.harness.test", "A"), (0, 1))
            self.assertEqual(dns_query(dns.port, "nope.harness.test", "A")[0], 3)
            self.assertEqual(dns_query(dns.port, "broken.harness.test", "A")[0], 2)
            self.assertIn("harness.test MX", dns.queries())

            # SMTP through Postfix to the sink.
            r = mmtest.swaks(pf, to="alice@example.net", subject="harness one")
            qid = self.assertAccepted(r)
            self.assertIsNotNone(qid, str(r))
            self.assertReply(r, "220", "ESMTP mmtest")
            msgs = sink.wait_messages(1)
            self.assertEqual(msgs[0].rcpt_to, ["alice@example.net"])
            self.assertEqual(msgs[0].mail_from, "sender@example.org")
            self.assertEqual(msgs[0].header("Subject"), "harness one")
            self.assertIn(f"with ESMTP id {qid}", msgs[0].header("Received"))
            pf.wait_idle()
            self.assertIn("Mail queue is empty", pf.postqueue())
            self.assertTrue(pf.log_lines(rf"{qid}: to=<alice@example.net>.*status=sent"), pf.log_lines())
            self.assertTrue(all(pf.syslog_name in ln for ln in pf.log_lines(qid)))

            # Non-SMTP submission (the non_smtpd_milters path).
            pf.sendmail("From: local@mailmoat.test\nSubject: harness two\n\nbody\n",
                        "local@mailmoat.test", ["bob@example.net"])
            sink.wait_messages(2)
            two = sink.find("harness two")
            self.assertEqual(len(two), 1)
            self.assertEqual(two[0].rcpt_to, ["bob@example.net"])
            self.assertIn("local@mailmoat.test", two[0].mail_from)
            pf.wait_idle()

            # A 5xx from a restriction reaches swaks with its text; nothing is delivered.
            r = mmtest.swaks(pf, to="blocked@example.net", subject="harness three")
            self.assertRejected(r, "550", "5.7.1 <blocked@example.net>: Recipient address rejected: "
                                "harness blocks this")
            self.assertEqual(sink.find("harness three"), [])
            self.assertEqual(pf.postconf("-h", "mydestination").strip(), "")

        self.assertEqual(our_processes(pgids), [], "processes left behind")
        for d in dirs:
            self.assertFalse(os.path.exists(d), f"{d} left behind")

    def test_two_instances_in_parallel(self):
        with mmtest.Sink() as s1, mmtest.Sink() as s2, mmtest.Postfix(s1.port) as p1, \
                mmtest.Postfix(s2.port) as p2:
            self.assertNotEqual(p1.port, p2.port)
            self.assertAccepted(mmtest.swaks(p1, subject="to one"))
            self.assertAccepted(mmtest.swaks(p2, subject="to two"))
            self.assertEqual([m.header("Subject") for m in s1.wait_messages(1)], ["to one"])
            self.assertEqual([m.header("Subject") for m in s2.wait_messages(1)], ["to two"])
            self.assertEqual(p1.log_lines(p2.syslog_name), [])

    def test_cleanup_after_failure(self):
        seen = {}
        with self.assertRaises(ZeroDivisionError):
            with mmtest.Sink() as sink, mmtest.Postfix(sink.port) as pf:
                seen["pgid"], seen["dir"] = pf.proc.pid, pf.dir
                _ = 1 / 0
        self.assertEqual(our_processes({seen["pgid"]}), [])
        self.assertFalse(os.path.exists(seen["dir"]))

    def test_cleanup_after_sigterm(self):
        # A test process killed by SIGTERM (ctest's timeout, Ctrl-C) still stops what it started.
        child = textwrap.dedent("""
            import json, sys, time
            sys.path.insert(0, %r)
            import mmtest
            with mmtest.Sink() as sink, mmtest.DnsServer("") as dns, mmtest.Postfix(sink.port) as pf:
                print(json.dumps({"pgids": [pf.proc.pid, dns.proc.pid], "dirs": [sink.dir, dns.dir, pf.dir]}),
                      flush=True)
                time.sleep(60)
            """ % os.path.dirname(os.path.abspath(__file__)))
        proc = subprocess.Popen(["/usr/bin/python3", "-c", child], stdout=subprocess.PIPE, text=True)
        try:
            state = json.loads(proc.stdout.readline())
            self.assertTrue(our_processes(state["pgids"]))
            proc.send_signal(signal.SIGTERM)
            self.assertNotEqual(proc.wait(timeout=30), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(our_processes(state["pgids"]), [])
        for d in state["dirs"]:
            self.assertFalse(os.path.exists(d), f"{d} left behind")

    def test_missing_program_fails(self):
        with self.assertRaises(mmtest.TestBedError):
            with mmtest.Daemon("mailmoat-no-such-program"):
                pass


if __name__ == "__main__":
    mmtest.run()
