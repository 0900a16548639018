#!/usr/bin/python3
# tests/integration/test_dmarc_oracle.py - the DMARC engine in psl mode (RFC 7489 discovery) against
# Mail::DMARC (Debian's libmail-dmarc-perl), an independent implementation, over one real DNS server:
# the same messages must give the same result, disposition, policy domain, organisational domain and
# SPF/DKIM alignment. Covers wildcard (*.kobe.jp) and exception (!city.kobe.jp) PSL rules, sp=, strict
# and relaxed alignment, records only at a subdomain, and domains without a record.
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

PSL_FILE = "/usr/share/publicsuffix/public_suffix_list.dat"
HERE = os.path.dirname(os.path.abspath(__file__))

ZONE = """$ORIGIN .
$TTL 300
. IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
_dmarc.example.com. IN TXT "v=DMARC1; p=reject; sp=quarantine"
example.com. IN A 192.0.2.1
news.example.com. IN A 192.0.2.1
_dmarc.example.co.uk. IN TXT "v=DMARC1; p=quarantine; adkim=s; aspf=s"
example.co.uk. IN A 192.0.2.2
sub.example.co.uk. IN A 192.0.2.2
_dmarc.example.net. IN TXT "v=DMARC1; p=none"
example.net. IN A 192.0.2.3
_dmarc.x.y.kobe.jp. IN TXT "v=DMARC1; p=reject"
x.y.kobe.jp. IN A 192.0.2.4
a.x.y.kobe.jp. IN A 192.0.2.4
_dmarc.city.kobe.jp. IN TXT "v=DMARC1; p=quarantine"
city.kobe.jp. IN A 192.0.2.5
www.city.kobe.jp. IN A 192.0.2.5
_dmarc.sub.example.org. IN TXT "v=DMARC1; p=reject"
example.org. IN A 192.0.2.6
sub.example.org. IN A 192.0.2.6
other.sub.example.org. IN A 192.0.2.6
example.biz. IN A 192.0.2.7
_dmarc.upper.example.biz. IN TXT "v=DMARC1; p=Reject; ASPF=s"
upper.example.biz. IN A 192.0.2.8
"""

CASES = [
    "example.com example.com pass",
    "news.example.com example.com pass",
    "news.example.com example.net pass",
    "example.com example.net pass example.com:pass",
    "example.com example.net fail example.net:pass",
    "example.com example.net softfail example.com:fail",
    "news.example.com example.net fail example.com:pass",
    "sub.example.co.uk sub.example.co.uk pass",
    "sub.example.co.uk example.co.uk pass",
    "example.co.uk example.co.uk fail sub.example.co.uk:pass",
    "example.co.uk other.co.uk pass other.co.uk:pass",
    "a.x.y.kobe.jp x.y.kobe.jp pass",
    "a.x.y.kobe.jp z.y.kobe.jp pass",
    "www.city.kobe.jp city.kobe.jp pass",
    "www.city.kobe.jp other.kobe.jp pass",
    "sub.example.org sub.example.org fail",
    "sub.example.org example.org pass",
    "other.sub.example.org example.org pass",
    "example.net example.net fail",
    "upper.example.biz sub.upper.example.biz pass",
    "example.biz example.biz pass",
]

# Mail::DMARC 1.20211209 treats city.kobe.jp as a public suffix although the list has the exception rule
# "!city.kobe.jp" (publicsuffix.org's own test list: www.city.kobe.jp -> city.kobe.jp, as libpsl and
# python3-publicsuffix2 answer). For these cases the engine must give the PSL's answer instead.
DIVERGENT = {
    "www.city.kobe.jp city.kobe.jp pass": "pass none city.kobe.jp city.kobe.jp pass fail",
    "www.city.kobe.jp other.kobe.jp pass": "fail quarantine city.kobe.jp city.kobe.jp fail fail",
}


def run(argv, cases):
    p = subprocess.run(argv, input="\n".join(cases) + "\n", capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError(f"{argv[0]} exited {p.returncode}: {p.stderr}")
    return p.stdout.splitlines()


class MailDmarcOracle(mmtest.TestCase):
    def test_psl_mode_matches_mail_dmarc(self):
        tool = mmtest.program_path("mailmoat_dmarc_tool")
        with mmtest.DnsServer(ZONE) as dns:
            ours = run([tool, dns.address, "psl", PSL_FILE], CASES)
            theirs = run(["/usr/bin/perl", os.path.join(HERE, "dmarc_mail_dmarc.pl"), dns.address], CASES)
        self.assertEqual(len(ours), len(CASES))
        self.assertEqual(len(theirs), len(CASES))
        diffs = [f"case {c!r}: mailmoat {a!r}, Mail::DMARC {b!r}" for c, a, b in zip(CASES, ours, theirs)
                 if a != DIVERGENT.get(c, b)]
        self.assertEqual(diffs, [], "\n".join(diffs))
        results = {tuple(a.split()[:2]) for a in ours}
        # The cases must exercise pass, fail with each disposition: a broken comparison cannot pass.
        self.assertTrue({("pass", "none"), ("fail", "reject"), ("fail", "quarantine"), ("fail", "none")} <= results,
                        results)


if __name__ == "__main__":
    mmtest.run()
