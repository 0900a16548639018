#!/usr/bin/python3
# tests/integration/test_dmarc_failure_reports.py - mailmoat-dmarc failure (ruf) reports through a real
# Postfix with a test DNS zone. With failure-reports off (the default) a DMARC-failing message produces
# nothing; after a SIGHUP turned them on, the same message (fo=1) produces one AFRF report (RFC 6591,
# RFC 9991) at the ruf mailbox (the Sink), parsed back with Python's email package: multipart/report with
# a feedback-report part and the original header fields only (no body), local-parts redacted. fo=d reports
# a broken DKIM signature but not an SPF failure, fo=s the other way round; a third-party ruf without its
# _report._dmarc record gets nothing while one with it gets its report. One log line per report.
import email
import email.parser
import email.policy
import email.utils
import grp
import os
import pwd
import re
import signal
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

import dkim  # noqa: E402  (python3-dkim, dkimpy)

AUTHSERV = "mx.mailmoat.test"
MARKER = "BODY-MARKER-7f3a"


def genkey(d):
    _, pem, record = mmtest.dkim_key(d)
    return pem, record


zone_txt = mmtest.zone_txt


def zone(dkim_record):
    z = "$ORIGIN test.\n$TTL 300\n@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n"
    z += zone_txt("_dmarc.fo1", "v=DMARC1; p=reject; fo=1; ruf=mailto:ruf@fo1.test")
    z += zone_txt("fo1", "v=spf1 -all")
    z += zone_txt("_dmarc.fod", "v=DMARC1; p=none; fo=d; ruf=mailto:ruf@fod.test")
    z += zone_txt("fod", "v=spf1 ip4:127.0.0.1 -all")
    z += zone_txt("sel._domainkey.fod", dkim_record)
    z += zone_txt("_dmarc.fos", "v=DMARC1; p=none; fo=s; ruf=mailto:ruf@fos.test")
    z += zone_txt("fos", "v=spf1 ip4:127.0.0.1 -all")
    z += zone_txt("sel._domainkey.fos", dkim_record)
    z += zone_txt("bounce", "v=spf1 -all")
    z += zone_txt("sel._domainkey.esp", dkim_record)
    # Third-party report addresses: only authz.test has authorised reports.elsewhere.test.
    z += zone_txt("_dmarc.third", "v=DMARC1; p=reject; fo=1; ruf=mailto:ruf@reports.elsewhere.test")
    z += zone_txt("third", "v=spf1 -all")
    z += zone_txt("_dmarc.authz", "v=DMARC1; p=reject; fo=1; ruf=mailto:ruf@reports.elsewhere.test")
    z += zone_txt("authz", "v=spf1 -all")
    z += zone_txt("authz.test._report._dmarc.reports.elsewhere", "v=DMARC1")
    return z


def send(pf, mail_from, data, rcpt="user@example.net"):
    try:
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=60) as s:
            s.ehlo("client.mailmoat.test")
            s.sendmail(mail_from, [rcpt], data)
        return 250, ""
    except smtplib.SMTPDataError as e:
        return e.smtp_code, e.smtp_error.decode(errors="replace")


def message(from_header, subject):
    return (f"From: {from_header}\r\nTo: Some User <user@example.net>\r\nCc: other.person@example.net\r\n"
            f"Subject: {subject}\r\nDate: {email.utils.formatdate()}\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}@mailmoat.test>\r\n"
            f"List-Unsubscribe: <https://lists.example.net/u?id=1>\r\n\r\nHello. {MARKER}\r\n").encode()


def signed(pem, domain, raw, break_body=False):
    sig = dkim.sign(raw, b"sel", domain.encode(), pem, include_headers=[b"from", b"to", b"subject", b"date"])
    if break_body:
        raw = raw.replace(b"Hello.", b"Hello, changed on the way.")
    return sig + raw


def reports(sink):
    return [m for m in sink.messages() if m.msg.get_content_type() == "multipart/report"]


