#!/usr/bin/python3
# tests/integration/test_cli_dkim.py - `mailmoat dkim keygen` and `mailmoat dkim check-key` against real
# peers: the zone-file record keygen writes is loaded as-is by the test DNS server; check-key asks that
# server and says whether the record matches; opendkim-testkey (OpenDKIM's own checker, through
# libunbound) agrees about the same key and record; a message signed by dkimpy with the keygen'd
# private key verifies with dkimpy against the published record. Revoked, short, sha1-only, mismatched,
# missing records and SERVFAIL each get their own verdict and exit code.
import base64
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

import dkim  # noqa: E402  (python3-dkim, dkimpy)
from dnslib import DNSRecord, QTYPE  # noqa: E402

DOMAIN = "keys.test"
SOA = (f"$ORIGIN {DOMAIN}.\n$TTL 300\n@ IN SOA ns.{DOMAIN}. hostmaster.{DOMAIN}. 1 3600 600 86400 300\n"
       f"@ IN NS ns.{DOMAIN}.\nns IN A 127.0.0.1\n")


def txt(name, record):
    parts = [record[i:i + 250] for i in range(0, len(record), 250)]
    return f"{name}.{DOMAIN}. IN TXT " + " ".join(f'"{p}"' for p in parts) + "\n"


def der_pub(path):
    return base64.b64encode(subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"],
                                           check=True, capture_output=True).stdout).decode()


