#!/usr/bin/python3
# tests/integration/test_dkim_bad_input.py - mailmoat-dkim behind real Postfix instances with a 50 MB message
# and messages with 10,000 and 20,000 header fields, signing and verifying: clear logged results (signed;
# dkim=pass; over the verifier's header bound a permerror), no crash, and peak RSS far below the message size.
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402
from dkim_corpus_support import *  # noqa: E402,F401,F403

import base64  # noqa: E402
import hashlib  # noqa: E402

import dkim  # noqa: E402  (python3-dkim, dkimpy)

SIGNED = ["from", "to", "subject", "date", "message-id"]


def fast_sign(msg, key_path, selector="rsa"):
    """An rsa-sha256 simple/simple DKIM-Signature made with hashlib and `openssl dgst` (RFC 6376 §3.7):
    dkimpy's pure-Python canonicalization needs about a minute for 50 MB on a loaded machine. The
    result is checked against dkimpy on a small message in the test."""
    head, body = msg.split(b"\r\n\r\n", 1)
    body = body.rstrip(b"\r\n") + b"\r\n"  # §3.4.3: trailing empty lines removed, one CRLF kept
    bh = base64.b64encode(hashlib.sha256(body).digest()).decode()
    fields = re.findall(rb"(?ms)^([A-Za-z0-9-]+):.*?\r\n(?![ \t])", head + b"\r\n")
    raw = {}  # each signed field occurs once in these messages
    for m in re.finditer(rb"(?ms)^([A-Za-z0-9-]+):.*?\r\n(?![ \t])", head + b"\r\n"):
        raw.setdefault(m.group(1).decode().lower(), m.group(0))
    assert len(fields) >= len(SIGNED)
    sig = (f"DKIM-Signature: v=1; a=rsa-sha256; c=simple/simple; d={DOMAIN}; s={selector};\r\n"
           f"\th={':'.join(SIGNED)}; bh={bh};\r\n\tb=").encode()
    data = b"".join(raw[h] for h in SIGNED) + sig
    b = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_path], input=data, capture_output=True,
                       check=True).stdout
    return sig + base64.b64encode(b) + b"\r\n" + msg


class DkimBadInputTest(CorpusTestCase):
    def test_50mb_message_and_10000_and_20000_headers(self):
        # 50 MB of base64 lines, signed (from an internal client) and, signed beforehand, verified.
        line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3\r\n"
        big_body = line * (50 * 1024 * 1024 // len(line))
        big = (b"From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: fifty megabytes\r\n"
               b"Date: Tue, 01 Dec 2026 01:00:00 +0000\r\nMessage-ID: <big50@example.org>\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + big_body)
        def many_headers(total):
            # `total` header fields counting the DKIM-Signature added for the verifier.
            return (b"From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: %d headers\r\n"
                    b"Date: Tue, 01 Dec 2026 01:00:00 +0000\r\nMessage-ID: <many%d@example.org>\r\n" % (total, total) +
                    b"".join(b"X-Filler-%d: value %d\r\n" % (i, i) for i in range(total - 6)) + b"\r\nbody\r\n")
        many = many_headers(10000)
        too_many = many_headers(20000)
        t_build = time.monotonic()
        big_signed, many_signed, too_many_signed = (fast_sign(m, self.rsa) for m in (big, many, too_many))
        print(f"messages built and signed in {time.monotonic() - t_build:.1f} s", flush=True)
        # The hand-made signature is what dkimpy, an independent verifier, accepts (and rejects altered).
        small = many_headers(50)
        records = {k.encode() + b".": v.encode() for k, v in self.records.items()}
        self.assertTrue(dkim.verify(fast_sign(small, self.rsa), dnsfunc=lambda n, timeout=5: records.get(n, b"")))
        self.assertFalse(dkim.verify(fast_sign(small, self.rsa).replace(b"Subject: 50 headers", b"Subject: 51 headers"),
                                     dnsfunc=lambda n, timeout=5: records.get(n, b"")))
        sink_port = mmtest.free_port()
        sink = mmtest.spawn(["smtp-sink", "-u", "postfix", "-c", f"127.0.0.1:{sink_port}", "16"], "smtp-sink",
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(mmtest.stop_process, sink, "smtp-sink")
        mmtest.wait_until(lambda: mmtest.can_connect(f"inet:127.0.0.1:{sink_port}"), 10, "smtp-sink")
        # In a sanitizer build AddressSanitizer keeps freed blocks in a quarantine (256 MB by default),
        # so RSS would grow with every body chunk streamed through; a small quarantine keeps the bound
        # about our memory use, not ASan's. Release builds ignore the variable.
        asan = os.environ.get("ASAN_OPTIONS", "")
        os.environ["ASAN_OPTIONS"] = ((asan + ":" if asan else "") +
                                      "quarantine_size_mb=1:thread_local_quarantine_size_kb=64")
        self.addCleanup(os.environ.__setitem__, "ASAN_OPTIONS", asan)
        with mmtest.DnsServer(zone_of(self.records)) as dns, self.mailmoat_signer() as signer, \
                mmtest.Daemon("mailmoat-dkim", ["--mode", "v", "--dns-server", dns.address, "--authserv-id",
                                                AUTHSERV, "--config", ""], name="verifier") as verifier, \
                mmtest.Postfix(sink_port, dict(BIG_PARAMS, smtpd_milters=signer.socket,
                                               milter_default_action="tempfail")) as pf_sign, \
                mmtest.Postfix(sink_port, dict(BIG_PARAMS, smtpd_milters=verifier.socket,
                                               milter_default_action="tempfail")) as pf_verify:
            rss0 = {n: rss_peak_kib(d.proc.pid) for n, d in (("signer", signer), ("verifier", verifier))}
            t0 = time.monotonic()
            send(pf_sign.port, big)
            send(pf_sign.port, many)
            send(pf_verify.port, big_signed)
            send(pf_verify.port, many_signed)
            send(pf_verify.port, too_many_signed)
            for pf, n in ((pf_sign, 2), (pf_verify, 3)):
                pf.wait_idle(300)
                self.assertEqual(len(pf.log_lines(r"status=sent")), n, pf.log_lines(r"status="))
            elapsed = time.monotonic() - t0
            # Clear, logged results: both big messages signed (rsa + ed) and verified as pass.
            slog, vlog = signer.log(), verifier.log()
            signed = [l for l in slog.splitlines() if "action=sign" in l]
            self.assertEqual(len(signed), 2, slog[-3000:])
            for l in signed:
                self.assertIn("signatures=example.org/rsa/rsa-sha256,example.org/ed/ed25519-sha256", l)
            verified = [l for l in vlog.splitlines() if "action=verify" in l]
            self.assertEqual(len(verified), 3, vlog[-3000:])
            for l in verified[:2]:
                self.assertRegex(l, r"dkim=\S*example\.org/rsa=pass", l)
            # Over the verifier's bound of 10,000 header fields: a permerror, not a crash or a pass.
            self.assertRegex(verified[2], r"dkim=\S*example\.org/rsa=permerror", verified[2])
            for n, d in (("signer", signer), ("verifier", verifier)):
                peak = rss_peak_kib(d.proc.pid)
                print(f"{n}: peak RSS {rss0[n]} KiB at start, {peak} KiB after 50 MB + 10,000 headers "
                      f"({elapsed:.1f} s)", flush=True)
                # The body is hashed as it streams: memory must stay far below the 50 MB message.
                self.assertLess(peak, 48 * 1024, f"{n} peak RSS {peak} KiB")
                self.assertIsNone(d.proc.poll(), f"{n} died")

if __name__ == "__main__":
    mmtest.run()
