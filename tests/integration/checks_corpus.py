# tests/integration/checks_corpus.py - a reproducible message corpus for header/body checks: plain and MIME
# messages, attached messages, folded headers, long lines and large parts, with and without trigger words.
import random

SUBJECTS = [
    "hello there", "meeting notes", "cheap pills inside", "please tempfail me", "reject plain now",
    "discard me quietly", "hold this one", "redirect me please", "bcc me too", "monthly replace me",
    "pass token here", "CaseSensitive word", "casesensitive word", "weekly report", "invoice 42",
]
HEADER_POOL = [
    "X-Junk: remove me", "X-Strip: strip me", "X-Mailer: MassMailer/2.0 (spam)", "X-Mailer: Thunderbird",
    "X-Info: note", "X-Warn: look", "X-Priority: 1 (Highest)", "X-Priority: 5", "X-Priority: urgent",
    "X-Dunno: yes", "X-Keep: kept", "X-Folded: first part\r\n second part", "X-Folded: only one line",
]
BODY_POOL = [
    "Hello,", "see you tomorrow", "buy now and save", "we sell viagra", "hold body please",
    "secret: hunter2", "drop this line", "mark line here", "redirect body", "bcc body", "pass body",
    "info body", "warn body", "dunno body", "strip this", "tempfail body", "regards",
    "a perfectly ordinary line", "--not-a-boundary", "",
]


def _body_lines(rng, n):
    return [rng.choice(BODY_POOL) for _ in range(n)]


def _headers(rng, i, subject):
    hs = [f"From: Sender {i} <s{i}@example.org>", "To: rcpt@example.net",
          f"Date: Tue, 01 Dec 2026 00:{i % 60:02d}:00 +0000", f"Message-ID: <m{i}.corpus@example.org>",
          f"Subject: {subject}"]
    for h in rng.sample(HEADER_POOL, rng.randint(0, 3)):
        hs.append(h)
    rng.shuffle(hs)
    return hs


def message(i, rng):
    """Message number i as (envelope sender, bytes)."""
    subject = rng.choice(SUBJECTS) if rng.random() < 0.6 else f"plain subject {i}"
    hs = _headers(rng, i, subject)
    kind = rng.choice(["plain", "plain", "multipart", "nested", "long", "large"])
    if kind == "plain":
        body = "\r\n".join(_body_lines(rng, rng.randint(1, 8))) + "\r\n"
    elif kind == "long":
        # a line over 2048 bytes with a trigger at the start of its second piece, or straddling it
        pad = 2048 if rng.random() < 0.5 else 2045
        body = "start\r\n" + "x" * pad + "NEEDLE and more\r\n" + "\r\n".join(_body_lines(rng, 2)) + "\r\n"
    elif kind == "large":
        # a trigger before or after body_checks_size_limit (51200 bytes)
        n = rng.choice([40, 60])
        body = "".join("y" * 999 + "\r\n" for _ in range(n)) + "late trigger\r\n"
    else:
        b = f"b{i}x"
        hs += ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{b}"']
        parts = []
        parts.append("Content-Type: text/plain\r\n" + ("X-Part-Tag: alpha\r\n" if rng.random() < 0.3 else "") +
                      ("X-Part-Drop: yes\r\n" if rng.random() < 0.2 else "") + "\r\n" +
                      "\r\n".join(_body_lines(rng, rng.randint(1, 4))) + "\r\n")
        if rng.random() < 0.15:
            parts.append("Content-Type: application/x-forbidden\r\n\r\nAAAA\r\n")
        if kind == "nested":
            inner = (f"From: inner{i}@example.com\r\nSubject: {rng.choice(SUBJECTS)}\r\n" +
                     ("X-Inner-Bad: 1\r\n" if rng.random() < 0.3 else "") +
                     "\r\n" + "\r\n".join(_body_lines(rng, 2)) + "\r\n")
            parts.append("Content-Type: message/rfc822\r\n\r\n" + inner)
        body = "prolog\r\n" + "".join(f"--{b}\r\n{p}" for p in parts) + f"--{b}--\r\nepilog\r\n"
    data = "\r\n".join(hs) + "\r\n\r\n" + body
    return f"m{i}@sender.example", data.encode("ascii")


def corpus(n=220, seed=8):
    rng = random.Random(seed)
    return [message(i, rng) for i in range(n)]
