#!/usr/bin/python3
# tests/integration/test_dmarc_check.py - the real `mailmoat dmarc check` against a real DNS server
# (tests/support/dnsd.py): its report and exit code, and the queries the server actually saw (RFC 9989
# §4.10 walk, 8-query bound, psd=y, np=, SERVFAIL). Also an oracle check of psl-mode organisational
# domains against python3-publicsuffix2, an independent implementation of the Public Suffix List.
import concurrent.futures
import os
import random
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

PSL_FILE = "/usr/share/publicsuffix/public_suffix_list.dat"

ZONE = """$ORIGIN test.
$TTL 300
@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
_dmarc.example IN TXT "v=DMARC1; p=reject; sp=quarantine; np=reject; " "rua=mailto:agg@example.test"
mail.example IN A 192.0.2.1
_dmarc.walk IN TXT "v=DMARC1; p=none; rua=mailto:r@walk.test"
_dmarc.bank IN TXT "v=DMARC1; p=reject; sp=quarantine; psd=y"
_dmarc.giant.bank IN TXT "v=DMARC1; p=none"
_dmarc.invalid IN TXT "v=DMARC1; p=maybe"
_dmarc.twice IN TXT "v=DMARC1; p=none"
_dmarc.twice IN TXT "v=DMARC1; p=reject"
_dmarc.testing IN TXT "v=DMARC1; p=reject; t=y"
;@servfail _dmarc.broken.test
"""


def run_check(dns, *args):
    argv = [mmtest.program_path("mailmoat"), "dmarc", "check", "--dns-server", dns.address, "--timeout", "2"]
    argv += list(args)
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def field(out, name):
    m = re.search(r"^" + re.escape(name) + r":\s+(.*)$", out, re.M)
    return m.group(1) if m else None


