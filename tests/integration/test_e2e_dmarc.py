#!/usr/bin/python3
# tests/integration/test_e2e_dmarc.py - mailmoat-spf, mailmoat-dkim and mailmoat-dmarc wired together behind
# a real Postfix, with a test DNS zone. mailmoat-spf (policy service) prepends Received-SPF, mailmoat-dkim
# (first milter, verify mode) writes dkim= into Authentication-Results, and mailmoat-dmarc (second milter)
# takes both from those trusted headers (spf-source/dkim-source headers). Shown: a forged From of a p=reject
# domain from an unauthorised address gets 550 5.7.1 at the SMTP client; a DKIM-aligned signed message and
# an SPF-aligned one are delivered with dmarc=pass; p=quarantine lands in the hold queue; p=none is
# delivered; a mailing-list override (override-table) and a trusted ARC sealer's chain are applied; every one of them is read back from the SQLite store.
# Bad input: absurd records, 50 From headers, a forged Authentication-Results, and a DMARC lookup that
# times out (451 with on-dns-error tempfail, then accepted with dmarc=temperror after a SIGHUP switched
# the configuration to accept; a bad configuration on SIGHUP keeps the running one).
import email.utils
import gzip
import os
import pwd
import grp
import re
import signal
import smtplib
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

SRC = os.environ.get("MAILMOAT_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import dkim  # noqa: E402  (python3-dkim, dkimpy)

AUTHSERV = "mx.mailmoat.test"


def genkey(d):
    _, pem, record = mmtest.dkim_key(d)
    return pem, record


zone_txt = mmtest.zone_txt


def zone(dkim_record):
    z = "$ORIGIN test.\n$TTL 300\n@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n"
    z += zone_txt("_dmarc.reject", "v=DMARC1; p=reject; rua=mailto:agg@reject.test")
    z += zone_txt("reject", "v=spf1 ip4:192.0.2.1 -all")
    z += zone_txt("_dmarc.signed", "v=DMARC1; p=reject; adkim=s")
    z += zone_txt("signed", "v=spf1 -all")
    z += zone_txt("sel._domainkey.signed", dkim_record)
    z += zone_txt("bulk", "v=spf1 ip4:127.0.0.1 -all")
    z += zone_txt("_dmarc.spfok", "v=DMARC1; p=reject")
    z += zone_txt("spfok", "v=spf1 ip4:127.0.0.1 -all")
    z += zone_txt("_dmarc.quar", "v=DMARC1; p=quarantine; rua=mailto:agg@quar.test")
    z += zone_txt("quar", "v=spf1 -all")
    z += zone_txt("_dmarc.nopol", "v=DMARC1; p=none; rua=mailto:agg@nopol.test")
    z += zone_txt("nopol", "v=spf1 -all")
    z += zone_txt("lists", "v=spf1 ip4:127.0.0.1 -all")
    z += zone_txt("sel._domainkey.lists", dkim_record)
    z += zone_txt("arclist", "v=spf1 ip4:127.0.0.1 -all")
    # Absurd records: two at once, and one full of garbage and unknown tags.
    z += zone_txt("_dmarc.twice", "v=DMARC1; p=reject")
    z += zone_txt("_dmarc.twice", "v=DMARC1; p=none")
    z += zone_txt("twice", "v=spf1 -all")
    z += zone_txt("_dmarc.junk", "v=DMARC1; p=rejectt; adkim=q; pct=abc; zz=" + "x" * 400 + "; ;;=;")
    z += zone_txt("junk", "v=spf1 -all")
    z += zone_txt("slow", "v=spf1 -all")
    z += ";@drop _dmarc.slow.test\n"
    return z


def send(pf, mail_from, data, rcpt="user@example.net"):
    """(code, text) of the final reply: 250 when queued, the error otherwise."""
    try:
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=60) as s:
            s.ehlo("client.mailmoat.test")
            s.sendmail(mail_from, [rcpt], data)
        return 250, ""
    except smtplib.SMTPDataError as e:
        return e.smtp_code, e.smtp_error.decode(errors="replace")
    except smtplib.SMTPRecipientsRefused as e:
        code, text = list(e.recipients.values())[0]
        return code, text.decode(errors="replace")