class CliDkimTest(mmtest.TestCase):
    def setUp(self):
        self.cli = mmtest.program_path("mailmoat")
        self.dir = mmtest.make_tmpdir("cli-dkim")
        self.addCleanup(mmtest.remove_tmpdir, self.dir)

    def mm(self, *args):
        return subprocess.run([self.cli, "dkim", *args], capture_output=True, text=True, timeout=60)

    def keygen(self, selector, *extra):
        r = self.mm("keygen", "--domain", DOMAIN, "--selector", selector, "--directory", self.dir, *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        key = os.path.join(self.dir, selector + ".private")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        with open(os.path.join(self.dir, selector + ".txt")) as f:
            zone = f.read()
        self.assertEqual(zone, r.stdout)
        return key, zone

    def test_keygen_records_check_key_and_opendkim_testkey(self):
        rsa_key, rsa_zone = self.keygen("rsa2048")
        big_key, big_zone = self.keygen("rsa4096", "--bits", "4096")
        ed_key, ed_zone = self.keygen("ed", "--type", "ed25519")
        other_key, _ = self.keygen("other")
        # Every string of the zone-file form is at most 255 characters (RFC 1035 §3.3).
        for zone in (rsa_zone, big_zone, ed_zone):
            for part in zone.split('"')[1::2]:
                self.assertLessEqual(len(part), 255)
        self.assertGreaterEqual(len(big_zone.split('"')[1::2]), 4)

        # Broken records built from real keys.
        short = os.path.join(self.dir, "short.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:512", "-out", short],
                       check=True, capture_output=True)
        os.chmod(short, 0o600)
        rsa_p = der_pub(rsa_key)
        zone = (SOA + rsa_zone + big_zone + ed_zone +
                txt("mismatch._domainkey", "v=DKIM1; k=rsa; p=" + der_pub(other_key)) +
                txt("revoked._domainkey", "v=DKIM1; k=rsa; p=") +
                txt("short._domainkey", "v=DKIM1; k=rsa; p=" + der_pub(short)) +
                txt("sha1._domainkey", "v=DKIM1; k=rsa; h=sha1; p=" + rsa_p) +
                txt("garbage._domainkey", "v=DKIM1; k=rsa; p=!!notbase64!!") +
                f";@servfail broken._domainkey.{DOMAIN}\n")
        with mmtest.DnsServer(zone) as dns:
            def check(selector, key):
                return self.mm("check-key", "--domain", DOMAIN, "--selector", selector, "--key", key,
                               "--dns-server", dns.address, "--timeout", "3")

            # The server parsed the zone-file form back into exactly the record keygen meant.
            q = DNSRecord.question(f"rsa2048._domainkey.{DOMAIN}", "TXT")
            ans = DNSRecord.parse(q.send("127.0.0.1", dns.port, timeout=5))
            served = b"".join(ans.rr[0].rdata.data).decode()
            self.assertEqual(served, "v=DKIM1; k=rsa; h=sha256; p=" + rsa_p)

            for selector, key in (("rsa2048", rsa_key), ("rsa4096", big_key), ("ed", ed_key)):
                r = check(selector, key)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("key OK", r.stdout)

            for selector, key, verdict, rc in (
                    ("mismatch", rsa_key, "mismatch", 1), ("revoked", rsa_key, "revoked", 1),
                    ("short", short, "too-short", 1), ("sha1", rsa_key, "sha1-only", 1),
                    ("garbage", rsa_key, "bad-record", 1), ("nosuch", rsa_key, "not-found", 1),
                    ("ed", rsa_key, "type-mismatch", 1), ("broken", rsa_key, "dns-error", 69)):
                r = check(selector, key)
                self.assertEqual(r.returncode, rc, f"{selector}: {r.stdout}{r.stderr}")
                self.assertIn(f"key NOT OK ({verdict})", r.stdout, selector)

            # OpenDKIM's checker, asking the same server through libunbound, agrees.
            unbound = os.path.join(self.dir, "unbound.conf")
            with open(unbound, "w") as f:
                # unbound answers NXDOMAIN for test. itself (RFC 6761) unless told not to.
                f.write(f"server:\n  do-not-query-localhost: no\n  local-zone: \"test.\" nodefault\n"
                        f"forward-zone:\n  name: \".\"\n  forward-addr: 127.0.0.1@{dns.port}\n")
            conf = os.path.join(self.dir, "opendkim.conf")
            with open(conf, "w") as f:
                f.write(f"Syslog no\nResolverConfiguration {unbound}\n")

            def testkey(selector, key):
                return subprocess.run(["opendkim-testkey", "-x", conf, "-d", DOMAIN, "-s", selector, "-k", key,
                                       "-vvv"], capture_output=True, text=True, timeout=60)
            for selector, key in (("rsa2048", rsa_key), ("rsa4096", big_key)):
                r = testkey(selector, key)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("key OK", r.stdout + r.stderr)
            r = testkey("mismatch", rsa_key)
            self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertNotIn("key OK", r.stdout + r.stderr)

            # dkimpy signs with the keygen'd private key; dkimpy verifies against the served record.
            def dnsfunc(name, timeout=5):
                a = DNSRecord.parse(DNSRecord.question(name.decode().rstrip("."), "TXT").send(
                    "127.0.0.1", dns.port, timeout=timeout))
                return b"".join(b"".join(rr.rdata.data) for rr in a.rr if rr.rtype == QTYPE.TXT)
            msg = (b"From: Alice <alice@keys.test>\r\nTo: bob@example.net\r\nSubject: keygen\r\n"
                   b"Date: Tue, 01 Dec 2026 01:00:00 +0000\r\n\r\nsigned with a keygen'd key\r\n")
            with open(rsa_key, "rb") as f:
                pem = f.read()
            sig = dkim.sign(msg, b"rsa2048", DOMAIN.encode(), pem, canonicalize=(b"relaxed", b"relaxed"),
                            include_headers=[b"from", b"to", b"subject", b"date"])
            self.assertTrue(dkim.verify(sig + msg, dnsfunc=dnsfunc), "dkimpy: keygen'd RSA key")
            self.assertFalse(dkim.verify(sig + msg.replace(b"keygen'd", b"altered"), dnsfunc=dnsfunc))

        # A key file others may read is reported even when DNS matches (mailmoat-dkim would refuse it).
        os.chmod(rsa_key, 0o644)
        with mmtest.DnsServer(SOA + rsa_zone) as dns:
            r = self.mm("check-key", "-d", DOMAIN, "-s", "rsa2048", "-k", rsa_key, "--dns-server", dns.address)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("group or others", r.stdout)
            self.assertIn("record OK", r.stdout)

        # keygen never overwrites an existing key.
        r = self.mm("keygen", "-d", DOMAIN, "-s", "rsa2048", "-D", self.dir)
        self.assertEqual(r.returncode, 73, r.stderr)


if __name__ == "__main__":
    mmtest.run()