def feedback_fields(part):
    """The message/feedback-report part's fields as a dict (email parses it as an embedded message)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return dict(payload[0].items())
    return dict(email.parser.HeaderParser().parsestr(payload).items())


class FailureReports(mmtest.TestCase):
    def test_failure_reports_through_postfix(self):
        d = mmtest.make_tmpdir("dmarc-ruf")
        self.addCleanup(mmtest.remove_tmpdir, d)
        user, group = mmtest.daemon_account()
        os.chown(d, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
        conf = os.path.join(d, "mailmoat-dmarc.conf")
        with open(conf, "w") as f:
            f.write("# failure-reports is off by default\n")
        os.chmod(conf, 0o644)
        pem, dkim_record = genkey(d)
        args = ["--config", conf, "--authserv-id", AUTHSERV, "--spf-source", "self", "--dkim-source", "self",
                "--store", "none", "--dns-timeout", "2", "--dns-retries", "0"]
        with mmtest.Sink() as sink, mmtest.DnsServer(zone(dkim_record)) as dns, \
                mmtest.Daemon("mailmoat-dmarc", args + ["--dns-server", dns.address], socket="unix") as dmarcd:
            params = {"smtpd_milters": dmarcd.socket, "milter_default_action": "tempfail"}
            with mmtest.Postfix(sink.port, params) as pf:
                # 1. Off (the default): a forged fo=1 message is rejected and nothing is reported.
                code, text = send(pf, "ceo@fo1.test", message("CEO <ceo@fo1.test>", "forged while off"))
                self.assertEqual(code, 550, text)
                time.sleep(2)
                pf.wait_idle()
                self.assertEqual(reports(sink), [])
                self.assertNotIn("action=failure-report", dmarcd.log())

                # 2. On, reports delivered by SMTP through the same Postfix (SIGHUP reload).
                with open(conf, "w") as f:
                    f.write("failure-reports = yes\nfailure-reports-on-none = yes\n"
                            "failure-reports-sender = dmarc-noreply@receiver.test\n"
                            f"failure-reports-smtp = 127.0.0.1:{pf.port}\n")
                os.kill(dmarcd.proc.pid, signal.SIGHUP)
                mmtest.wait_until(lambda: "configuration reloaded" in dmarcd.log(), 10, "mailmoat-dmarc to reload")

                code, text = send(pf, "ceo@fo1.test", message("CEO <ceo@fo1.test>", "forged while on"))
                self.assertEqual(code, 550, text)
                # fo=d: a broken third-party signature reports (SPF passes aligned); a broken SPF does not.
                self.assertEqual(send(pf, "x@fod.test", signed(pem, "esp.test", message("x@fod.test", "fod broken dkim"), True))[0], 250)
                self.assertEqual(send(pf, "b@bounce.test", signed(pem, "fod.test", message("x@fod.test", "fod failed spf")))[0], 250)
                # fo=s: the other way round.
                self.assertEqual(send(pf, "b@bounce.test", signed(pem, "fos.test", message("x@fos.test", "fos failed spf")))[0], 250)
                self.assertEqual(send(pf, "x@fos.test", signed(pem, "esp.test", message("x@fos.test", "fos broken dkim"), True))[0], 250)
                # Third-party ruf: without the _report._dmarc record nothing, with it the report.
                self.assertEqual(send(pf, "a@third.test", message("a@third.test", "third party"))[0], 550)
                self.assertEqual(send(pf, "a@authz.test", message("a@authz.test", "authorised third party"))[0], 550)

                # The worker sends in order: once authz.test's report is in, every earlier one was decided.
                mmtest.wait_until(lambda: any(feedback_fields(r.msg.get_payload()[1]).get("Reported-Domain") == "authz.test"
                                              for r in reports(sink)), 30, "the authz.test failure report")
                pf.wait_idle()
                got = reports(sink)
                by_domain = {}
                for r in got:
                    by_domain.setdefault(feedback_fields(r.msg.get_payload()[1])["Reported-Domain"], []).append(r)
                self.assertEqual(sorted(by_domain), ["authz.test", "fo1.test", "fod.test", "fos.test"], got)
                for dom, rs in by_domain.items():
                    self.assertEqual(len(rs), 1, (dom, rs))

                # fo=1: the AFRF structure, parsed back with the email package.
                [r] = by_domain["fo1.test"]
                self.assertEqual(r.rcpt_to, ["ruf@fo1.test"])
                self.assertEqual(r.mail_from, "dmarc-noreply@receiver.test")
                m = r.msg
                self.assertEqual(m.get_param("report-type"), "feedback-report")
                parts = m.get_payload()
                self.assertEqual([p.get_content_type() for p in parts],
                                 ["text/plain", "message/feedback-report", "text/rfc822-headers"])
                fb = feedback_fields(parts[1])
                self.assertEqual(fb["Feedback-Type"], "auth-failure")
                self.assertEqual(fb["Version"], "1")
                self.assertEqual(fb["Auth-Failure"], "dmarc")
                self.assertEqual(fb["Identity-Alignment"], "spf")
                self.assertEqual(fb["Source-IP"], "127.0.0.1")
                self.assertEqual(fb["Delivery-Result"], "reject")
                self.assertTrue(fb["User-Agent"].startswith("mailmoat-dmarc/"))
                self.assertIn("dmarc=fail", fb["Authentication-Results"])
                self.assertIn('SPF-DNS', fb)
                self.assertIn('"v=spf1 -all"', fb["SPF-DNS"])
                self.assertRegex(fb["Original-Mail-From"], r"^<[A-Za-z0-9+/=]{16}@fo1\.test>$")
                self.assertTrue(fb.get("Original-Envelope-Id"))
                original = email.parser.HeaderParser().parsestr(parts[2].get_payload())
                self.assertEqual(original["Subject"], "forged while on")
                self.assertRegex(original["From"], r"^CEO <[A-Za-z0-9+/=]{16}@fo1\.test>$")
                self.assertRegex(original["To"], r"^Some User <[A-Za-z0-9+/=]{16}@example\.net>$")
                self.assertRegex(original["Cc"], r"^[A-Za-z0-9+/=]{16}@example\.net$")
                self.assertEqual(original["Message-ID"], "<forged-while-on@mailmoat.test>")
                self.assertIn("hxxps://lists.example.net/", original["List-Unsubscribe"])
                raw = r.raw.decode("utf-8", "replace")
                for secret in ("ceo@", "user@", "other.person@", MARKER, "Hello."):
                    self.assertNotIn(secret, raw)

                # fo=d and fo=s: the mechanism's own Auth-Failure.
                [rd] = by_domain["fod.test"]
                fb = feedback_fields(rd.msg.get_payload()[1])
                self.assertEqual(fb["Auth-Failure"], "bodyhash")
                self.assertEqual(fb["DKIM-Domain"], "esp.test")
                self.assertEqual(fb["DKIM-Selector"], "sel")
                self.assertEqual(fb["Delivery-Result"], "delivered")
                self.assertEqual(email.parser.HeaderParser().parsestr(rd.msg.get_payload()[2].get_payload())["Subject"],
                                 "fod broken dkim")
                [rs] = by_domain["fos.test"]
                fb = feedback_fields(rs.msg.get_payload()[1])
                self.assertEqual(fb["Auth-Failure"], "spf")
                self.assertIn("bounce.test", fb["SPF-DNS"])
                self.assertEqual(email.parser.HeaderParser().parsestr(rs.msg.get_payload()[2].get_payload())["Subject"],
                                 "fos failed spf")
                [ra] = by_domain["authz.test"]
                self.assertEqual(ra.rcpt_to, ["ruf@reports.elsewhere.test"])

                # One log line per report: four sent, third.test's refused for want of its record.
                log = dmarcd.log()
                self.assertEqual(len(re.findall(r"action=failure-report result=sent", log)), 4, log[-3000:])
                refused = [line for line in log.splitlines() if "result=dropped" in line]
                self.assertEqual(len(refused), 1, refused)
                self.assertIn("domain=third.test", refused[0])
                self.assertIn("reason=external_not_authorized", refused[0])


if __name__ == "__main__":
    mmtest.run()
