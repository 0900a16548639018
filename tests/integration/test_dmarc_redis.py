#!/usr/bin/python3
# tests/integration/test_dmarc_redis.py - the shared DMARC store on a real redis-server (private, password
# set): two mailmoat-dmarc instances, each behind its own real Postfix (two MX hosts), record into one
# Redis; `mailmoat dmarc report --store redis://... --dry-run --until now` builds one report per domain
# with the summed counts, valid against the RFC 9990 schema (xmllint); two report runs at once deliver
# each report exactly once (claims in Redis); Redis stopped mid-run: mail is still accepted and each
# lost record is logged and counted. Ingest, duplicate detection, summary and html read the Redis store
# and give what the SQLite store gives for the same report corpus.
import gzip
import os
import re
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

SRC = os.environ.get("MAILMOAT_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCHEMA = os.path.join(SRC, "tests", "data", "dmarc-schemas", "dmarc-xml-0.2.xsd")
AUTHSERV = "mx.mailmoat.test"

ZONE = """$ORIGIN test.
$TTL 300
@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
_dmarc.spfok IN TXT "v=DMARC1; p=reject; rua=mailto:agg@spfok.test"
spfok IN TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc.nopol IN TXT "v=DMARC1; p=none; rua=mailto:agg@nopol.test"
nopol IN TXT "v=spf1 -all"
"""

# A sendmail stand-in for the report runs: announces that delivery started, takes its time (so two runs
# overlap for sure), then keeps the message as a file.
SLOW_SENDMAIL = """#!/usr/bin/python3
import os, sys, time
out = sys.argv[1]
open(os.path.join(out, "started.%d" % os.getpid()), "w").close()
time.sleep(2)
data = sys.stdin.buffer.read()
with open(os.path.join(out, "msg.%d.%s.eml" % (os.getpid(), sys.argv[-1])), "wb") as f:
    f.write(data)
"""


def send(pf, mail_from, from_header, subject):
    data = (f"From: {from_header}\r\nTo: user@example.net\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}@mailmoat.test>\r\n\r\nHello.\r\n").encode()
    try:
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=60) as s:
            s.ehlo("client.mailmoat.test")
            s.sendmail(mail_from, ["user@example.net"], data)
        return 250, ""
    except smtplib.SMTPResponseException as e:
        return e.smtp_code, e.smtp_error.decode(errors="replace")


