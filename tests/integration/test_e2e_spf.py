#!/usr/bin/python3
# tests/integration/test_e2e_spf.py - mailmoat-spf behind a real Postfix (check_policy_service): a -all
# domain is rejected with 550 5.7.23, a pass is delivered with exactly one Received-SPF header for three
# recipients, a DNS timeout gives the configured defer; plus hostile records and DNS answers through the
# policy protocol (bounded time, correct result or perm/temperror, daemon keeps serving).
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

PROGRAM = "mailmoat-spf"

ZONE = """$ORIGIN test.
$TTL 300
@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
deny IN TXT "v=spf1 -all"
allow IN TXT "v=spf1 ip4:127.0.0.0/8 -all"
split IN TXT "v=spf1 " "ip4:10.0.0.0/8 " "ip4:127.0.0.1" " -all"
explained IN TXT "v=spf1 -all exp=why.explained.test"
why.explained IN TXT "%{s} may not send from %{i}"
slow IN A 127.0.0.1
;@drop slow.test
garbage IN A 127.0.0.1
;@garbage garbage.test
loop1 IN TXT "v=spf1 include:loop2.test -all"
loop2 IN TXT "v=spf1 include:loop1.test -all"
redirloop IN TXT "v=spf1 redirect=redirloop.test"
bomb IN TXT "v=spf1 exists:%{l1r-}.%{l1r-}.%{l1r-}.%{l1r-}.%{l1r-}.%{l1r-}.%{l1r-}.%{d}.bomb.test -all"
deep IN TXT "v=spf1 include:d1.test -all"
d1 IN TXT "v=spf1 include:d2.test"
d2 IN TXT "v=spf1 include:d3.test"
d3 IN TXT "v=spf1 include:d4.test"
d4 IN TXT "v=spf1 include:d5.test"
d5 IN TXT "v=spf1 include:d6.test"
d6 IN TXT "v=spf1 include:d7.test"
d7 IN TXT "v=spf1 include:d8.test"
d8 IN TXT "v=spf1 include:d9.test"
d9 IN TXT "v=spf1 include:d10.test"
d10 IN TXT "v=spf1 include:d11.test"
d11 IN TXT "v=spf1 +all"
"""
# 500 mechanisms: ip4 terms cost no lookups, so the record is valid and the client is not in it.
ZONE += 'many IN TXT "v=spf1 " ' + " ".join('"%s "' % " ".join(f"ip4:10.{i // 250}.{i % 250}.1" for i in range(j, j + 10))
                                  for j in range(0, 500, 10)) + ' "-all"\n'
# 500 a: mechanisms: the 10-lookup limit stops it (permerror), not 500 queries.
ZONE += 'manya IN TXT "v=spf1 " ' + " ".join('"%s "' % " ".join(f"a:h{i}.test" for i in range(j, j + 10))
                                         for j in range(0, 60, 10)) + ' "-all"\n'