def message(from_header, subject, extra=""):
    return (f"From: {from_header}\r\nTo: user@example.net\r\nSubject: {subject}\r\n"
            f"Date: {email.utils.formatdate()}\r\nMessage-ID: <{subject.replace(' ', '-')}@mailmoat.test>\r\n"
            f"{extra}\r\nHello.\r\n").encode()


def rows(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        cur = con.execute("SELECT header_from, envelope_from, source_ip, dmarc_result, disposition, overrides, p,"
                          " policy_domain, dkim, spf FROM dmarc_records ORDER BY id")
        return [dict(zip([c[0] for c in cur.description], r)) for r in cur.fetchall()]
    finally:
        con.close()


class DmarcEndToEnd(mmtest.TestCase):
    def test_spf_dkim_dmarc_through_postfix(self):
        d = mmtest.make_tmpdir("dmarc")
        self.addCleanup(mmtest.remove_tmpdir, d)
        user, group = mmtest.daemon_account()
        os.chown(d, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
        db = os.path.join(d, "dmarc.sqlite")
        conf = os.path.join(d, "mailmoat-dmarc.conf")
        with open(conf, "w") as f:
            f.write("on-dns-error = tempfail\n")
        pem, dkim_record = genkey(d)
        spf_args = ["--skip-networks", "", "--helo-reject", "no-check", "--mail-from-reject", "never",
                    "--authserv-id", AUTHSERV, "--dns-timeout", "1", "--dns-retries", "0"]
        dkim_args = ["--mode", "v", "--authserv-id", AUTHSERV]
        dmarc_args = ["--config", conf, "--authserv-id", AUTHSERV, "--spf-source", "headers", "--dkim-source", "headers",
                      "--store", "sqlite:" + db, "--trusted-arc-sealers", "lists.test", "--override-table", "inline:{ { lists.test = mailing_list list relay } }",
                      "--dns-timeout", "1", "--dns-retries", "0"]
        with mmtest.Sink() as sink, mmtest.DnsServer(zone(dkim_record)) as dns, \
                mmtest.Daemon("mailmoat-spf", spf_args + ["--dns-server", dns.address]) as spf, \
                mmtest.Daemon("mailmoat-dkim", dkim_args + ["--dns-server", dns.address], socket="unix") as dkimd, \
                mmtest.Daemon("mailmoat-dmarc", dmarc_args + ["--dns-server", dns.address], socket="unix") as dmarcd:
            params = {
                "smtpd_recipient_restrictions":
                    f"check_policy_service {spf.socket}, permit_mynetworks, reject_unauth_destination",
                "smtpd_milters": f"{dkimd.socket}, {dmarcd.socket}",
                "milter_default_action": "tempfail",
            }
            with mmtest.Postfix(sink.port, params) as pf:
                # 1. A forged From of a p=reject domain from an address its SPF does not authorise.
                code, text = send(pf, "ceo@reject.test", message("CEO <ceo@reject.test>", "forged"))
                self.assertEqual(code, 550, text)
                self.assertIn("5.7.1", text)
                self.assertIn("reject.test", text)

                # 2. Signed by signed.test (dkimpy), sent with a non-aligned MAIL FROM: DKIM alignment passes.
                raw = message("Alice <alice@signed.test>", "signed")
                sig = dkim.sign(raw, b"sel", b"signed.test", pem, include_headers=[b"from", b"to", b"subject", b"date"])
                self.assertEqual(send(pf, "bounce@bulk.test", sig + raw)[0], 250)

                # 3. SPF-aligned, unsigned.
                self.assertEqual(send(pf, "a@spfok.test", message("a@spfok.test", "spf aligned"))[0], 250)

                # 4. p=quarantine: held.
                self.assertEqual(send(pf, "q@quar.test", message("q@quar.test", "quarantined"))[0], 250)

                # 5. p=none: delivered, recorded.
                self.assertEqual(send(pf, "n@nopol.test", message("n@nopol.test", "no policy"))[0], 250)

                # 6. A p=reject failure through a mailing list named in the override table.
                self.assertEqual(send(pf, "bounces@lists.test", message("ceo@reject.test", "via list"))[0], 250)

                # 6b. The same through a list that ARC-seals (dkimpy) and is a trusted sealer.
                raw = message("ceo@reject.test", "via arc list",
                              "Authentication-Results: lists.test; dkim=pass header.d=reject.test\r\n")
                seal = b"".join(dkim.arc_sign(raw, b"sel", b"lists.test", pem, b"lists.test"))
                self.assertEqual(send(pf, "bounces@arclist.test", seal + raw)[0], 250)

                # 7. Absurd records: never a reject on their account.
                self.assertEqual(send(pf, "t@twice.test", message("t@twice.test", "two records"))[0], 250)
                self.assertEqual(send(pf, "j@junk.test", message("j@junk.test", "junk record"))[0], 250)

                # 8. 50 From headers.
                fifty = "".join(f"From: a{i}@spfok.test\r\n" for i in range(49))
                code, text = send(pf, "a@spfok.test", message("a@spfok.test", "fifty", fifty))
                self.assertEqual(code, 550, text)
                self.assertIn("5.7.1", text)

                # 9. A forged Authentication-Results claiming our authserv-id and a dkim pass for reject.test.
                forged = f"Authentication-Results: {AUTHSERV}; dkim=pass header.d=reject.test header.s=x; dmarc=pass\r\n"
                code, text = send(pf, "ceo@reject.test", forged.encode() + message("ceo@reject.test", "forged ar"))
                self.assertEqual(code, 550, text)

                # 10. The DMARC lookup times out: on-dns-error tempfail, then accept after SIGHUP.
                code, text = send(pf, "s@slow.test", message("s@slow.test", "slow one"))
                self.assertEqual(code, 451, text)
                self.assertIn("4.7.5", text)
                with open(conf, "w") as f:
                    f.write("on-dns-error = accept\n")
                os.kill(dmarcd.proc.pid, signal.SIGHUP)
                mmtest.wait_until(lambda: "configuration reloaded" in dmarcd.log(), 10, "mailmoat-dmarc to reload")
                self.assertEqual(send(pf, "s@slow.test", message("s@slow.test", "slow two"))[0], 250)
                # A bad configuration on SIGHUP: logged, the running one (accept) stays.
                with open(conf, "w") as f:
                    f.write("on-dns-error = sometimes\n")
                os.kill(dmarcd.proc.pid, signal.SIGHUP)
                mmtest.wait_until(lambda: "keeping the old configuration" in dmarcd.log(), 10, "mailmoat-dmarc to refuse")
                self.assertIn("on-dns-error", dmarcd.log())
                self.assertEqual(send(pf, "s@slow.test", message("s@slow.test", "slow three"))[0], 250)

                delivered = sink.wait_messages(9, timeout=30)
                by_subject = {m.header("Subject"): m for m in delivered}

                def dmarc_ar(subject):
                    m = by_subject[subject]
                    for v in m.msg.get_all("Authentication-Results") or []:
                        v = re.sub(r"\r?\n[ \t]+", " ", str(v))
                        if "dmarc=" in v:
                            return v
                    self.fail(f"no dmarc= Authentication-Results in {subject!r}: {m.headers()}")

                ar = dmarc_ar("signed")
                self.assertTrue(ar.startswith(AUTHSERV + ";"), ar)
                self.assertIn("dmarc=pass (p=reject dis=none) header.from=signed.test policy.dmarc=reject", ar)
                self.assertIn("dmarc=pass", dmarc_ar("spf aligned"))
                self.assertIn("header.from=spfok.test", dmarc_ar("spf aligned"))
                ar = dmarc_ar("no policy")
                self.assertIn("dmarc=fail (p=none dis=none", ar)
                ar = dmarc_ar("via list")
                self.assertIn("dmarc=fail (p=reject dis=none", ar)
                self.assertIn("override mailing_list", ar)
                ar = dmarc_ar("via arc list")
                self.assertIn("arc=pass", ar)
                self.assertIn("override trusted_forwarder", ar)
                self.assertRegex(dmarc_ar("two records"), r"dmarc=(none|permerror)")
                self.assertRegex(dmarc_ar("junk record"), r"dmarc=(none|permerror|fail)")
                self.assertIn("dmarc=temperror", dmarc_ar("slow two"))
                self.assertIn("dmarc=temperror", dmarc_ar("slow three"))
                self.assertNotIn("quarantined", by_subject)
                self.assertNotIn("forged", by_subject)
                self.assertNotIn("fifty", by_subject)

                # p=quarantine sits in the hold queue of the private instance.
                held = [q for q in pf.queue() if q.get("queue_name") == "hold"]
                self.assertEqual(len(held), 1, pf.queue())
                self.assertEqual(held[0]["sender"], "q@quar.test")

                # Every evaluation was recorded.
                recs = rows(db)
                by_from = {}
                for r in recs:
                    by_from.setdefault(r["header_from"], []).append(r)
                forged_rows = [r for r in by_from["reject.test"] if r["envelope_from"] == "reject.test"]
                self.assertEqual(len(forged_rows), 2, recs)  # the forged From and the forged A-R
                for r in forged_rows:
                    self.assertEqual((r["dmarc_result"], r["disposition"], r["p"]), ("fail", "reject", "reject"), r)
                    self.assertEqual(r["source_ip"], "127.0.0.1")
                [lst] = [r for r in by_from["reject.test"] if r["envelope_from"] == "lists.test"]
                self.assertEqual((lst["dmarc_result"], lst["disposition"]), ("fail", "none"))
                self.assertIn("mailing_list", lst["overrides"])
                [arc_row] = [r for r in by_from["reject.test"] if r["envelope_from"] == "arclist.test"]
                self.assertEqual((arc_row["dmarc_result"], arc_row["disposition"]), ("fail", "none"))
                self.assertIn("trusted_forwarder", arc_row["overrides"])
                [signed] = by_from["signed.test"]
                self.assertEqual((signed["dmarc_result"], signed["disposition"]), ("pass", "none"))
                self.assertIn("signed.test", signed["dkim"])
                self.assertIn("sel", signed["dkim"])
                [spfok] = by_from["spfok.test"]
                self.assertEqual(spfok["dmarc_result"], "pass")
                self.assertIn("pass", spfok["spf"])
                [quar] = by_from["quar.test"]
                self.assertEqual((quar["dmarc_result"], quar["disposition"], quar["p"]), ("fail", "quarantine", "quarantine"))
                [nopol] = by_from["nopol.test"]
                self.assertEqual((nopol["dmarc_result"], nopol["disposition"], nopol["p"]), ("fail", "none", "none"))
                self.assertNotIn("forged", [r["header_from"] for r in recs])
                # The tempfailed attempt is not recorded; the two accepted ones are.
                self.assertEqual([r["dmarc_result"] for r in by_from["slow.test"]], ["temperror", "temperror"])

                log = dmarcd.log()
                self.assertRegex(log, r"action=reject .*header_from=reject\.test")
                self.assertRegex(log, r"action=hold .*header_from=quar\.test")

                # The aggregate reports built from what the milter recorded validate against the RFC 9990
                # schema and count every recorded message of their policy domain.
                self.check_reports(d, db, recs)

    def check_reports(self, d, db, recs):
        out = os.path.join(d, "reports")
        os.mkdir(out)
        r = subprocess.run([mmtest.program_path("mailmoat"), "dmarc", "report", "--store", "sqlite:" + db,
                            "--org-name", "Receiver Test", "--email", "dmarc-noreply@receiver.test",
                            "--dry-run", "--output", out, "--until", "now"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        expected = {}
        for rec in recs:
            expected[rec["policy_domain"]] = expected.get(rec["policy_domain"], 0) + 1
        xsd = os.path.join(SRC, "tests", "data", "dmarc-schemas", "dmarc-xml-0.2.xsd")
        seen = {}
        for f in sorted(os.listdir(out)):
            if not f.endswith(".xml.gz"):
                continue
            domain = f.split("!")[1]
            path = os.path.join(out, f[:-3])
            with gzip.open(os.path.join(out, f), "rb") as g, open(path, "wb") as x:
                x.write(g.read())
            v = subprocess.run(["xmllint", "--noout", "--schema", xsd, path], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(v.returncode, 0, f"{f} does not validate: {v.stderr}")
            with open(path, encoding="utf-8") as x:
                xml = x.read()
            seen[domain] = sum(int(c) for c in re.findall(r"<count>(\d+)</count>", xml))
        # A dry run writes a report for every policy domain (mail without a policy has none); the
        # counts are those of the recorded rows.
        expected.pop("", None)
        self.assertIn("reject.test", seen, os.listdir(out))
        self.assertEqual(seen, expected)


if __name__ == "__main__":
    mmtest.run()
