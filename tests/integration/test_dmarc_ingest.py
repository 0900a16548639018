#!/usr/bin/python3
# tests/integration/test_dmarc_ingest.py - `mailmoat dmarc ingest` on a corpus in the shapes large providers
# send (zip and gzip attachments, bare .xml.gz, plain XML, both schemas, IPv6 sources, several DKIM
# results), from files, a Maildir and standard input; duplicates ignored; hostile inputs (gzip and zip
# bombs, entity expansion, huge counts, garbage) rejected with a clear message, without a crash.
import base64, gzip, io, json, os, re, shutil, subprocess, sys, tempfile, zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest

SRC = os.environ.get("MAILMOAT_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CORPUS = os.path.join(SRC, "tests", "data", "dmarc-reports")
GROUP = "dmarc"


def mailmoat(args, input=None):
    return subprocess.run([mmtest.program_path("mailmoat"), GROUP, *args], capture_output=True, timeout=60,
                          input=input)


def corpus_files():
    return sorted(f for f in os.listdir(CORPUS) if f.endswith((".eml", ".gz", ".zip", ".xml")))


def attach(data, name, ctype):
    b64 = base64.encodebytes(data).decode()
    return (f"From: x@attacker.test\nSubject: Report domain: example.org\nMIME-Version: 1.0\n"
            f"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: {ctype}; name=\"{name}\"\n"
            f"Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"{name}\"\n\n{b64}--b--\n").encode()


def report_xml(count="5", extra_decl=""):
    return (f'<?xml version="1.0"?>{extra_decl}<feedback><report_metadata><org_name>o</org_name><email>e@o.test</email>'
            f"<report_id>x1</report_id><date_range><begin>1</begin><end>2</end></date_range></report_metadata>"
            f"<policy_published><domain>example.org</domain><p>none</p></policy_published><record><row>"
            f"<source_ip>192.0.2.1</source_ip><count>{count}</count><policy_evaluated><disposition>none</disposition>"
            f"<dkim>pass</dkim><spf>pass</spf></policy_evaluated></row><identifiers><header_from>example.org"
            f"</header_from></identifiers><auth_results/></record></feedback>")


class IngestTest(mmtest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mm-dmarc-ingest-")
        self.store = "sqlite:" + os.path.join(self.dir, "dmarc.db")
        with open(os.path.join(CORPUS, "expected.json")) as f:
            self.expected = json.load(f)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_corpus_files_duplicates_and_summary(self):
        files = corpus_files()
        self.assertEqual(sorted(self.expected), files)
        r = mailmoat(["ingest", "--store", self.store, *(os.path.join(CORPUS, f) for f in files)])
        out = r.stdout.decode()
        self.assertEqual(r.returncode, 0, out + r.stderr.decode())
        total = 0
        for f, e in self.expected.items():
            self.assertRegex(out, rf"added org={re.escape(e['org'])} report_id={re.escape(e['report_id'])} "
                                  rf"domain=example.org format=\S+ begin=\d+ end=\d+ records={e['records']} "
                                  rf"messages={e['messages']}\n", f)
            total += e["messages"]
        self.assertIn(f"summary added={len(files)} duplicates=0 rejected=0", out)
        self.assertIn("format=rfc9990", out)
        self.assertIn("format=rfc7489", out)
        # The same reports again (a Maildir this time): all duplicates, nothing added.
        md = os.path.join(self.dir, "Maildir")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(md, sub))
        for i, f in enumerate(files):
            shutil.copy(os.path.join(CORPUS, f), os.path.join(md, "new" if i % 2 else "cur", f"{i}.mail"))
        r = mailmoat(["ingest", "--store", self.store, md])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"summary added=0 duplicates={len(files)} rejected=0", r.stdout.decode())
        # Standard input (a Postfix pipe transport) of one message: a duplicate too.
        with open(os.path.join(CORPUS, "google-zip.eml"), "rb") as f:
            r = mailmoat(["ingest", "--store", self.store], input=f.read())
        self.assertIn("duplicate org=google.com report_id=4920938723948723", r.stdout.decode())
        s = mailmoat(["summary", "--store", self.store]).stdout.decode()
        self.assertIn(f"reports: {len(files)}  messages: {total}", s)
        # The spoofing source failed everywhere it was reported: 5 (google) + 9 (yahoo).
        self.assertRegex(s, r"\n203\.0\.113\.66\s+14\s+0\s+14\s+0\s+14\s+0\s+14 ")
        self.assertIn("sources sending without authenticating", s)
        self.assertRegex(s, r"  203\.0\.113\.66  14 of 14 messages, as example\.org \(reported by Yahoo,google\.com\)")
        # IPv6 sources, canonical form; 2001:db8:25::10 passed everywhere.
        self.assertRegex(s, r"\n2001:db8:25::10\s+21\s+")
        self.assertRegex(s, r"\n2a01:111:f400:7e1a::2\s+12\s+")
        # Filters.
        s = mailmoat(["summary", "--store", self.store, "--since", "2025-12-01"]).stdout.decode()
        self.assertIn("reports: 2  messages: 34", s)
        s = mailmoat(["summary", "--store", self.store, "--domain", "nothing.test"]).stdout.decode()
        self.assertIn("reports: 0", s)

    def check_rejected(self, name, data, reason_regex):
        p = os.path.join(self.dir, name)
        with open(p, "wb") as f:
            f.write(data)
        r = mailmoat(["ingest", "--store", self.store, "--max-size", "16", p])
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 65, f"{name}: {r.stdout!r} {err!r}")
        self.assertRegex(err, rf"rejected {re.escape(p)}.*: {reason_regex}", name)
        return err

    def test_hostile_inputs_rejected(self):
        zeros = gzip.compress(b"\0" * (64 << 20), compresslevel=9)  # 64 MiB in ~64 KiB
        self.check_rejected("gzip-bomb.eml", attach(zeros, "bomb.xml.gz", "application/gzip"),
                            r"hostile: gzip data expands beyond")
        z = io.BytesIO()
        with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("bomb.xml", b"<" * (40 << 20))
        self.check_rejected("zip-bomb.zip", z.getvalue(), r"hostile: zip entry declares \d+ bytes")
        laughs = ('<?xml version="1.0"?><!DOCTYPE feedback [<!ENTITY a "aaaaaaaaaa">'
                  + "".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">' for p, c in zip("abcdefgh", "bcdefghi"))
                  + "]><feedback><report_metadata><org_name>&i;</org_name></report_metadata></feedback>")
        self.check_rejected("laughs.xml", laughs.encode(), r"hostile: document declares a DTD or entities")
        xxe = report_xml(extra_decl='<!DOCTYPE feedback SYSTEM "file:///etc/passwd">')
        self.check_rejected("xxe.xml.gz", gzip.compress(xxe.encode()), r"hostile: document declares a DTD")
        self.check_rejected("huge-count.xml", report_xml("9" * 30).encode(), r"hostile: <count> 9+\.\.\. is absurdly large")
        self.check_rejected("big-count.xml", report_xml("5000000000").encode(), r"hostile: <count> 5000000000 over the limit")
        self.check_rejected("truncated.xml.gz", gzip.compress(report_xml().encode())[:60], r"malformed: corrupt or truncated gzip")
        self.check_rejected("garbage.eml", b"Subject: hello\n\njust text\n", r"malformed: no report attachment")
        self.check_rejected("not-xml.xml", b"<feedback><unclosed>", r"malformed: not well-formed XML")
        # None of it reached the store, which stayed small; a good report still goes in afterwards.
        s = mailmoat(["summary", "--store", self.store]).stdout.decode()
        self.assertIn("reports: 0", s)
        self.assertLess(os.path.getsize(os.path.join(self.dir, "dmarc.db")), 1 << 20)
        r = mailmoat(["ingest", "--store", self.store, os.path.join(CORPUS, "outlook-gzip.eml")])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_a_bad_attachment_does_not_hide_a_good_one(self):
        good = gzip.compress(report_xml().encode())
        msg = (b"From: x@p.test\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
               b"Content-Type: application/gzip; name=a.xml.gz\nContent-Transfer-Encoding: base64\n\n"
               + base64.encodebytes(b"\x1f\x8bnot gzip") + b"--b\nContent-Type: application/gzip; name=b.xml.gz\n"
               b"Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(good) + b"--b--\n")
        r = mailmoat(["ingest", "--store", self.store], input=msg)
        self.assertEqual(r.returncode, 65)
        self.assertIn("added org=o report_id=x1", r.stdout.decode())
        self.assertIn("rejected stdin (a.xml.gz): malformed", r.stderr.decode())


if __name__ == "__main__":
    mmtest.run()
