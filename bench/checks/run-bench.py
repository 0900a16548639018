#!/usr/bin/python3
# bench/checks/run-bench.py - mailmoat-checks against Postfix's own body_checks with 10, 1,000 and 10,000
# body rules, in one run: (1) messages/s accepted over SMTP by a private Postfix without tables, with
# body_checks = pcre:TABLE, and with mailmoat-checks (same TABLE) as its milter; (2) the milter alone under
# mailmoat-milter-load. Prints a Markdown table for docs/bench/checks.md.
#
# Usage: /usr/bin/python3 bench/checks/run-bench.py [BUILD_DIR] [--duration SECONDS] [--rules 10,1000,10000]
# Needs root (private Postfix instances), postfix-pcre and a build with mailmoat-checks and
# mailmoat-milter-load.
import argparse
import os
import random
import re
import smtplib
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))


def make_rules(n, seed=1):
    """n body_checks rules in the forms admins write (words, phrases, anchored, alternations); none of
    them matches the benchmark messages, so every rule is tried by a rule-by-rule engine."""
    rng = random.Random(seed)

    def w():
        return "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(rng.randint(6, 10)))
    forms = [lambda: f"/\\b{w()}\\b/ REJECT spam word",
             lambda: f"/{w()}\\s+{w()}/ REJECT spam phrase",
             lambda: f"/^{w()}.*{w()}/ REJECT spam line",
             lambda: f"/(?:{w()}|{w()})[0-9]+/ REJECT spam code",
             lambda: f"/{w()}/i REJECT case-sensitive word"]
    return "".join(rng.choice(forms)() + "\n" for _ in range(n))


def make_message(i, size=4096):
    line = "The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
    body = (line * (size // len(line) + 1))[:size]
    return (f"From: bench@example.org\r\nTo: rcpt@example.net\r\nSubject: bench {i}\r\n"
            f"Message-ID: <{i}.{time.time_ns()}@bench.example>\r\nDate: Tue, 01 Dec 2026 00:00:00 +0000\r\n\r\n"
            + body).encode()


def smtp_load(port, duration, connections=4):
    """Sends messages over `connections` SMTP connections for `duration` seconds; returns messages/s."""
    counts = [0] * connections
    errors = [0] * connections
    deadline = time.monotonic() + duration

    def worker(k):
        s = None
        n = 0
        while time.monotonic() < deadline:
            try:
                if s is None:
                    s = smtplib.SMTP("127.0.0.1", port, timeout=120)
                    s.ehlo("bench.example")
                s.sendmail("bench@example.org", ["rcpt@example.net"], make_message(k * 1000000 + n))
                counts[k] += 1
            except (smtplib.SMTPException, OSError):
                errors[k] += 1
                s = None
            n += 1
            if n % 50 == 0 and s is not None:  # stay below smtpd's per-session limits
                s.quit()
                s = None
        if s is not None:
            s.quit()
    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    return sum(counts) / wall, sum(errors)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default=os.path.join(SOURCE, "build"))
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--rules", default="10,1000,10000")
    ap.add_argument("--milter-messages", type=int, default=2000)
    a = ap.parse_args()
    os.environ["MAILMOAT_BUILD_DIR"] = os.path.abspath(a.build)
    sys.path.insert(0, os.path.join(SOURCE, "tests", "integration"))
    import mmtest  # noqa: E402
    load = mmtest.program_path("mailmoat-milter-load")
    counts = [int(x) for x in a.rules.split(",")]
    tdir = mmtest.make_tmpdir("bench-checks")
    rows = []
    try:
        with mmtest.Sink() as sink, mmtest.Postfix(sink.port, {"smtpd_client_connection_count_limit": "0"}) as bare:
            smtp_load(bare.port, 0.01)
            base, err = smtp_load(bare.port, a.duration)
            print(f"postfix without tables: {base:.1f} msgs/s (errors {err})", flush=True)
        for n in counts:
            table = os.path.join(tdir, f"body_{n}.pcre")
            with open(table, "w") as f:
                f.write(make_rules(n))
            os.chmod(table, 0o644)
            with mmtest.Sink() as sink, mmtest.Postfix(sink.port, {"body_checks": f"pcre:{table}"}) as pf:
                # Warm-up: one message per connection, so that every cleanup process has compiled the
                # table before the timed run (as the milter has before it accepts connections).
                smtp_load(pf.port, 0.01)
                native, err_a = smtp_load(pf.port, a.duration)
            # Started by hand rather than with mmtest.Daemon: compiling 10,000 rules takes longer than its
            # --check-config bound on a loaded machine.
            sock = f"inet:127.0.0.1:{mmtest.free_port()}"
            t0 = time.monotonic()
            proc = mmtest.spawn([mmtest.program_path("mailmoat-checks"), "--foreground", "--config", "", "--socket", sock,
                                 "--body-checks", f"pcre:{table}", "--log-level", "warning", "--match-time-limit", "0"],
                                "mailmoat-checks", stdin=subprocess.DEVNULL)
            try:
                mmtest.wait_until(lambda: proc.poll() is not None or mmtest.can_connect(sock), 900, "mailmoat-checks")
                startup = time.monotonic() - t0
                with mmtest.Sink() as sink, mmtest.Postfix(sink.port, {"smtpd_milters": sock,
                                                                       "milter_default_action": "tempfail"}) as pf:
                    smtp_load(pf.port, 0.01)
                    viamilter, err_b = smtp_load(pf.port, a.duration)
                r = subprocess.run([load, "--socket", sock, "--connections", "4", "--messages",
                                    str(a.milter_messages // 4), "--size", "4096"], capture_output=True, text=True,
                                   timeout=600)
            finally:
                mmtest.stop_process(proc, "mailmoat-checks")
            m = re.search(r"msgs_per_s=(\d+)", r.stdout)
            p50 = re.search(r"p50_ms=([\d.]+)", r.stdout)
            direct = float(m.group(1)) if m else 0.0
            rows.append((n, native, viamilter, direct, p50.group(1) if p50 else "?", startup))
            print(f"{n} rules: postfix body_checks {native:.1f} msgs/s (errors {err_a}), postfix + mailmoat-checks "
                  f"{viamilter:.1f} msgs/s (errors {err_b}), milter alone {direct:.0f} msgs/s p50 "
                  f"{rows[-1][4]} ms, milter startup {startup:.1f} s", flush=True)
    finally:
        mmtest.remove_tmpdir(tdir)
    with open("/proc/loadavg") as f:
        loadavg = f.read().split()[:3]
    print(f"\nload average at the end: {' '.join(loadavg)}; Postfix without tables: {base:.1f} msgs/s\n")
    print("| body rules | Postfix body_checks msgs/s | Postfix + mailmoat-checks msgs/s | mailmoat-checks alone msgs/s (p50 ms) | milter start s |")
    print("|---|---|---|---|---|")
    for n, native, viamilter, direct, p50, startup in rows:
        print(f"| {n:,} | {native:.1f} | {viamilter:.1f} | {direct:,.0f} ({p50}) | {startup:.1f} |")
    mmtest._cleanup_all()


if __name__ == "__main__":
    main()
