#!/usr/bin/python3
# tests/integration/test_dmarc_report.py - `mailmoat dmarc report` against real peers: the XML validates
# against the published schemas (xmllint) with counts matching the records; a report travels through a
# real Postfix to the Sink as a MIME message whose gzip attachment ingests back to the same numbers;
# external rua destinations need their _report._dmarc record (test DNS server); killing the run between
# building and marking sent neither loses nor duplicates a report.
import gzip, json, os, re, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest

SRC = os.environ.get("MAILMOAT_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCHEMAS = os.path.join(SRC, "tests", "data", "dmarc-schemas")
GROUP = "dmarc"

NOW = int(time.time())
TODAY = NOW - NOW % 86400
Y = TODAY - 86400  # yesterday, a closed period


def mailmoat(args, env=None, check=True, input=None):
    r = subprocess.run([mmtest.program_path("mailmoat"), GROUP, *args], capture_output=True, text=True, timeout=60,
                       env=env, input=input)
    if check and r.returncode != 0:
        raise AssertionError(f"mailmoat {GROUP} {' '.join(args)} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def loadable_7489_schema(dest):
    """RFC 7489 Appendix C as published does not load in xmllint; apply the usual fixes (see
    tests/data/dmarc-schemas/README.md)."""
    with open(os.path.join(SCHEMAS, "rfc7489-appendix-c.xsd")) as f:
        x = f.read()
    x = re.sub(r'\s*targetNamespace="[^"]*"', "", x, count=1)
    x = re.sub(r'<xs:pattern value="([^"]*)"', lambda m: '<xs:pattern value="' + re.sub(r"\s+", "", m.group(1)) + '"', x)
    x = x.replace('<xs:element name="sp" type="DispositionType"/>', '<xs:element name="sp" type="DispositionType" minOccurs="0"/>')
    x = x.replace('<xs:element name="fo" type="xs:string"/>', '<xs:element name="fo" type="xs:string" minOccurs="0"/>')
    with open(dest, "w") as f:
        f.write(x)
    return dest


def xmllint(schema, path):
    r = subprocess.run(["xmllint", "--noout", "--schema", schema, path], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stderr


def records_text(domain, t, rua, org=None):
    """Evaluation records as `mailmoat ... import-records` reads them; returns (text, messages)."""
    org = org or domain
    common = f"domain={domain} org={org} p=reject np=quarantine discovery=treewalk rua={rua} to=receiver.test"
    lines = [
        f"time={t + 1} count=7 ip=192.0.2.10 from={domain} mfrom={domain} {common} result=pass disposition=none "
        f"dkim_aligned=pass spf_aligned=pass dkim={domain}/mm1/pass,esp.test/e1/pass spf={domain}/mfrom/pass",
        f"time={t + 2} count=3 ip=2001:db8:25::10 from={domain} mfrom=fwd.test {common} result=pass "
        f"disposition=none dkim_aligned=pass spf_aligned=fail dkim={domain}/mm1/pass spf=fwd.test/mfrom/softfail",
        f"time={t + 3} count=2 ip=203.0.113.66 from={domain} mfrom=spoof.test {common} result=fail "
        f"disposition=reject dkim_aligned=fail spf_aligned=fail spf=spoof.test/mfrom/fail",
    ]
    return "\n".join(lines) + "\n", 12


class ReportTest(mmtest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mm-dmarc-report-")
        self.store = "sqlite:" + os.path.join(self.dir, "dmarc.db")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def import_records(self, text, store=None):
        mailmoat(["import-records", "--store", store or self.store], input=text)

    def report_args(self, *extra):
        return ["report", "--store", self.store, "--org-name", "Receiver Test", "--email", "dmarc-noreply@receiver.test",
                "--prune-days", "0", *extra]

    def test_dry_run_reports_validate_and_count(self):
        text, n = records_text("example.test", Y, "mailto:agg@example.test")
        text2, n2 = records_text("other.test", Y, "mailto:agg@other.test")
        self.import_records(text + text2)
        for fmt, schema in (("rfc9990", os.path.join(SCHEMAS, "dmarc-xml-0.2.xsd")),
                            ("rfc7489", loadable_7489_schema(os.path.join(self.dir, "rfc7489-loadable.xsd")))):
            out = os.path.join(self.dir, fmt)
            os.mkdir(out)
            r = mailmoat(self.report_args("--dry-run", "--output", out, "--format", fmt))
            self.assertIn("files=2", r.stdout)
            files = sorted(f for f in os.listdir(out) if f.endswith(".xml.gz"))
            self.assertEqual(files, [f"receiver.test!example.test!{Y}!{Y + 86399}.xml.gz",
                                     f"receiver.test!other.test!{Y}!{Y + 86399}.xml.gz"])
            for f in files:
                path = os.path.join(out, f[:-3])
                with gzip.open(os.path.join(out, f), "rt") as g, open(path) as x:
                    self.assertEqual(g.read(), x.read())
                rc, err = xmllint(schema, path)
                self.assertEqual(rc, 0, f"{fmt} {f} does not validate: {err}")
                with open(path) as x:
                    xml = x.read()
                counts = [int(c) for c in re.findall(r"<count>(\d+)</count>", xml)]
                self.assertEqual(sum(counts), n, xml)
                self.assertEqual(sorted(counts), [2, 3, 7])
                if fmt == "rfc9990":
                    self.assertIn('xmlns="urn:ietf:params:xml:ns:dmarc-2.0"', xml)
                    for tag in ("generator", "discovery_method", "np", "testing"):
                        self.assertIn(f"<{tag}>", xml)
                else:
                    self.assertIn("<source_ip>2001:db8:25:0:0:0:0:10</source_ip>", xml)
            # A negative control: the validator does reject a broken report.
            broken = os.path.join(self.dir, f"broken-{fmt}.xml")
            with open(os.path.join(out, files[0][:-3])) as x, open(broken, "w") as b:
                b.write(x.read().replace("<disposition>reject</disposition>", "<disposition>bounce</disposition>"))
            self.assertNotEqual(xmllint(schema, broken)[0], 0)
        # Dry runs left the store untouched: a real run still has both reports to send (deferred here,
        # nothing listens on the SMTP port).
        port = mmtest.free_port()
        r = mailmoat(self.report_args("--smtp", f"127.0.0.1:{port}"), check=False)
        self.assertEqual(r.returncode, 75, r.stdout + r.stderr)
        self.assertIn("reports=2", r.stdout)
        self.assertIn("deferred=2", r.stdout)

    def test_through_postfix_round_trip(self):
        text, n = records_text("example.test", Y, "mailto:dmarc-agg@example.test")
        self.import_records(text)
        zone = "$ORIGIN test.\n@ 300 IN SOA ns hm 1 3600 600 86400 60\n"
        with mmtest.Sink() as sink, mmtest.DnsServer(zone) as dns, mmtest.Postfix(sink.port) as pf:
            r = mailmoat(self.report_args("--sendmail", f"/usr/sbin/sendmail -C {pf.config_dir} -i",
                                          "--dns-server", dns.address))
            self.assertIn("delivered=1", r.stdout)
            [msg] = sink.wait_messages(1)
            self.assertEqual(msg.rcpt_to, ["dmarc-agg@example.test"])
            self.assertEqual(msg.mail_from, "dmarc-noreply@receiver.test")
            rid = f"example.test.{Y}.{Y + 86400}"
            self.assertEqual(msg.header("Subject"),
                             f"Report Domain: example.test Submitter: receiver.test Report-ID: <{rid}>")
            self.assertTrue(msg.msg.is_multipart())
            parts = [p for p in msg.msg.walk() if p.get_content_type() == "application/gzip"]
            self.assertEqual(len(parts), 1)
            self.assertEqual(parts[0].get_filename(), f"receiver.test!example.test!{Y}!{Y + 86399}.xml.gz")
            xml = gzip.decompress(parts[0].get_payload(decode=True)).decode()
            xml_path = os.path.join(self.dir, "sent.xml")
            with open(xml_path, "w") as f:
                f.write(xml)
            rc, err = xmllint(os.path.join(SCHEMAS, "dmarc-xml-0.2.xsd"), xml_path)
            self.assertEqual(rc, 0, err)
            # Round trip: the received mail ingests back to the same numbers.
            raw = os.path.join(self.dir, "received.eml")
            with open(raw, "wb") as f:
                f.write(msg.raw)
            other = "sqlite:" + os.path.join(self.dir, "received.db")
            r = mailmoat(["ingest", "--store", other, raw])
            self.assertRegex(r.stdout, rf"added org=Receiver Test report_id={re.escape(rid)} domain=example.test "
                                       rf"format=rfc9990 begin={Y} end={Y + 86399} records=3 messages={n}")
            s = mailmoat(["summary", "--store", other]).stdout
            self.assertIn(f"messages: {n}  DMARC pass: 10  fail: 2", s)
            self.assertRegex(s, r"203\.0\.113\.66\s+2\s+0\s+2\s+0\s+2\s+0\s+2")
            # Nothing more to send on a rerun.
            r = mailmoat(self.report_args("--sendmail", f"/usr/sbin/sendmail -C {pf.config_dir} -i",
                                          "--dns-server", dns.address))
            self.assertIn("reports=0", r.stdout)
            pf.wait_idle()
            time.sleep(0.5)
            self.assertEqual(len(sink.messages()), 1)

    def test_external_destination_verification(self):
        rua = "mailto:agg@example.test,mailto:reports@authorized.test,mailto:reports@unauthorized.test"
        text, _ = records_text("example.test", Y, rua)
        self.import_records(text)
        zone = ("$ORIGIN test.\n@ 300 IN SOA ns hm 1 3600 600 86400 60\n"
                'example.test._report._dmarc.authorized 300 IN TXT "v=DMARC1"\n'
                "unauthorized 300 IN A 192.0.2.99\n")
        with mmtest.Sink() as sink, mmtest.DnsServer(zone) as dns:
            r = mailmoat(self.report_args("--smtp", f"127.0.0.1:{sink.port}", "--dns-server", dns.address))
            self.assertIn("delivered=2", r.stdout)
            self.assertIn("refused=1", r.stdout)
            self.assertIn("refuse domain=example.test rua=mailto:reports@unauthorized.test "
                          "reason=external_not_authorized", r.stdout)
            msgs = sink.wait_messages(2)
            time.sleep(0.3)
            self.assertEqual(sorted(m.rcpt_to[0] for m in sink.messages()),
                             ["agg@example.test", "reports@authorized.test"])
            q = dns.queries()
            self.assertTrue(any(x.startswith("example.test._report._dmarc.authorized.test TXT") for x in q), q)
            self.assertTrue(any("example.test._report._dmarc.unauthorized.test" in x for x in q), q)
            self.assertFalse(any("_report._dmarc.example.test" in x for x in q), q)  # internal: no lookup
            # With the record published, the third party gets it (a new period).
            text, _ = records_text("example.test", TODAY, rua)
            self.import_records(text)
        zone2 = zone + 'example.test._report._dmarc.unauthorized 300 IN TXT "v=DMARC1;"\n'
        with mmtest.Sink() as sink, mmtest.DnsServer(zone2) as dns:
            r = mailmoat(self.report_args("--smtp", f"127.0.0.1:{sink.port}", "--dns-server", dns.address,
                                          "--until", "now"))
            self.assertIn("delivered=3", r.stdout)
            sink.wait_messages(3)
            self.assertIn("reports@unauthorized.test", [m.rcpt_to[0] for m in sink.messages()])

    def test_size_limit_and_ruf_refused(self):
        text, _ = records_text("example.test", Y, "mailto:small@example.test!100,mailto:big@example.test!10m")
        self.import_records(text)
        with mmtest.Sink() as sink:
            r = mailmoat(self.report_args("--smtp", f"127.0.0.1:{sink.port}"))
            self.assertIn("delivered=1", r.stdout)
            self.assertIn("refused=1", r.stdout)
            self.assertIn("reason=size_limit", r.stdout)
            [m] = sink.wait_messages(1)
            self.assertEqual(m.rcpt_to, ["big@example.test"])
        r = mailmoat(self.report_args("--send-failure-reports"), check=False)
        self.assertEqual(r.returncode, 64)

    def crash_run(self, sink, stage):
        env = dict(os.environ, MAILMOAT_DMARC_REPORT_CRASH_AT=stage)
        r = mailmoat(self.report_args("--smtp", f"127.0.0.1:{sink.port}"), env=env, check=False)
        self.assertEqual(r.returncode, -9, r.stdout + r.stderr)  # killed by SIGKILL at the hook
        return r

    def test_crash_between_build_and_mark_sent(self):
        text, n = records_text("example.test", Y, "mailto:agg@example.test")
        self.import_records(text)
        received = "sqlite:" + os.path.join(self.dir, "received.db")
        with mmtest.Sink() as sink:
            # Killed after building, before delivering: nothing went out, and nothing was marked.
            self.crash_run(sink, "built")
            time.sleep(0.5)
            self.assertEqual(sink.messages(), [])
            r = mailmoat(self.report_args("--smtp", f"127.0.0.1:{sink.port}"))
            self.assertIn("delivered=1", r.stdout)
            [m1] = sink.wait_messages(1)
            r = mailmoat(self.report_args("--smtp", f"127.0.0.1:{sink.port}"))
            self.assertIn("reports=0", r.stdout)
            time.sleep(0.3)
            self.assertEqual(len(sink.messages()), 1)
        # Killed after delivery, before marking sent: the rerun sends the identical report again (same
        # Report-ID and Message-ID), so the receiver keeps one report: nothing lost, nothing counted twice.
        text, n2 = records_text("second.test", Y, "mailto:agg@second.test")
        self.import_records(text)
        with mmtest.Sink() as sink:
            self.crash_run(sink, "delivered")
            [first] = sink.wait_messages(1)
            r = mailmoat(self.report_args("--smtp", f"127.0.0.1:{sink.port}"))
            self.assertIn("delivered=1", r.stdout)
            msgs = sink.wait_messages(2)
            self.assertEqual(msgs[0].header("Message-ID"), msgs[1].header("Message-ID"))
            self.assertEqual(msgs[0].header("Subject"), msgs[1].header("Subject"))
            r = mailmoat(self.report_args("--smtp", f"127.0.0.1:{sink.port}"))
            self.assertIn("reports=0", r.stdout)
            for i, m in enumerate([m1] + msgs):
                p = os.path.join(self.dir, f"m{i}.eml")
                with open(p, "wb") as f:
                    f.write(m.raw)
            r = mailmoat(["ingest", "--store", received, *(os.path.join(self.dir, f"m{i}.eml") for i in range(3))])
            self.assertIn("summary added=2 duplicates=1 rejected=0", r.stdout)
            s = mailmoat(["summary", "--store", received]).stdout
            self.assertIn(f"reports: 2  messages: {n + n2}", s)


if __name__ == "__main__":
    mmtest.run()