def policy(sock_spec, **attrs):
    host, port = sock_spec[len("inet:"):].rsplit(":", 1)
    req = {"request": "smtpd_access_policy", "protocol_state": "RCPT", "protocol_name": "ESMTP",
           "client_address": "127.0.0.1", "client_name": "localhost", "helo_name": "client.test",
           "recipient": "user@example.net"}
    req.update(attrs)
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(("".join(f"{k}={v}\n" for k, v in req.items()) + "\n").encode())
        data = b""
        while not data.endswith(b"\n\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.decode().strip()[len("action="):]


class SpfEndToEnd(mmtest.TestCase):
    def test_through_postfix(self):
        args = ["--skip-networks", "", "--helo-reject", "no-check", "--temperror-defer=yes",
                "--dns-timeout", "1", "--dns-retries", "0", "--authserv-id", "mx.test"]
        with mmtest.Sink() as sink, mmtest.DnsServer(ZONE) as dns, \
                mmtest.Daemon(PROGRAM, args + ["--dns-server", dns.address]) as spf:
            params = {
                "smtpd_recipient_restrictions":
                    f"check_policy_service {spf.socket}, permit_mynetworks, reject_unauth_destination",
                "smtpd_policy_service_default_action": "451 4.3.5 policy service unavailable",
            }
            with mmtest.Postfix(sink.port, params) as pf:
                r = mmtest.swaks(pf, sender="alice@deny.test", subject="from a -all domain")
                code, text = self.assertRejected(r, "5", "5.7.23")
                self.assertEqual(code, "550")
                self.assertIn("SPF fail - not authorized", text)

                r = mmtest.swaks(pf, sender="bob@explained.test", subject="explained")
                code, text = self.assertRejected(r, "5", "bob@explained.test may not send from 127.0.0.1")

                r = mmtest.swaks(pf, sender="carol@allow.test", to="a@example.net,b@example.net,c@example.net",
                                 subject="three recipients")
                self.assertAccepted(r)
                [msg] = sink.wait_messages(1)
                self.assertEqual(sorted(msg.rcpt_to), ["a@example.net", "b@example.net", "c@example.net"])
                received = msg.msg.get_all("Received-SPF")
                self.assertEqual(len(received), 1, received)
                self.assertTrue(received[0].startswith("pass (mx.test: domain of carol@allow.test designates 127.0.0.1"),
                                received[0])
                self.assertIn('envelope-from="carol@allow.test"', received[0])

                t0 = time.monotonic()
                r = mmtest.swaks(pf, sender="dave@slow.test", subject="dns times out")
                code, text = self.assertRejected(r, "4", "4.7.24")
                self.assertLess(time.monotonic() - t0, 15)
                self.assertEqual(sink.find("dns times out") + sink.find("from a -all domain"), [])
                self.assertEqual(pf.log_lines("policy service unavailable"), [])
            log = spf.log()
            self.assertIn("from=<alice@deny.test>", log)
            self.assertRegex(log, r"from=<carol@allow.test> to=<a@example.net> .*result=pass mechanism=ip4:127.0.0.0/8")
            # One decision line per message: later recipients of the same message are debug only.
            self.assertEqual(len([l for l in log.splitlines() if "from=<carol@allow.test>" in l and " info:" in l]), 1)

    def test_hostile_records_and_answers(self):
        args = ["--skip-networks", "", "--helo-reject", "no-check", "--dns-timeout", "1", "--dns-retries", "0",
                "--time-budget", "5s", "--header", "received-spf"]
        with mmtest.DnsServer(ZONE) as dns, mmtest.Daemon(PROGRAM, args + ["--dns-server", dns.address]) as spf:
            cases = [
                ("x@many.test", "fail"), ("x@manya.test", "permerror"), ("x@loop1.test", "permerror"),
                ("x@redirloop.test", "permerror"), ("x@deep.test", "permerror"), ("x@split.test", "pass"),
                ("a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q-r-s-t-u-v-w-x-y-z@bomb.test", "fail"),
                ("x@garbage.test", "temperror"), ("x@slow.test", "temperror"),
                ("x@" + "a" * 63 + "." + "b" * 63 + ".test", "none"),
            ]
            for i, (sender, expect) in enumerate(cases):
                t0 = time.monotonic()
                action = policy(spf.socket, sender=sender, instance=f"h{i}")
                took = time.monotonic() - t0
                result = "fail" if action.startswith("550 5.7.23") else action.split()[2] if action.startswith("PREPEND") else action
                self.assertEqual(result, expect, f"{sender}: {action}")
                self.assertLess(took, 8, f"{sender} took {took:.1f}s")
            # Malformed requests get the safe answer and the daemon goes on serving.
            host, port = spf.socket[len("inet:"):].rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=10) as s:
                s.sendall(b"this is not a policy request\n\n")
                self.assertEqual(s.recv(100), b"action=DUNNO\n\n")
            with socket.create_connection((host, int(port)), timeout=10) as s:
                s.sendall(b"sender=" + b"x" * 100000 + b"\n\n")
                self.assertTrue(s.recv(100).startswith(b"action=DUNNO"))
            self.assertTrue(policy(spf.socket, sender="x@deny.test", instance="after").startswith("550 5.7.23"))

    def test_sighup_reload(self):
        # SIGHUP re-reads the config file: a new policy takes effect, a broken file keeps the old one.
        tmp = mmtest.make_tmpdir("mm-spf-reload-")
        try:
            conf = os.path.join(tmp, "mailmoat-spf.conf")
            with open(conf, "w") as f:
                f.write("mail-from-reject = fail\nskip-networks =\n")
            os.chmod(tmp, 0o755)
            os.chmod(conf, 0o644)
            with mmtest.DnsServer(ZONE) as dns, \
                    mmtest.Daemon(PROGRAM, ["--config", conf, "--dns-server", dns.address]) as spf:
                self.assertTrue(policy(spf.socket, sender="a@deny.test", instance="r1").startswith("550 5.7.23"))
                with open(conf, "w") as f:
                    f.write("mail-from-reject = never\nskip-networks =\n")
                spf.proc.send_signal(signal.SIGHUP)
                mmtest.wait_until(lambda: "event=reloaded" in spf.log(), 10, "reload")
                self.assertTrue(policy(spf.socket, sender="a@deny.test", instance="r2").startswith("PREPEND Received-SPF: fail"))
                with open(conf, "w") as f:
                    f.write("mail-from-reject = sometimes\n")
                spf.proc.send_signal(signal.SIGHUP)
                mmtest.wait_until(lambda: "kept-old-config" in spf.log(), 10, "refused reload")
                self.assertIn("mail-from-reject", spf.log().split("kept-old-config", 1)[1].splitlines()[0])
                self.assertTrue(policy(spf.socket, sender="a@deny.test", instance="r3").startswith("PREPEND Received-SPF: fail"))
                # The config file is valid again so the harness's stop (and any --check-config) is clean.
                with open(conf, "w") as f:
                    f.write("mail-from-reject = never\nskip-networks =\n")
        finally:
            mmtest.remove_tmpdir(tmp)


if __name__ == "__main__":
    mmtest.run()