def mailmoat(args, check=True):
    r = subprocess.run([mmtest.program_path("mailmoat"), "dmarc", *args], capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError(f"mailmoat dmarc {' '.join(args)} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


class DmarcRedis(mmtest.TestCase):
    def test_two_mx_hosts_one_redis(self):
        work = mmtest.make_tmpdir("dmarc-redis")
        self.addCleanup(mmtest.remove_tmpdir, work)
        with mmtest.Redis(password="moat-pw") as redis, mmtest.Sink() as sink, mmtest.DnsServer(ZONE) as dns:
            store = redis.url(5)
            args = ["--authserv-id", AUTHSERV, "--store", store, "--store-timeout-ms", "300",
                    "--dns-server", dns.address, "--dns-timeout", "1", "--dns-retries", "0"]
            with mmtest.Daemon("mailmoat-dmarc", args, socket="unix", name="dmarc-a") as mx_a, \
                    mmtest.Daemon("mailmoat-dmarc", args, socket="unix", name="dmarc-b") as mx_b:
                shown = f"store=redis://127.0.0.1:{redis.port}/5"
                mmtest.wait_until(lambda: shown in mx_a.log(), 10, "mailmoat-dmarc to log its store")
                self.assertNotIn("moat-pw", mx_a.log())  # the password never reaches a log
                with mmtest.Postfix(sink.port, {"smtpd_milters": mx_a.socket, "milter_default_action": "tempfail"}) as pf_a, \
                        mmtest.Postfix(sink.port, {"smtpd_milters": mx_b.socket, "milter_default_action": "tempfail"}) as pf_b:
                    # Three aligned messages through host A, two through B; one p=none failure on each.
                    for i in range(3):
                        self.assertEqual(send(pf_a, "a@spfok.test", "a@spfok.test", f"a{i}")[0], 250)
                    for i in range(2):
                        self.assertEqual(send(pf_b, "b@spfok.test", "b@spfok.test", f"b{i}")[0], 250)
                    self.assertEqual(send(pf_a, "n@nopol.test", "n@nopol.test", "na")[0], 250)
                    self.assertEqual(send(pf_b, "n@nopol.test", "n@nopol.test", "nb")[0], 250)
                    # A forged p=reject From is still rejected with the shared store.
                    code, text = send(pf_b, "x@nopol.test", "x@spfok.test", "forged")
                    self.assertEqual(code, 550, text)

                    # Both instances wrote into the per-domain, per-day lists of the one Redis.
                    day = int(time.time()) // 86400
                    self.assertEqual(redis.cli("LLEN", f"mmdmarc:r:spfok.test:{day}", db=5).strip(), "6")
                    self.assertEqual(redis.cli("LLEN", f"mmdmarc:r:nopol.test:{day}", db=5).strip(), "2")
                    ttl = int(redis.cli("TTL", f"mmdmarc:r:spfok.test:{day}", db=5))
                    self.assertGreater(ttl, 39 * 86400)

                    # One report per domain from both hosts' records, counts summed, schema-valid.
                    time.sleep(1.1)  # --until now excludes records of the current second
                    out = os.path.join(work, "dry")
                    os.mkdir(out)
                    r = mailmoat(["report", "--store", store, "--org-name", "Receiver Test", "--email",
                                  "dmarc-noreply@receiver.test", "--dry-run", "--output", out, "--until", "now",
                                  "--dns-server", dns.address])
                    self.assertIn("files=2", r.stdout)
                    self.assertIn("store=redis://127.0.0.1", r.stdout)
                    self.assertNotIn("moat-pw", r.stdout + r.stderr)
                    xmls = {f.split("!")[1]: os.path.join(out, f) for f in os.listdir(out) if f.endswith(".xml")}
                    self.assertEqual(sorted(xmls), ["nopol.test", "spfok.test"])
                    for domain, path in xmls.items():
                        v = subprocess.run(["xmllint", "--noout", "--schema", SCHEMA, path], capture_output=True,
                                           text=True, timeout=30)
                        self.assertEqual(v.returncode, 0, v.stderr)
                        with open(path) as f:
                            xml = f.read()
                        counts = [int(c) for c in re.findall(r"<count>(\d+)</count>", xml)]
                        if domain == "spfok.test":
                            # 5 aligned passes (one row: same source, same results) and the forged reject.
                            self.assertEqual(sorted(counts), [1, 5], xml)
                            self.assertIn("<disposition>reject</disposition>", xml)
                        else:
                            self.assertEqual(counts, [2], xml)
                    with gzip.open(xmls["spfok.test"] + ".gz", "rt") as g, open(xmls["spfok.test"]) as x:
                        self.assertEqual(g.read(), x.read())

                    # Two report runs at once: each report is delivered exactly once.
                    mail_out = os.path.join(work, "sent")
                    os.mkdir(mail_out)
                    script = os.path.join(work, "slow-sendmail")
                    with open(script, "w") as f:
                        f.write(SLOW_SENDMAIL)
                    os.chmod(script, 0o755)
                    run = [mmtest.program_path("mailmoat"), "dmarc", "report", "--store", store, "--org-name",
                           "Receiver Test", "--email", "dmarc-noreply@receiver.test", "--until", "now",
                           "--dns-server", dns.address, "--sendmail", f"{script} {mail_out}", "--prune-days", "0"]
                    first = subprocess.Popen(run, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                    try:
                        mmtest.wait_until(lambda: any(n.startswith("started.") for n in os.listdir(mail_out)), 20,
                                          "the first report run to start delivering")
                        second = subprocess.run(run, capture_output=True, text=True, timeout=60)
                        out1, _ = first.communicate(timeout=60)
                    finally:
                        if first.poll() is None:
                            first.kill()
                            first.wait()
                    self.assertEqual(first.returncode, 0, out1)
                    self.assertEqual(second.returncode, 0, second.stdout + second.stderr)
                    self.assertIn("busy domain=", second.stdout, second.stdout)  # it met the first run's claim
                    sent = sorted(n for n in os.listdir(mail_out) if n.endswith(".eml"))
                    rcpts = sorted(n.split(".", 2)[2][:-4] for n in sent)
                    self.assertEqual(rcpts, ["agg@nopol.test", "agg@spfok.test"], out1 + second.stdout)
                    # A third run finds everything sent.
                    third = mailmoat(run[2:])
                    self.assertIn("delivered=0", third.stdout)
                    self.assertEqual(len([n for n in os.listdir(mail_out) if n.endswith(".eml")]), 2)

                    # Redis stops mid-run: mail is still accepted; each lost record is logged and counted.
                    redis.stop()
                    self.assertEqual(send(pf_a, "a@spfok.test", "a@spfok.test", "while down 1")[0], 250)
                    self.assertEqual(send(pf_a, "a@spfok.test", "a@spfok.test", "while down 2")[0], 250)
                    mmtest.wait_until(lambda: "store_failures=2" in mx_a.log(), 10, "the lost records to be logged")
                    self.assertRegex(mx_a.log(), r"store=redis://127\.0\.0\.1:\d+/5 .*error=\"?redis")
                    self.assertNotIn("moat-pw", mx_a.log())
                    delivered = sink.wait_messages(9, timeout=30)
                    subjects = {m.header("Subject") for m in delivered}
                    self.assertIn("while down 1", subjects)
                    self.assertIn("while down 2", subjects)
                    # The report side says the store is unavailable (exit 69), it does not crash.
                    r = mailmoat(["report", "--store", store, "--dry-run", "--output", out, "--until", "now",
                                  "--email", "x@receiver.test"], check=False)
                    self.assertEqual(r.returncode, 69, r.stdout + r.stderr)

    def test_ingest_summary_html_match_sqlite(self):
        work = mmtest.make_tmpdir("dmarc-redis-ingest")
        self.addCleanup(mmtest.remove_tmpdir, work)
        corpus_dir = os.path.join(SRC, "tests", "data", "dmarc-reports")
        corpus = sorted(os.path.join(corpus_dir, f) for f in os.listdir(corpus_dir)
                        if f.endswith(".eml") or f.endswith(".xml.gz"))
        self.assertGreaterEqual(len(corpus), 4)
        with mmtest.Redis(password="moat-pw") as redis:
            outputs = {}
            for store in (redis.url(7), "sqlite:" + os.path.join(work, "oracle.db")):
                first = mailmoat(["ingest", "--store", store, *corpus])
                again = mailmoat(["ingest", "--store", store, *corpus])
                self.assertIn(f"added={len(corpus)} duplicates=0", first.stdout)
                self.assertIn(f"added=0 duplicates={len(corpus)}", again.stdout)
                summary = mailmoat(["summary", "--store", store]).stdout
                html = os.path.join(work, "page.html")
                mailmoat(["html", "--store", store, "--output", html])
                with open(html) as f:
                    page = f.read()
                self.assertNotIn("moat-pw", summary + page)
                # The page names its store; the rest must be the same for both.
                page = re.sub(r"from (redis|sqlite):\S+?\.</small>", "from STORE.</small>", page)
                outputs[store.split(":")[0]] = (summary, page)
            self.assertIn("messages: 112", outputs["redis"][0])
            self.assertEqual(outputs["redis"][0], outputs["sqlite"][0])
            self.assertEqual(outputs["redis"][1], outputs["sqlite"][1])


if __name__ == "__main__":
    mmtest.run()
