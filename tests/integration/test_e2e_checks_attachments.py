#!/usr/bin/python3
# tests/integration/test_e2e_checks_attachments.py - mailmoat-checks attachment rules behind a real Postfix:
# an .exe inside a zip is rejected with the configured text, a harmless PDF passes, a disguised executable
# (.pdf name, MZ magic) is held, a nameless part with executable magic counts, and a zip bomb is judged
# from its headers in bounded time and logged. `mailmoat checks test` explains the same decisions.
import io
import os
import smtplib
import subprocess
import sys
import time
import zipfile
from email.message import EmailMessage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

RULES = """# attachment rules (mailmoat-checks.conf(5) ATTACHMENT RULES)
magic=executable location=archive REJECT 5.7.1 Executable inside an archive refused
ext=exe,com,scr,bat,js,vbs REJECT 5.7.1 Executable attachment refused
ext=pdf magic=!pdf HOLD disguised executable
magic=executable PREPEND X-Attachment-Warning: nameless executable part
archive=bomb REJECT 5.7.1 Archive expands too much
archive=encrypted,corrupt,limit WARN archive not fully inspected
"""

PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 48 + b"This program cannot be run in DOS mode." * 20
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def zipped(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files:
            z.writestr(name, data)
    return buf.getvalue()


def message(subject, attachments):
    m = EmailMessage()
    m["From"] = "a@example.org"
    m["To"] = "b@example.net"
    m["Subject"] = subject
    m["Message-ID"] = f"<{abs(hash(subject))}@example.org>"
    m.set_content("Please find the file attached.\n")
    for filename, maintype, subtype, data in attachments:
        if filename is None:
            part = EmailMessage()
            part.set_content(data, maintype=maintype, subtype=subtype)
            m.make_mixed()
            m.attach(part)
        else:
            m.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return m.as_bytes().replace(b"\n", b"\r\n")


def send(pf, data):
    try:
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=60) as s:
            s.ehlo("client.mailmoat.test")
            s.mail("s@example.org")
            s.rcpt("b@example.net")
            code, text = s.data(data)
    except smtplib.SMTPResponseException as e:
        code, text = e.smtp_code, e.smtp_error
    return code, text.decode() if isinstance(text, bytes) else text


class AttachmentRulesTest(mmtest.TestCase):
    def test_attachment_rules_through_postfix(self):
        tdir = mmtest.make_tmpdir("checks-attach")
        self.addCleanup(mmtest.remove_tmpdir, tdir)
        rules = os.path.join(tdir, "attachment_rules")
        with open(rules, "w") as f:
            f.write(RULES)
        os.chmod(rules, 0o644)
        # A bad rules file is refused by --check-config with FILE:LINE.
        bad = os.path.join(tdir, "bad_rules")
        with open(bad, "w") as f:
            f.write("ext=exe REJECT ok\nmagic=jpeg REJECT\n")
        r = subprocess.run([mmtest.program_path("mailmoat-checks"), "--config", "", "--attachment-rules", bad,
                            "--check-config"], capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f"{bad}:2: unknown magic type", r.stdout + r.stderr)

        exe_zip = message("exe in zip", [("documents.zip", "application", "zip",
                                          zipped([("readme.txt", b"hello"), ("bin/setup.exe", PE)]))])
        pdf = message("harmless pdf", [("report.pdf", "application", "pdf", PDF)])
        disguised = message("disguised", [("invoice.pdf", "application", "pdf", PE)])
        nameless = message("nameless", [(None, "application", "octet-stream", PE)])
        bomb_zip = zipped([("zeros.bin", b"\0" * (64 << 20))])
        self.assertLess(len(bomb_zip), 200000)
        bomb = message("bomb", [("bomb.zip", "application", "zip", bomb_zip)])

        args = ["--config", "", "--attachment-rules", rules]
        with mmtest.Sink() as sink, mmtest.Daemon("mailmoat-checks", args) as milter, \
                mmtest.Postfix(sink.port, {"smtpd_milters": milter.socket, "milter_default_action": "tempfail",
                                           "message_size_limit": "30000000"}) as pf:
            # An .exe inside a zip: rejected with the configured text, one log line naming the rule.
            self.assertEqual(send(pf, exe_zip), (550, "5.7.1 Executable inside an archive refused"))
            self.assertRegex(milter.log(), rf"check=attachment rule={rules}:2 action=REJECT .*"
                                           r'input="name=bin/setup.exe magic=exe in=documents.zip"')

            # A harmless PDF passes untouched.
            code, _ = send(pf, pdf)
            self.assertEqual(code, 250)
            [delivered] = sink.wait_messages(1)
            self.assertIn(b"report.pdf", delivered.raw)
            self.assertIsNone(delivered.header("X-Attachment-Warning"))

            # A disguised executable (.pdf name, MZ magic) is caught: held.
            code, text = send(pf, disguised)
            self.assertEqual(code, 250)
            qid = text.split()[-1]
            mmtest.wait_until(lambda: any(m["queue_id"] == qid and m["queue_name"] == "hold" for m in pf.queue()),
                              20, "the disguised executable in the hold queue")
            self.assertRegex(milter.log(), rf"rule={rules}:4 action=HOLD .*name=invoice.pdf type=application/pdf magic=exe")

            # A part without a file name but with executable magic counts.
            code, _ = send(pf, nameless)
            self.assertEqual(code, 250)
            sink.wait_messages(2)
            [m] = sink.find("nameless")
            self.assertEqual(m.header("X-Attachment-Warning"), "nameless executable part")

            # A zip bomb (64 MiB of zeros in a ~64 KiB zip): judged without inflating, bounded and logged.
            t0 = time.monotonic()
            self.assertEqual(send(pf, bomb), (550, "5.7.1 Archive expands too much"))
            self.assertLess(time.monotonic() - t0, 10)
            self.assertRegex(milter.log(), r"problem=\"?attachment bomb.zip: entry zeros.bin expands \d+ times")
            self.assertRegex(milter.log(), rf"rule={rules}:6 action=REJECT")
            self.assertIsNone(milter.proc.poll(), "the milter is still running")

        # The CLI explains the same decision without sending anything.
        path = os.path.join(tdir, "exe_zip.eml")
        with open(path, "wb") as f:
            f.write(exe_zip)
        r = subprocess.run([mmtest.program_path("mailmoat"), "checks", "test", "--attachment-rules", rules, path],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"attachment part=2 rule={rules}:2 action=REJECT", r.stdout)
        self.assertIn("decision: reject 550 5.7.1 Executable inside an archive refused", r.stdout)


if __name__ == "__main__":
    mmtest.run()
