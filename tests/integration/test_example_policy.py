# tests/integration/test_example_policy.py - mailmoat-example-policy as a real daemon: answers, log lines,
# malformed input, SIGHUP reload and SIGTERM shutdown, over a UNIX socket and over TCP on a free port.
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("MAILMOAT_BUILD_DIR", "build")
PROGRAM = os.path.join(BUILD, "examples", "policy", "mailmoat-example-policy")


def fail(message):
    raise AssertionError(message)


def privilege_args():
    return ["--user", "mailmoat", "--group", "mailmoat"] if os.geteuid() == 0 else []


def connect(family, address, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(5.0)
        try:
            s.connect(address)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def query(sock, attrs):
    sock.sendall("".join(f"{k}={v}\n" for k, v in attrs).encode() + b"\n")
    return read_reply(sock)


def read_reply(sock):
    data = b""
    while not data.endswith(b"\n\n"):
        chunk = sock.recv(4096)
        if not chunk:
            return None
        data += chunk
    lines = data.decode().split("\n")
    actions = [l[len("action="):] for l in lines if l.startswith("action=")]
    if len(actions) != 1:
        fail(f"reply without exactly one action: {data!r}")
    return actions[0]


def rcpt(recipient, state="RCPT", queue_id="4F1A2B3C", sender="alice@example.org"):
    return [("request", "smtpd_access_policy"), ("protocol_state", state), ("protocol_name", "ESMTP"),
            ("queue_id", queue_id), ("client_address", "192.0.2.25"), ("client_name", "mx.example.org"),
            ("helo_name", "mx.example.org"), ("sender", sender), ("recipient", recipient),
            ("instance", "a1b.5f3e.1")]


def wait_for_log(path, needle, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path, encoding="utf-8", errors="replace") as f:
            if needle in f.read():
                return
        time.sleep(0.05)
    with open(path, encoding="utf-8", errors="replace") as f:
        fail(f"log lacks {needle!r}:\n{f.read()}")


def check_answers(sock):
    expected = [
        (rcpt("rejectme@example.net"), "REJECT 5.7.1 example policy rejects <rejectme@example.net>"),
        (rcpt("Reject.Other@example.net"), "REJECT 5.7.1 example policy rejects <Reject.Other@example.net>"),
        (rcpt("deferred@example.net"), "DEFER_IF_PERMIT 4.7.1 example policy defers <deferred@example.net>"),
        (rcpt("bob@example.net"), "DUNNO"),
        (rcpt("bob@reject.example.net"), "DUNNO"),  # the domain does not count, only the local part
        (rcpt("rejectme@example.net", state="MAIL"), "DUNNO"),  # only RCPT decides
        (rcpt("", state="CONNECT", queue_id=""), "DUNNO"),
    ]
    for attrs, want in expected:
        got = query(sock, attrs)
        if got != want:
            fail(f"{attrs}: expected {want!r}, got {got!r}")


def run(tmp, socket_arg, family, address, unix_path=None):
    log_path = os.path.join(tmp, "daemon.log")
    base = [PROGRAM, "--config", "", "--socket", socket_arg] + privilege_args()
    check = subprocess.run(base + ["--check-config"], capture_output=True, text=True, timeout=30)
    if check.returncode != 0 or "configuration OK" not in check.stdout:
        fail(f"--check-config failed: {check.stdout}{check.stderr}")
    bad = subprocess.run([PROGRAM, "--config", "", "--socket", "tcp:nowhere"], capture_output=True, text=True,
                         timeout=30)
    if bad.returncode != 78:
        fail(f"a bad socket must exit 78, got {bad.returncode}: {bad.stderr}")

    with open(log_path, "w") as log:
        proc = subprocess.Popen(base + ["--foreground", "--log-level", "info"], stdout=log, stderr=log)
    try:
        sock = connect(family, address)
        check_answers(sock)
        wait_for_log(log_path, "4F1A2B3C: state=RCPT client=mx.example.org[192.0.2.25] from=<alice@example.org> "
                               "to=<rejectme@example.net> action=\"REJECT 5.7.1 example policy rejects <rejectme@example.net>\"")
        wait_for_log(log_path, "to=<bob@example.net> action=DUNNO")

        # SIGHUP: reloaded, and the same persistent connection keeps working.
        proc.send_signal(signal.SIGHUP)
        wait_for_log(log_path, "configuration reloaded")
        if proc.poll() is not None:
            fail("daemon died on SIGHUP")
        check_answers(sock)

        # A malformed request: the safe answer, then the connection is closed; the daemon lives on.
        bad_sock = connect(family, address)
        bad_sock.sendall(b"request=smtpd_access_policy\nthis line has no equals sign\n\n")
        if read_reply(bad_sock) != "DUNNO":
            fail("malformed request did not get DUNNO")
        if bad_sock.recv(100) != b"":
            fail("connection stayed open after a malformed request")
        bad_sock.close()
        wait_for_log(log_path, "malformed policy request")
        check_answers(sock)
        sock.close()

        # SIGTERM: a clean exit.
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10)
        if rc != 0:
            fail(f"exit status {rc} after SIGTERM")
        wait_for_log(log_path, "stopped requests=")
        if unix_path is not None and os.path.exists(unix_path):
            fail("UNIX socket left behind after a clean stop")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    if not os.access(PROGRAM, os.X_OK):
        fail(f"{PROGRAM} not built")
    tmp = tempfile.mkdtemp(prefix="mm-example-policy-")
    try:
        os.chmod(tmp, 0o755)
        if os.geteuid() == 0:  # as in /run/mailmoat: the daemon's user may remove its socket at stop
            import pwd
            pw = pwd.getpwnam("mailmoat")
            os.chown(tmp, pw.pw_uid, pw.pw_gid)
        path = os.path.join(tmp, "policy.sock")
        run(tmp, "unix:" + path, socket.AF_UNIX, path, unix_path=path)
        port = free_port()
        run(tmp, f"inet:127.0.0.1:{port}", socket.AF_INET, ("127.0.0.1", port))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("example policy: all checks passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
