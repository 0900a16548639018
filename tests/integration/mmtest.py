# tests/integration/mmtest.py - integration test bed: private Postfix, SMTP sink, test DNS, mailmoat daemons.
#
# Every class is a context manager that starts its peer on 127.0.0.1, on a free port, inside a private
# temporary directory, and on exit (also on an exception or SIGTERM/SIGINT) stops exactly the processes
# it started - SIGTERM to the process group it created, SIGKILL after a bound - and removes its files.
#
#   Postfix    a private Postfix instance (own config, queue and data directories, log file via postlogd)
#   Sink       an SMTP server that stores every delivered message (Postfix relays to it)
#   DnsServer  tests/support/dnsd.py serving zone text
#   Daemon     a mailmoat program from MAILMOAT_BUILD_DIR, validated with --check-config first
#   swaks()    one SMTP transaction against Postfix, returning the exit code and the whole dialogue
#
# Runs under Debian's /usr/bin/python3 (stdlib only; dnsd.py uses python3-dnslib). Needs root: Postfix's
# master runs as root. See docs/notes/testbed.md.
import atexit
import base64
import contextlib
import email
import email.policy
import grp
import itertools
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import unittest

SOURCE_DIR = os.environ.get("MAILMOAT_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.environ.get("MAILMOAT_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
KEEP = os.environ.get("MMTEST_KEEP") == "1"   # keep temp dirs for debugging (processes still stop)

DAEMON_USER = "mailmoat"    # created by scripts/deps (system user and group)
POSTFIX_DAEMON_DIR = "/usr/lib/postfix/sbin"
STOP_GRACE = 5.0            # seconds between SIGTERM and SIGKILL


class TestBedError(RuntimeError):
    """A peer could not be started or did not behave; the message says which and why."""


# ---------------------------------------------------------------------------------------------------
# Process and temp-dir bookkeeping: everything started is registered and torn down at exit or signal.

_lock = threading.Lock()
_procs = {}     # pid -> (Popen, name)
_tmpdirs = []


def _register(proc, name):
    with _lock:
        _procs[proc.pid] = (proc, name)


def group_members(pgid):
    """PIDs of the live (not zombie) processes in process group pgid."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is the state, fields[2] the process group (stat fields 3 and 5).
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            pids.append(int(entry))
    return pids


def _group_alive(pgid):
    # Orphaned children become zombies until init reaps them; a zombie has ended.
    return bool(group_members(pgid))


def stop_process(proc, name="process", grace=STOP_GRACE, group_grace=None):
    """SIGTERM the process group led by proc (every process here starts in its own session), wait up
    to grace seconds for the leader and the group to end, then SIGKILL what is left. group_grace, when
    given, bounds the wait for the rest of the group once the leader has exited. Returns the leader's
    exit status."""
    pgid = proc.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    leader_gone = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            if not _group_alive(pgid):
                break
            leader_gone = leader_gone or time.monotonic()
            if group_grace is not None and time.monotonic() - leader_gone > group_grace:
                break
        time.sleep(0.02)
    if proc.poll() is None:
        sys.stderr.write(f"mmtest: {name} (pid {pgid}) did not stop within {grace}s, SIGKILL\n")
    if proc.poll() is None or _group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        # SIGKILL is delivered asynchronously; orphans are reaped by init.
        with contextlib.suppress(TestBedError):
            wait_until(lambda: not _group_alive(pgid), grace, f"{name} process group to end", 0.01)
    rc = proc.wait(timeout=grace)
    with _lock:
        _procs.pop(proc.pid, None)
    return rc


def spawn(argv, name, **kw):
    """Popen in a new session (so the whole group can be stopped), registered for cleanup."""
    proc = subprocess.Popen(argv, start_new_session=True, **kw)
    _register(proc, name)
    return proc


def make_tmpdir(prefix):
    """A private temporary directory that processes running as other users can traverse (0755)."""
    d = tempfile.mkdtemp(prefix=f"mmtest-{prefix}-")
    os.chmod(d, 0o755)
    with _lock:
        _tmpdirs.append(d)
    return d


def remove_tmpdir(d):
    with _lock:
        if d in _tmpdirs:
            _tmpdirs.remove(d)
    if KEEP:
        sys.stderr.write(f"mmtest: kept {d}\n")
        return
    shutil.rmtree(d, ignore_errors=True)


def _cleanup_all():
    with _lock:
        procs = list(_procs.values())
    for proc, name in procs:
        with contextlib.suppress(Exception):
            stop_process(proc, name)
    with _lock:
        dirs = list(_tmpdirs)
    for d in dirs:
        remove_tmpdir(d)


atexit.register(_cleanup_all)


def _on_signal(signum, _frame):
    # Unwinds through every context manager's __exit__ (unittest lets KeyboardInterrupt through and
    # stops the run); atexit covers anything left.
    raise KeyboardInterrupt(f"signal {signum}")


for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    if signal.getsignal(_sig) in (signal.SIG_DFL, signal.default_int_handler):
        signal.signal(_sig, _on_signal)


# ---------------------------------------------------------------------------------------------------
# Small helpers

def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dkim_key(d, name="signer", algorithm="RSA", bits=2048):
    """A new DKIM key pair in d/NAME.pem (mode 0600): (path, PEM bytes, the TXT record for its selector).
    algorithm is RSA or ED25519 (RFC 8463 §4: the record carries the raw 32-byte public key)."""
    path = os.path.join(d, name + ".pem")
    args = ["openssl", "genpkey", "-algorithm", algorithm, "-out", path]
    if algorithm == "RSA":
        args += ["-pkeyopt", f"rsa_keygen_bits:{bits}"]
    subprocess.run(args, check=True, capture_output=True)
    os.chmod(path, 0o600)
    der = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    if algorithm == "ED25519":
        record = f"v=DKIM1; k=ed25519; p={base64.b64encode(der[-32:]).decode()}"
    else:
        record = f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
    with open(path, "rb") as f:
        pem = f.read()
    return path, pem, record


def zone_txt(name, record):
    """A zone-file TXT line for NAME, the record split into strings of at most 200 octets."""
    parts = [record[i:i + 200] for i in range(0, len(record), 200)]
    return f"{name} IN TXT " + " ".join(f'"{p}"' for p in parts) + "\n"


def wait_until(predicate, timeout, what, interval=0.05):
    """Polls predicate() until it returns a true value (returned) or raises TestBedError after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TestBedError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def can_connect(spec):
    """True when a stream socket "inet:HOST:PORT" or "unix:/path" accepts a connection."""
    kind, _, rest = spec.partition(":")
    try:
        if kind == "unix":
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(1)
                s.connect(rest)
        else:
            host, _, port = rest.rpartition(":")
            with socket.create_connection((host, int(port)), timeout=1):
                pass
        return True
    except OSError:
        return False


def _tail(path, lines=40):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def require_root():
    if os.geteuid() != 0:
        raise TestBedError("integration tests need root (a private Postfix master runs as root)")


def daemon_account():
    """(user, group) the mailmoat daemons run as in tests; scripts/deps creates them."""
    try:
        pwd.getpwnam(DAEMON_USER)
        grp.getgrnam(DAEMON_USER)
    except KeyError:
        raise TestBedError(f"system user/group '{DAEMON_USER}' missing: run scripts/deps as root") from None
    return DAEMON_USER, DAEMON_USER


# ---------------------------------------------------------------------------------------------------
# Sink: an SMTP server that stores messages

class SinkMessage:
    """One delivered message: envelope, raw bytes and the parsed email.message.EmailMessage."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.raw = f.read()
        with open(path[:-4] + ".env", encoding="utf-8") as f:
            env = json.load(f)
        self.mail_from = env["mail_from"]
        self.rcpt_to = env["rcpt_to"]
        self.helo = env["helo"]
        self.msg = email.message_from_bytes(self.raw, policy=email.policy.compat32)

    def header(self, name):
        """The first header named name (unfolded), or None."""
        v = self.msg.get(name)
        return None if v is None else re.sub(r"\r?\n[ \t]+", " ", str(v))

    def headers(self):
        """[(name, unfolded value)] in message order."""
        return [(k, re.sub(r"\r?\n[ \t]+", " ", str(v))) for k, v in self.msg.items()]

    def __repr__(self):
        return f"SinkMessage({self.path}, from={self.mail_from!r}, to={self.rcpt_to!r})"


class _SinkHandler(socketserver.StreamRequestHandler):
    timeout = 30
    MAX_LINE = 10000
    MAX_MESSAGE = 10 * 1024 * 1024

    def reply(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        with contextlib.suppress(ConnectionError, TimeoutError):
            self._session()

    def _session(self):
        sink = self.server.sink
        self.reply("220 sink.mailmoat.test ESMTP mmtest sink")
        helo, mail_from, rcpts = "", None, []
        while True:
            line = self.rfile.readline(self.MAX_LINE)
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd[:4].upper()
            if verb in ("EHLO", "HELO"):
                helo = cmd[5:].strip()
                mail_from, rcpts = None, []
                if verb == "EHLO":
                    self.reply("250-sink.mailmoat.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760")
                else:
                    self.reply("250 sink.mailmoat.test")
            elif verb == "MAIL":
                m = re.match(r"(?i)MAIL FROM:\s*<([^>]*)>", cmd)
                if not m:
                    self.reply("501 5.5.4 syntax")
                    continue
                mail_from, rcpts = m.group(1), []
                self.reply("250 2.1.0 ok")
            elif verb == "RCPT":
                m = re.match(r"(?i)RCPT TO:\s*<([^>]*)>", cmd)
                if mail_from is None or not m:
                    self.reply("503 5.5.1 need MAIL / syntax")
                    continue
                rcpts.append(m.group(1))
                self.reply("250 2.1.5 ok")
            elif verb == "DATA":
                if not rcpts:
                    self.reply("503 5.5.1 need RCPT")
                    continue
                self.reply("354 go ahead")
                data, size = [], 0
                while True:
                    dl = self.rfile.readline(self.MAX_LINE)
                    if not dl:
                        return
                    if dl in (b".\r\n", b".\n"):
                        break
                    if dl.startswith(b"."):
                        dl = dl[1:]
                    size += len(dl)
                    if size <= self.MAX_MESSAGE:
                        data.append(dl)
                if size > self.MAX_MESSAGE:
                    self.reply("552 5.3.4 too big")
                else:
                    sink._store(helo, mail_from, rcpts, b"".join(data))
                    self.reply("250 2.0.0 stored")
                mail_from, rcpts = None, []
            elif verb == "RSET":
                mail_from, rcpts = None, []
                self.reply("250 2.0.0 ok")
            elif verb == "NOOP":
                self.reply("250 2.0.0 ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 bye")
                return
            else:
                self.reply("502 5.5.2 not implemented")


class _SinkServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class Sink:
    """SMTP server on 127.0.0.1:<port> storing each message as NNNN.eml with envelope in NNNN.env."""

    def __init__(self):
        self.dir = None
        self.port = None
        self._server = None
        self._thread = None
        self._count = itertools.count(1)
        self._cond = threading.Condition()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self.dir = make_tmpdir("sink")
        self._server = _SinkServer(("127.0.0.1", 0), _SinkHandler)
        self._server.sink = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="sink", daemon=True)
        self._thread.start()

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None
        if self.dir:
            remove_tmpdir(self.dir)
            self.dir = None

    def _store(self, helo, mail_from, rcpts, data):
        with self._cond:
            n = next(self._count)
            base = os.path.join(self.dir, f"{n:04d}")
            with open(base + ".env", "w", encoding="utf-8") as f:
                json.dump({"helo": helo, "mail_from": mail_from, "rcpt_to": rcpts}, f)
            with open(base + ".eml", "wb") as f:
                f.write(data)
            self._cond.notify_all()

    def messages(self):
        """Every stored message, in arrival order."""
        with self._cond:
            names = sorted(n for n in os.listdir(self.dir) if n.endswith(".eml"))
            return [SinkMessage(os.path.join(self.dir, n)) for n in names]

    def wait_messages(self, n, timeout=20):
        """Waits until at least n messages arrived; returns all of them. TestBedError on timeout."""
        wait_until(lambda: len(self.messages()) >= n, timeout, f"{n} message(s) at the sink")
        return self.messages()

    def find(self, subject):
        """The delivered messages whose Subject equals subject."""
        return [m for m in self.messages() if m.header("Subject") == subject]


# ---------------------------------------------------------------------------------------------------
# DnsServer: tests/support/dnsd.py

class DnsServer:
    """tests/support/dnsd.py serving the given zones. zones: a zone text or a list of texts.
    .port, .address ("127.0.0.1:PORT"), .queries() -> ["NAME TYPE", ...]."""

    def __init__(self, zones):
        self.zones = [zones] if isinstance(zones, str) else list(zones)
        self.dir = None
        self.proc = None
        self.port = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        self.dir = make_tmpdir("dns")
        argv = ["/usr/bin/python3", os.path.join(SOURCE_DIR, "tests", "support", "dnsd.py"),
                "--port-file", os.path.join(self.dir, "port"), "--log", os.path.join(self.dir, "queries")]
        for i, text in enumerate(self.zones):
            path = os.path.join(self.dir, f"zone{i}.txt")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            argv += ["--zone", path]
        self._stderr = os.path.join(self.dir, "stderr")
        with open(self._stderr, "wb") as err:
            self.proc = spawn(argv, "dnsd", stdin=subprocess.DEVNULL, stdout=err, stderr=err)

        def ready():
            if self.proc.poll() is not None:
                raise TestBedError(f"dnsd exited with {self.proc.returncode}: {_tail(self._stderr)}")
            return os.path.exists(os.path.join(self.dir, "port"))
        wait_until(ready, 15, "dnsd to listen")
        with open(os.path.join(self.dir, "port"), encoding="utf-8") as f:
            self.port = int(f.read())

    def stop(self):
        if self.proc:
            stop_process(self.proc, "dnsd")
            self.proc = None
        if self.dir:
            remove_tmpdir(self.dir)
            self.dir = None

    def queries(self):
        try:
            with open(os.path.join(self.dir, "queries"), encoding="utf-8") as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []


# ---------------------------------------------------------------------------------------------------
# Postfix: a private instance

_MASTER_CF = """\
# master.cf of a private test instance: nothing chrooted, smtpd on one loopback port.
{listen} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """A private Postfix instance relaying everything to relay_port (normally a Sink's port).

    params: main.cf settings the test wants (mynetworks, smtpd_milters, non_smtpd_milters,
    milter_default_action, smtpd_recipient_restrictions, ...); they override the defaults below.
    Attributes once started: port (smtpd), config_dir, queue_dir, log_path, syslog_name."""

    def __init__(self, relay_port, params=None, master_cf_extra="", check=False):
        require_root()
        self.relay_port = relay_port
        self.params = dict(params or {})
        self.master_cf_extra = master_cf_extra
        self.check = check or os.environ.get("MMTEST_POSTFIX_CHECK") == "1"
        self.check_output = None
        self.dir = None
        self.proc = None
        self.port = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and not issubclass(exc_type, KeyboardInterrupt) and self.dir:
            sys.stderr.write(f"--- postfix log ({self.log_path}) ---\n{_tail(self.log_path, 60)}\n")
        self.stop()

    def main_cf(self):
        d = self.dir
        base = {
            "compatibility_level": "3.6",
            "config_directory": self.config_dir,
            "queue_directory": self.queue_dir,
            "data_directory": os.path.join(d, "data"),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "syslog_name": self.syslog_name,
            "maillog_file": self.log_path,
            "maillog_file_prefixes": d,
            "myhostname": "mx.mailmoat.test",
            "mydomain": "mailmoat.test",
            "myorigin": "mailmoat.test",
            "mydestination": "",
            "local_recipient_maps": "",
            "local_transport": "error:local delivery is disabled",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relayhost": f"[127.0.0.1]:{self.relay_port}",
            "smtp_dns_support_level": "disabled",
            "smtp_host_lookup": "native",
            "smtpd_peername_lookup": "no",
            "biff": "no",
            "alias_maps": "",
            "alias_database": "",
            "append_dot_mydomain": "no",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "delay_warning_time": "0",
            "bounce_queue_lifetime": "1m",
            "maximal_queue_lifetime": "1m",
            "in_flow_delay": "0",
            "smtpd_banner": "$myhostname ESMTP mmtest",
            "smtp_tls_security_level": "none",
            "smtpd_tls_security_level": "none",
            "milter_connect_timeout": "10s",
            "milter_command_timeout": "10s",
            "milter_content_timeout": "20s",
        }
        base.update(self.params)
        return "".join(f"{k} = {v}\n" for k, v in base.items())

    def start(self):
        """Starts the instance; on any failure everything is stopped and removed before raising."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        self.dir = make_tmpdir("postfix")
        self.config_dir = os.path.join(self.dir, "etc")
        self.queue_dir = os.path.join(self.dir, "spool")
        self.log_path = os.path.join(self.dir, "maillog")
        self.syslog_name = "mmtest-" + secrets.token_hex(4)
        os.mkdir(self.config_dir, 0o755)
        os.mkdir(self.queue_dir, 0o755)
        for attempt in range(5):
            self.port = free_port()
            with open(os.path.join(self.config_dir, "main.cf"), "w", encoding="utf-8") as f:
                f.write(self.main_cf())
            with open(os.path.join(self.config_dir, "master.cf"), "w", encoding="utf-8") as f:
                f.write(_MASTER_CF.format(listen=f"127.0.0.1:{self.port}") + self.master_cf_extra)
            if attempt == 0:
                self._make_queue()
                if self.check:
                    # Postfix's own integrity check (2-4 s): verifies the layout made above and main.cf.
                    r = self._run(["/usr/sbin/postfix", "-c", self.config_dir, "check"])
                    self.check_output = r.stdout + r.stderr
                    if r.returncode != 0:
                        raise TestBedError(f"postfix check failed:\n{self.check_output}")
            self._master_out = os.path.join(self.dir, "master.out")
            with open(self._master_out, "ab") as out:
                # -d: stay in the foreground, so the process group we create holds every Postfix process.
                self.proc = spawn([os.path.join(POSTFIX_DAEMON_DIR, "master"), "-c", self.config_dir, "-d"],
                                  "postfix master", stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                  env=self._env())
            wait_until(lambda: self.proc.poll() is not None or can_connect(f"inet:127.0.0.1:{self.port}"),
                       20, "Postfix smtpd to listen")
            if self.proc.poll() is None:
                return
            # The port was taken between free_port() and bind: try another one.
            text = _tail(self._master_out) + _tail(self.log_path)
            stop_process(self.proc, "postfix master")
            self.proc = None
            if "Address already in use" not in text:
                raise TestBedError(f"postfix master exited:\n{text}")
        raise TestBedError("postfix: no free port after 5 attempts")

    def _make_queue(self):
        """The queue and data directories with the owners and modes of Postfix 3.7's postfix-files
        (what `postfix check` would create, without its 2-4 s of scripts)."""
        pf = pwd.getpwnam("postfix").pw_uid
        postdrop = grp.getgrnam("postdrop").gr_gid
        layout = [(n, pf, 0, 0o700) for n in ("active", "bounce", "corrupt", "defer", "deferred", "flush",
                                               "hold", "incoming", "private", "saved", "trace")]
        layout += [("maildrop", pf, postdrop, 0o730), ("public", pf, postdrop, 0o710), ("pid", 0, 0, 0o755)]
        for name, uid, gid, mode in layout:
            path = os.path.join(self.queue_dir, name)
            os.mkdir(path)
            os.chown(path, uid, gid)
            os.chmod(path, mode)
        data = os.path.join(self.dir, "data")
        os.mkdir(data)
        os.chown(data, pf, 0)
        os.chmod(data, 0o700)

    def stop(self):
        if self.proc:
            # The master passes SIGTERM to its children; the queue is thrown away, so children that
            # linger (they notice the master's exit only on their next timer) are killed after 0.3 s.
            stop_process(self.proc, "postfix master", grace=10, group_grace=0.3)
            self.proc = None
        if self.dir:
            remove_tmpdir(self.dir)
            self.dir = None

    def _env(self):
        env = dict(os.environ)
        env["MAIL_CONFIG"] = self.config_dir
        return env

    def _run(self, argv, input=None, timeout=30):
        return subprocess.run(argv, input=input, capture_output=True, timeout=timeout, env=self._env(),
                              text=isinstance(input, str) or input is None)

    def postconf(self, *args):
        """postconf -c CONFIG ARGS...; returns stdout. With "name=value" arguments it edits main.cf
        (use reload() afterwards)."""
        r = self._run(["/usr/sbin/postconf", "-c", self.config_dir, *args])
        if r.returncode != 0:
            raise TestBedError(f"postconf {args}: {r.stderr}")
        return r.stdout

    def reload(self):
        """Re-reads main.cf and master.cf (SIGHUP to master). Processes already running (an idle smtpd)
        keep the old settings until they exit, so prefer giving settings to the constructor."""
        os.kill(self.proc.pid, signal.SIGHUP)
        self.wait_log(r"master\[\d+\]: reload")

    def log_lines(self, pattern=None):
        """Lines of this instance's log (maillog_file), optionally only those matching regex pattern."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        if pattern is None:
            return lines
        rx = re.compile(pattern)
        return [ln for ln in lines if rx.search(ln)]

    def wait_log(self, pattern, timeout=20):
        """Waits for a log line matching regex pattern; returns the matching lines."""
        return wait_until(lambda: self.log_lines(pattern), timeout, f"postfix log line /{pattern}/")

    def postqueue(self):
        """Output of postqueue -p (empty queue prints "Mail queue is empty")."""
        r = self._run(["/usr/sbin/postqueue", "-c", self.config_dir, "-p"])
        return r.stdout + r.stderr

    def queue(self):
        """The queued messages as postqueue -j objects (queue_name, queue_id, sender, recipients...)."""
        r = self._run(["/usr/sbin/postqueue", "-c", self.config_dir, "-j"])
        if r.returncode != 0:
            raise TestBedError(f"postqueue -j: {r.stderr}")
        return [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]

    def flush(self):
        self._run(["/usr/sbin/postqueue", "-c", self.config_dir, "-f"])

    def wait_idle(self, timeout=20):
        """Waits until the queue is empty (every accepted message delivered or bounced)."""
        wait_until(lambda: not self.queue(), timeout, "the Postfix queue to empty", interval=0.2)

    def sendmail(self, message, sender, recipients, timeout=30):
        """Submits message (str or bytes) with /usr/sbin/sendmail (the non_smtpd_milters path).
        Returns subprocess.CompletedProcess; raises TestBedError when sendmail fails."""
        data = message.encode() if isinstance(message, str) else message
        r = subprocess.run(["/usr/sbin/sendmail", "-C", self.config_dir, "-i", "-f", sender, "--", *recipients],
                           input=data, capture_output=True, timeout=timeout, env=self._env())
        if r.returncode != 0:
            raise TestBedError(f"sendmail exited {r.returncode}: {r.stderr.decode(errors='replace')}")
        return r

    def queue_ids(self, pattern):
        """Queue ids of log lines matching pattern (e.g. "cleanup.*message-id=<x@y>")."""
        ids = []
        for ln in self.log_lines(pattern):
            m = re.search(r"\]: ([0-9A-F]{6,}): ", ln)
            if m:
                ids.append(m.group(1))
        return ids


# ---------------------------------------------------------------------------------------------------
# Daemon: a mailmoat program

def program_path(name):
    """Path of a built mailmoat program, searched under MAILMOAT_BUILD_DIR; TestBedError if missing."""
    for root, _dirs, files in os.walk(BUILD_DIR):
        if name in files and os.access(os.path.join(root, name), os.X_OK) and "CMakeFiles" not in root:
            return os.path.join(root, name)
    raise TestBedError(f"program {name} not found under {BUILD_DIR} (is it built?)")


class Daemon:
    """A mailmoat program run with --foreground and args.

    socket: "inet" (a free 127.0.0.1 port, default), "unix" (a socket in a private directory that
    Postfix can reach), or an explicit spec. .socket is then the spec to give Postfix (inet:127.0.0.1:PORT
    or unix:/path). Runs --check-config with the same arguments first and raises if it fails.
    When root, runs as the mailmoat user/group (--user/--group) unless args already say otherwise."""

    def __init__(self, program, args=(), socket="inet", name=None, ready_timeout=15):
        self.program = program
        self.args = list(args)
        self.socket_kind = socket
        self.name = name or program
        self.ready_timeout = ready_timeout
        self.dir = None
        self.proc = None
        self.socket = None
        self.check_output = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            if not issubclass(exc_type, KeyboardInterrupt) and self.dir:
                sys.stderr.write(f"--- {self.name} stderr ---\n{_tail(self.log_path, 60)}\n")
            self.stop()
            return
        # A daemon must end cleanly on SIGTERM; a crash or a sanitizer report at exit fails the test.
        # The log is read after the process ended, so that what it wrote while exiting (a leak
        # report, a fatal error) is in the message.
        rc = None
        if self.proc:
            rc = stop_process(self.proc, self.name)
            self.proc = None
        log = self.log()
        self.stop()
        if rc != 0 or "Sanitizer" in log or "runtime error:" in log:
            raise TestBedError(f"{self.name} exited with status {rc} on SIGTERM:\n{log[-4000:]}")

    def argv(self):
        path = program_path(self.program)
        argv = [path, "--socket", self.socket]
        if self.socket.startswith("unix:"):
            argv += ["--socket-owner", f"{DAEMON_USER}:postfix", "--socket-mode", "0660"]
        if os.geteuid() == 0 and "--user" not in self.args:
            user, group = daemon_account()
            argv += ["--user", user, "--group", group]
        return argv + self.args

    def start(self):
        """Starts the daemon; on any failure everything is stopped and removed before raising
        (a `with` block does not call __exit__ when __enter__ raises)."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        self.dir = make_tmpdir("daemon")
        self.log_path = os.path.join(self.dir, "stderr")
        for attempt in range(3):
            if self.socket_kind == "inet":
                self.socket = f"inet:127.0.0.1:{free_port()}"
            elif self.socket_kind == "unix":
                sockdir = os.path.join(self.dir, "sock")
                if not os.path.isdir(sockdir):
                    os.mkdir(sockdir, 0o750)
                if os.geteuid() == 0:
                    user, _ = daemon_account()
                    # The daemon (as mailmoat) may create the socket; Postfix (group postfix) must reach it.
                    os.chown(sockdir, pwd.getpwnam(user).pw_uid, grp.getgrnam("postfix").gr_gid)
                self.socket = f"unix:{sockdir}/{self.name}.sock"
            else:
                self.socket = self.socket_kind
            argv = self.argv()
            r = subprocess.run(argv + ["--check-config"], capture_output=True, text=True, timeout=30)
            self.check_output = r.stdout + r.stderr
            if r.returncode != 0:
                raise TestBedError(f"{self.name} --check-config exited {r.returncode}:\n{self.check_output}")
            with open(self.log_path, "ab") as err:
                self.proc = spawn(argv + ["--foreground"], self.name, stdin=subprocess.DEVNULL,
                                  stdout=err, stderr=err)
            if wait_until(lambda: self.proc.poll() is not None or can_connect(self.socket), self.ready_timeout,
                          f"{self.name} to accept connections on {self.socket}"):
                if self.proc.poll() is None:
                    return
            log = _tail(self.log_path)
            stop_process(self.proc, self.name)
            self.proc = None
            # The free port was taken before the daemon bound it: try another one.
            if self.socket_kind != "inet" or "in use" not in log:
                raise TestBedError(f"{self.name} exited before accepting connections:\n{log}")
        raise TestBedError(f"{self.name}: no free port after 3 attempts")

    def stop(self):
        """Stops the daemon (SIGTERM, SIGKILL after a bound); returns its exit status or None."""
        rc = None
        if self.proc:
            rc = stop_process(self.proc, self.name)
            self.proc = None
        if self.dir:
            remove_tmpdir(self.dir)
            self.dir = None
        return rc

    def log(self):
        """The daemon's stderr log so far."""
        return _tail(self.log_path, 100000) if self.dir else ""


# ---------------------------------------------------------------------------------------------------
# Redis

class Redis:
    """A private redis-server on 127.0.0.1:port (optionally with requirepass), no persistence, stopped by
    pid. .url(db) is the store URL the daemons take; start() again after stop() reuses the port."""

    def __init__(self, port=None, password=None):
        self.port = port or free_port()
        self.password = password
        self.dir = None
        self.proc = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def url(self, db=0):
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/{db}"

    def start(self):
        self.dir = make_tmpdir("redis")
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", self.dir, "--daemonize", "no"]
        if self.password:
            argv += ["--requirepass", self.password]
        log = open(os.path.join(self.dir, "log"), "ab")
        try:
            self.proc = spawn(argv, "redis-server", stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        finally:
            log.close()
        wait_until(lambda: self.proc.poll() is not None or can_connect(f"inet:127.0.0.1:{self.port}"),
                   10, "redis-server to listen")
        if self.proc.poll() is not None:
            raise TestBedError("redis-server exited:\n" + open(os.path.join(self.dir, "log")).read())

    def cli(self, *args, db=0):
        """redis-cli against this server; returns its stdout."""
        argv = ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "-n", str(db), "--no-auth-warning"]
        if self.password:
            argv += ["-a", self.password]
        return subprocess.run(argv + list(args), capture_output=True, text=True, timeout=30, check=True).stdout

    def stop(self):
        if self.proc:
            stop_process(self.proc, "redis-server")
            self.proc = None
        if self.dir:
            remove_tmpdir(self.dir)
            self.dir = None


# ---------------------------------------------------------------------------------------------------
# swaks

class SwaksResult:
    """exit code and dialogue of one swaks run. replies: [(code, text)] of every server reply line."""

    def __init__(self, code, dialogue):
        self.code = code
        self.dialogue = dialogue
        self.replies = []
        for ln in dialogue.splitlines():
            m = re.match(r"^\s*<(?:-|\*\*)\s+(\d{3})[ -](.*)$", ln)
            if m:
                self.replies.append((m.group(1), m.group(2)))

    @property
    def accepted(self):
        """True when swaks finished the transaction without error."""
        return self.code == 0

    def find_reply(self, code_prefix, text=None):
        """The first reply whose code starts with code_prefix ("4", "55", "250") and contains text."""
        for code, t in self.replies:
            if code.startswith(code_prefix) and (text is None or text in t):
                return code, t
        return None

    def queue_id(self):
        """The queue id from Postfix's "250 2.0.0 Ok: queued as QID" reply, or None."""
        for _code, t in self.replies:
            m = re.search(r"queued as (\S+)", t)
            if m:
                return m.group(1)
        return None

    def __str__(self):
        return f"swaks exit {self.code}\n{self.dialogue}"


def swaks(postfix, to="user@example.net", sender="sender@example.org", subject="mmtest", body="Hello.\n",
          headers=(), extra=(), helo="client.mailmoat.test", timeout=60):
    """One SMTP transaction against postfix (a Postfix or a port). Returns SwaksResult; never raises
    for an SMTP error reply (check .code / .find_reply)."""
    port = postfix.port if hasattr(postfix, "port") else int(postfix)
    argv = ["swaks", "--server", "127.0.0.1", "--port", str(port), "--to", to, "--from", sender,
            "--helo", helo, "--header", f"Subject: {subject}", "--body", body, "--timeout", "30"]
    for h in headers:
        argv += ["--add-header", h]
    argv += list(extra)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return SwaksResult(r.returncode, r.stdout + r.stderr)


# ---------------------------------------------------------------------------------------------------
# Test support

class TestCase(unittest.TestCase):
    """unittest.TestCase with SMTP assertions."""

    def assertReply(self, result, code_prefix, text=None):
        """Asserts a server reply starting with code_prefix (and containing text) appeared."""
        if result.find_reply(code_prefix, text) is None:
            self.fail(f"no {code_prefix}xx reply containing {text!r}:\n{result}")
        return result.find_reply(code_prefix, text)

    def assertRejected(self, result, code_prefix, text):
        """Asserts swaks failed with a code_prefix (4 or 5) reply containing text."""
        self.assertNotEqual(result.code, 0, f"transaction unexpectedly succeeded:\n{result}")
        return self.assertReply(result, code_prefix, text)

    def assertAccepted(self, result):
        self.assertEqual(result.code, 0, f"transaction failed:\n{result}")
        return result.queue_id()


def run():
    """Runs the unittest cases of the calling module (exit status 0 only if all passed and none skipped)."""
    try:
        prog = unittest.main(module="__main__", verbosity=2, exit=False)
    except KeyboardInterrupt as e:
        _cleanup_all()
        sys.stderr.write(f"mmtest: interrupted ({e}); everything started was stopped\n")
        sys.exit(1)
    res = prog.result
    if res.skipped:
        sys.stderr.write(f"mmtest: {len(res.skipped)} test(s) skipped - counted as failure\n")
    ok = res.wasSuccessful() and not res.skipped and res.testsRun > 0
    _cleanup_all()
    sys.exit(0 if ok else 1)