class DmarcCheck(mmtest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dns = mmtest.DnsServer(ZONE)
        cls.dns.start()

    @classmethod
    def tearDownClass(cls):
        cls.dns.stop()

    def check(self, *args):
        before = len(self.dns.queries())
        rc, out, err = run_check(self.dns, *args)
        seen = [q.split()[0].rstrip(".").lower() + " " + q.split()[1] for q in self.dns.queries()[before:]]
        return rc, out, err, seen

    def test_subdomain_walk_finds_org_policy(self):
        rc, out, err, seen = self.check("a.mail.example.test")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("a.mail.example.test A", seen)  # np= applies only if the domain does not exist
        self.assertEqual([s for s in seen if s.endswith(" TXT")], ["_dmarc.a.mail.example.test TXT", "_dmarc.mail.example.test TXT",
                                "_dmarc.example.test TXT", "_dmarc.test TXT"])
        self.assertEqual(field(out, "query 3"), "_dmarc.example.test TXT -> record")
        self.assertIn('record:                 _dmarc.example.test "v=DMARC1; p=reject; sp=quarantine; np=reject; '
                      'rua=mailto:agg@example.test"', out)  # the two TXT strings joined
        self.assertEqual(field(out, "organizational domain"), "example.test")
        self.assertTrue(field(out, "effective policy").startswith("reject (np= of the record at example.test"),
                        out)  # a.mail.example.test does not exist: np=
        self.assertEqual(field(out, "result"), "policy found")

    def test_existing_subdomain_gets_sp(self):
        rc, out, err, seen = self.check("mail.example.test")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("mail.example.test A", seen)  # the existence check for np=
        self.assertTrue(field(out, "effective policy").startswith("quarantine (sp="), out)

    def test_long_name_is_bounded_to_eight_queries(self):
        rc, out, err, seen = self.check("a.b.c.d.e.f.g.h.i.j.walk.test")
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(len(seen), 8, seen)
        self.assertTrue(all(s.endswith(" TXT") for s in seen), seen)
        self.assertEqual(seen[1], "_dmarc.f.g.h.i.j.walk.test TXT")  # jumped to 7 labels
        self.assertEqual(field(out, "organizational domain"), "walk.test")

    def test_psd_record(self):
        rc, out, err, seen = self.check("mail.mega.bank.test")
        self.assertEqual(rc, 0, out + err)
        self.assertNotIn("_dmarc.test TXT", seen)  # psd=y stops the walk
        self.assertEqual(field(out, "organizational domain"), "mega.bank.test")
        self.assertIn("psd=y", field(out, "tags"))
        rc, out, err, seen = self.check("giant.bank.test")
        self.assertEqual(field(out, "organizational domain"), "giant.bank.test")
        self.assertTrue(field(out, "effective policy").startswith("none (p= of the record at giant.bank.test"))

    def test_failures_and_exit_codes(self):
        rc, out, err, _ = self.check("nothing.example.org")
        self.assertEqual(rc, 1, out + err)
        self.assertIn("no DMARC policy", field(out, "result"))
        rc, out, err, _ = self.check("invalid.test")
        self.assertEqual(rc, 1, out + err)
        self.assertIn("invalid DMARC record", field(out, "result"))
        rc, out, err, _ = self.check("broken.test")
        self.assertEqual(rc, 75, out + err)
        self.assertIn("SERVFAIL", field(out, "query 1"))
        rc, out, err, _ = self.check("twice.test")
        self.assertEqual(rc, 1, out + err)
        self.assertEqual(field(out, "query 1"), "_dmarc.twice.test TXT -> multiple")
        rc, out, err, seen = self.check("not..valid")
        self.assertEqual(rc, 65, out + err)
        self.assertEqual(seen, [])
        rc, out, err, _ = self.check("testing.test")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("testing (t=y): failing mail gets quarantine", field(out, "effective policy"))

    def test_psl_mode_queries_author_then_org_domain(self):
        rc, out, err, seen = self.check("--discovery", "psl", "x.y.mail.example.test")
        self.assertEqual(rc, 0, out + err)
        # "test" is not in the PSL: the implicit "*" rule makes it the public suffix, so the organisational
        # domain is example.test; the names between are not queried.
        self.assertEqual([s for s in seen if s.endswith(" TXT")],
                         ["_dmarc.x.y.mail.example.test TXT", "_dmarc.example.test TXT"])
        self.assertEqual(field(out, "organizational domain"), "example.test")
        self.assertTrue(field(out, "discovery").startswith("psl"))


class PslOracle(mmtest.TestCase):
    """psl mode's organisational domains equal python3-publicsuffix2's registrable domains."""

    def test_org_domains_match_publicsuffix2(self):
        import publicsuffix2
        with open(PSL_FILE, encoding="utf-8") as f:
            oracle = publicsuffix2.PublicSuffixList(psl_file=f)
        rules = []
        with open(PSL_FILE, encoding="utf-8") as f:
            for line in f:
                rule = line.split()[0] if line.split() else ""
                if rule and not rule.startswith("//") and rule.isascii():
                    rules.append(rule)
        rnd = random.Random(20261201)
        names = ["example.com", "a.b.example.co.uk", "www.ck", "a.www.ck", "b.test.ck", "a.b.c.kobe.jp",
                 "city.kobe.jp", "c.kobe.jp", "xn--85x722f.com.cn", "shishi.xn--55qx5d.cn", "com", "co.uk"]
        for rule in rnd.sample(rules, 40):
            if rule.startswith("!"):
                names.append("mail." + rule[1:])
            else:
                base = rule.replace("*", "wild")
                names += [base, "org." + base, "a.b.org." + base]
        cases = [(n, oracle.get_sld(n, strict=True)) for n in names]
        cases = [(n, e.lower()) for n, e in cases if e is not None]
        dns = mmtest.DnsServer(ZONE)
        with dns, concurrent.futures.ThreadPoolExecutor(4) as pool:
            # Each run mostly waits on DNS round trips: a few at a time keep the test short.
            results = list(pool.map(lambda c: run_check(dns, "--discovery", "psl", c[0]), cases))
        compared = 0
        for (name, expected), (rc, out, err) in zip(cases, results):
            self.assertIn(rc, (0, 1), out + err)
            got = field(out, "organizational domain")
            self.assertEqual(got, expected, f"{name}: mailmoat {got}, publicsuffix2 {expected}")
            compared += 1
        self.assertGreater(compared, 100)


if __name__ == "__main__":
    mmtest.run()
