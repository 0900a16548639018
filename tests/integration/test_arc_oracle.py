#!/usr/bin/python3
# tests/integration/test_arc_oracle.py - the ARC verifier against dkimpy (python3-dkim) as the
# independent implementation, with the sealers' keys served by the test DNS server: fresh keys, chains
# of 1-3 hops sealed by dkimpy's arc_sign and broken as in tests/data/arc/make_vectors.py; for every
# message arc-tool (the engine, keys fetched through the project's ldns resolver) must give dkimpy's
# arc_verify verdict and the reason the construction implies. A SERVFAIL for one key must give
# temperror, and each key must be asked for once per message.
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

sys.path.insert(0, os.path.join(mmtest.SOURCE_DIR, "tests", "data", "arc"))
import make_vectors  # noqa: E402

TOOL = os.path.join(mmtest.BUILD_DIR, "tests", "tools", "arc-tool", "arc-tool")


zone_txt = mmtest.zone_txt


def parse_line(line):
    out = {}
    head, _, text = line.partition(" text=")
    head, _, ar = head.partition(" ar=")
    for word in head.split():
        k, _, v = word.partition("=")
        out[k] = v
    out["ar"] = ar
    out["text"] = text
    return out


class ArcOracle(mmtest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(TOOL, os.X_OK):
            raise unittest.SkipTest("arc-tool not built")
        cls.dir = mmtest.make_tmpdir("arc")
        cls.keys = make_vectors.Keys(cls.dir)
        cls.cases = make_vectors.vectors(cls.keys, long_chain=False)
        cls.files = {}
        for name, msg, _expect, _reason, _oldest in cls.cases:
            path = os.path.join(cls.dir, name + ".eml")
            with open(path, "wb") as f:
                f.write(msg)
            cls.files[name] = path
        zone = "$ORIGIN example.\n$TTL 300\n@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n"
        for name, rec in sorted(cls.keys.records.items()):
            zone += zone_txt(name[:-len(".example")], rec)
        cls.zone = zone

    @classmethod
    def tearDownClass(cls):
        mmtest.remove_tmpdir(cls.dir)

    def run_tool(self, dns, names, *extra):
        argv = [TOOL, "--dns", dns.address, "--remote-ip", "192.0.2.7", *extra] + [self.files[n] for n in names]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        lines = p.stdout.decode().splitlines()
        self.assertEqual(len(lines), len(names))
        return {n: parse_line(l) for n, l in zip(names, lines)}

    def test_verdicts_match_dkimpy(self):
        with mmtest.DnsServer(self.zone) as dns:
            names = [c[0] for c in self.cases]
            got = self.run_tool(dns, names)
            got_chunked = self.run_tool(dns, names, "--chunk", "5")
        for name, msg, expect, reason, oldest in self.cases:
            with self.subTest(vector=name):
                oracle = make_vectors.dkimpy_verdict(msg, self.keys)
                oracle = "fail" if oracle == "terminated" else oracle
                self.assertEqual(oracle, expect, "dkimpy disagrees with the construction")
                for g in (got[name], got_chunked[name]):
                    self.assertEqual(g["status"], oracle, g)
                    self.assertEqual(g["reason"], reason, g)
                    self.assertEqual(int(g["oldest_pass"]), oldest, g)
                    if expect == "pass":
                        self.assertEqual(g["ar"], f"arc=pass header.oldest-pass={oldest} smtp.remote-ip=192.0.2.7")
                    else:
                        self.assertTrue(g["ar"].startswith(f"arc={expect}"), g)
        self.assertEqual(got["chain3"]["sealers"], "hop1.example,hop2.example,hop3.example")
        self.assertEqual(got["list_footer_at_hop2"]["ams"], "fail,pass")

    def test_key_queries_and_servfail(self):
        zone = self.zone + ";@servfail arc._domainkey.hop2.example\n"
        with mmtest.DnsServer(zone) as dns:
            got = self.run_tool(dns, ["chain1"])
            self.assertEqual(got["chain1"]["status"], "pass")
            # AMS and AS of hop 1 share one key: one query.
            self.assertEqual(dns.queries().count("arc._domainkey.hop1.example TXT"), 1, dns.queries())
            got = self.run_tool(dns, ["chain3"])
            self.assertEqual(got["chain3"]["status"], "temperror", got)
            self.assertEqual(got["chain3"]["reason"], "dns_temperror")
            self.assertTrue(got["chain3"]["ar"].startswith("arc=temperror"), got)
            # A broken newest seal is a failure whatever DNS says about older keys.
            got = self.run_tool(dns, ["seal3_b_altered"])
            self.assertEqual(got["seal3_b_altered"]["status"], "fail", got)


if __name__ == "__main__":
    mmtest.run()
