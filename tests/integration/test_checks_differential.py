#!/usr/bin/python3
# tests/integration/test_checks_differential.py - the same header_checks/body_checks tables and the same
# 220-message corpus through Postfix's own header_checks/body_checks (one private Postfix) and through
# mailmoat-checks (a second private Postfix with the milter): the SMTP replies, the hold queue, the
# recipients and the delivered headers and bodies must be identical for every message.
import os
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checks_corpus  # noqa: E402
import mmtest  # noqa: E402

DATA = os.path.join(mmtest.SOURCE_DIR, "tests", "data", "checks")
HEADER = os.path.join(DATA, "header_checks.pcre")
BODY = os.path.join(DATA, "body_checks.pcre")
RCPT = "rcpt@example.net"


def send_all(pf, messages):
    """SMTP-sends every message on its own connection; returns {sender: (code, text)}."""
    out = {}
    for sender, data in messages:
        try:
            with smtplib.SMTP("127.0.0.1", pf.port, timeout=30) as s:
                s.ehlo("client.mailmoat.test")
                s.mail(sender)
                s.rcpt(RCPT)
                code, text = s.data(data)
        except smtplib.SMTPResponseException as e:
            code, text = e.smtp_code, e.smtp_error
        text = text.decode() if isinstance(text, bytes) else text
        # The queue id differs between the instances.
        out[sender] = (code, "queued" if code == 250 else text)
    return out


def settle(pf, timeout=40):
    """Waits until only held messages remain; returns {sender: sorted recipients} of the hold queue."""
    def only_held():
        q = pf.queue()
        return q if all(m["queue_name"] == "hold" for m in q) else None
    mmtest.wait_until(lambda: only_held() is not None, timeout, "the queue to hold only held mail", interval=0.3)
    return {m["sender"]: sorted(r["address"] for r in m["recipients"]) for m in pf.queue()}


def deliveries(sink):
    """{sender: (sorted recipients over all deliveries, headers without Received, body)}."""
    out = {}
    for m in sink.messages():
        rcpts, _, _ = out.get(m.mail_from, ([], None, None))
        raw = m.raw.replace(b"\r\n", b"\n")
        head, _, body = raw.partition(b"\n\n")
        lines = head.decode("ascii", "replace").split("\n")
        headers, cur = [], None
        for ln in lines:
            if ln[:1] in (" ", "\t") and cur is not None:
                cur += "\n" + ln
                continue
            if cur is not None:
                headers.append(cur)
            cur = ln
        if cur is not None:
            headers.append(cur)
        headers = [h for h in headers if not h.lower().startswith("received:")]
        out[m.mail_from] = (sorted(rcpts + m.rcpt_to), headers, body)
    return out


class ChecksDifferentialTest(mmtest.TestCase):
    def test_postfix_and_mailmoat_checks_decide_alike(self):
        messages = checks_corpus.corpus(220)
        self.assertGreaterEqual(len(messages), 200)
        native_params = {"header_checks": f"pcre:{HEADER}", "body_checks": f"pcre:{BODY}"}
        args = ["--header-checks", f"pcre:{HEADER}", "--body-checks", f"pcre:{BODY}", "--log-level", "info"]
        with mmtest.Sink() as sink_a, mmtest.Sink() as sink_b, \
                mmtest.Daemon("mailmoat-checks", args) as milter, \
                mmtest.Postfix(sink_a.port, native_params) as native, \
                mmtest.Postfix(sink_b.port, {"smtpd_milters": milter.socket,
                                             "milter_default_action": "tempfail"}) as viamilter:
            t0 = time.monotonic()
            replies_a = send_all(native, messages)
            replies_b = send_all(viamilter, messages)
            held_a, held_b = settle(native), settle(viamilter)
            # Postfix applies REDIRECT when it delivers, so held mail shows its original recipients there:
            # release the hold queues and compare what is delivered.
            for pf in (native, viamilter):
                pf._run(["/usr/sbin/postsuper", "-c", pf.config_dir, "-H", "ALL"])
            for pf in (native, viamilter):
                pf.wait_idle(timeout=40)
            held_a, held_b = set(held_a), set(held_b)
            time.sleep(0.5)
            got_a, got_b = deliveries(sink_a), deliveries(sink_b)
            sys.stderr.write(f"sent {2 * len(messages)} messages in {time.monotonic() - t0:.1f} s\n")

            differences = []
            for sender, _ in messages:
                a = (replies_a[sender], sender in held_a, got_a.get(sender))
                b = (replies_b[sender], sender in held_b, got_b.get(sender))
                if a != b:
                    differences.append(f"{sender}:\n  postfix: {a}\n  mailmoat-checks: {b}")
            self.assertEqual(differences, [], "\n".join(differences[:10]))

            # The corpus and tables really exercise every action on both sides.
            kinds = {
                "reject 5xx": sum(1 for c, _ in replies_a.values() if c == 550),
                "reject 4xx": sum(1 for c, _ in replies_a.values() if c == 451),
                "held": len(held_a),
                "discarded": sum(1 for s, _ in messages if replies_a[s][0] == 250 and s not in got_a),
                "redirected": sum(1 for v in got_a.values() if "trap@example.net" in v[0] or "bodytrap@example.net" in v[0]),
                "bcc": sum(1 for v in got_a.values() if "archive@example.net" in v[0] or "bodyarchive@example.net" in v[0]),
                "prepended": sum(1 for v in got_a.values() if any(h.startswith("X-Mailer-Seen:") for h in v[1])),
                "replaced": sum(1 for v in got_a.values() if any(h.startswith("Subject: [replaced]") for h in v[1])),
                "body replaced": sum(1 for v in got_a.values() if b"[redacted]" in v[2]),
                "body prepended": sum(1 for v in got_a.values() if b">> marked" in v[2]),
                "part header replaced": sum(1 for v in got_a.values() if b"X-Part-Tag: seen-alpha" in v[2]),
            }
            sys.stderr.write(f"decisions: {kinds}\n")
            for k, n in kinds.items():
                self.assertGreater(n, 0, f"no message exercised {k}")
            log = milter.log()
            for action in ("IGNORE", "STRIP", "INFO", "WARN", "PASS", "DUNNO"):
                self.assertIn(f"action={action}", log)


if __name__ == "__main__":
    mmtest.run()
