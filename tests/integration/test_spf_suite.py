#!/usr/bin/python3
# tests/integration/test_spf_suite.py - the RFC 7208 and RFC 4408 SPF test suites (Debian python3-spf)
# run through Postfix's policy protocol against a running mailmoat-spf, each scenario's zone data
# served by the test DNS server (tests/support/dnsd.py).
#
# A case passes when the daemon's answer carries one of the suite's listed results (Received-SPF
# result, or a 550 5.7.23 reject for fail with the suite's explanation when it gives one).
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import yaml

BUILD = os.environ["MAILMOAT_BUILD_DIR"]
SRC = os.environ["MAILMOAT_SOURCE_DIR"]
SPF = os.path.join(BUILD, "policyd", "spf", "mailmoat-spf")
DNSD = os.path.join(SRC, "tests", "support", "dnsd.py")
SUITES = "/usr/share/doc/python3-spf"

# RFC 4408 cases whose RFC 7208 answer differs on purpose (the RFC 7208 answer is ours). Empty
# unless a run shows otherwise; each entry says why.
RFC4408_DIFFERENCES = {}


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise RuntimeError(f"timed out waiting for {what}")


def zone_records(zonedata):
    """JSON records for dnsd.py, served as the suite's reference driver (pyspf testspf.py) serves them:
    SPF (type 99) records are copied to TXT when a name lists no TXT record ("auto-magic duplication",
    see the suite's header comment); "NONE" stands for no record; TIMEOUT names never answer."""
    out = []
    for name, recs in zonedata.items():
        has_txt = any(isinstance(r, dict) and "TXT" in r for r in recs)
        out.append({"name": name, "type": "NAME"})  # the name exists even when it has no records
        for r in recs:
            if isinstance(r, str):  # "TIMEOUT"
                out.append({"name": name, "type": r})
                continue
            for rtype, value in r.items():
                if rtype == "TIMEOUT":
                    out.append({"name": name, "type": "TIMEOUT"})
                elif rtype == "MX":
                    out.append({"name": name, "type": "MX", "data": [value[0], value[1]]})
                elif rtype in ("TXT", "SPF"):
                    vals = value if isinstance(value, list) else [value]
                    vals = [v.decode("latin-1") if isinstance(v, bytes) else v for v in vals]
                    if vals == ["NONE"]:
                        continue
                    out.append({"name": name, "type": rtype, "data": vals})
                    if rtype == "SPF" and not has_txt:
                        out.append({"name": name, "type": "TXT", "data": vals})
                else:
                    out.append({"name": name, "type": rtype, "data": value})
    return out


def can_connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


class Proc:
    def __init__(self, args, log):
        self.p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def policy_query(sock_path, attrs):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sock_path)
    s.sendall(("".join(f"{k}={v}\n" for k, v in attrs.items()) + "\n").encode("utf-8", "surrogateescape"))
    data = b""
    while not data.endswith(b"\n\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    line = data.decode("utf-8", "replace").strip()
    assert line.startswith("action="), line
    return line[len("action="):]


def result_of(action):
    """(result, explanation) from the daemon's action."""
    if action.startswith("550 5.7.23 "):
        return "fail", action[len("550 5.7.23 "):]
    if action.startswith("PREPEND Received-SPF: "):
        return action.split()[2], None
    return "unparsed:" + action, None


def run_suite(path, tmp, differences):
    docs = list(yaml.safe_load_all(gzip.open(path)))
    passed = failed = 0
    failures = []
    for n, scenario in enumerate(docs):
        sdir = os.path.join(tmp, f"{os.path.basename(path).split('-')[0]}-s{n}")
        os.makedirs(sdir)
        zone = os.path.join(sdir, "zone.json")
        with open(zone, "w", encoding="utf-8") as f:
            json.dump(zone_records(scenario.get("zonedata") or {}), f)
        log = open(os.path.join(sdir, "log"), "w+")
        port_file = os.path.join(sdir, "dns.port")
        dnsd = Proc(["/usr/bin/python3", DNSD, "--zone", zone, "--port-file", port_file], log)
        spfd = None
        try:
            wait_for(lambda: os.path.exists(port_file), 15, "dnsd")
            port = open(port_file).read().strip()
            sock = os.path.join(sdir, "spf.sock")
            args = [SPF, "--foreground", "--config", "", "--socket", "unix:" + sock,
                    "--dns-server", f"127.0.0.1:{port}", "--dns-timeout", "1", "--dns-retries", "0",
                    "--time-budget", "20s", "--helo-reject", "no-check", "--mail-from-reject", "fail",
                    "--header", "received-spf", "--authserv-id", "receiver.test",
                    "--default-explanation", "DEFAULT",
                    "--user", "nobody", "--group", "nogroup", "--log-level", "debug"]
            check = subprocess.run(args + ["--check-config"], capture_output=True, text=True)
            assert check.returncode == 0, check.stdout + check.stderr
            spfd = Proc(args, log)
            wait_for(lambda: can_connect(sock), 10, "mailmoat-spf socket")
            for name, case in scenario["tests"].items():
                expected = case["result"] if isinstance(case["result"], list) else [case["result"]]
                attrs = {
                    "request": "smtpd_access_policy", "protocol_state": "RCPT", "protocol_name": "ESMTP",
                    "client_address": case["host"], "client_name": "unknown",
                    "helo_name": case.get("helo", ""), "sender": case.get("mailfrom", ""),
                    "recipient": "postmaster@receiver.test", "instance": f"{n}.{name}", "queue_id": "",
                }
                action = policy_query(sock, attrs)
                got, expl = result_of(action)
                ok = got in expected
                if ok and got == "fail" and "explanation" in case and expl is not None:
                    # SMTP reply text is sanitised: runs of spaces become one.
                    ok = " ".join(expl.split()) == " ".join(case["explanation"].split())
                listed = differences.get(name)
                if listed:
                    if ok:
                        failures.append(f"{name}: listed as a difference but now passes; remove it")
                        failed += 1
                    else:
                        passed += 1
                    continue
                if ok:
                    passed += 1
                else:
                    failed += 1
                    failures.append(f"{name}: expected {expected} {case.get('explanation', '')!r}, got {action!r}")
        finally:
            if spfd:
                spfd.stop()
            dnsd.stop()
            log.close()
    return passed, failed, failures


def main():
    if not os.path.exists(SPF):
        print(f"missing {SPF}")
        return 1
    tmp = tempfile.mkdtemp(prefix="mm-spf-suite-")
    os.chmod(tmp, 0o755)
    status = 0
    try:
        for suite, diffs in (("rfc7208-tests.yml.gz", {}), ("rfc4408-tests.yml.gz", RFC4408_DIFFERENCES)):
            p, f, failures = run_suite(os.path.join(SUITES, suite), tmp, diffs)
            for line in failures:
                print("FAIL", suite, line)
            print(f"{suite}: {p} passed, {f} failed ({len(diffs)} listed RFC 7208 differences)")
            if f:
                status = 1
    finally:
        if os.environ.get("MAILMOAT_KEEP_TMP"):
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
