#!/usr/bin/python3
# tests/integration/test_systemd_units.py - the systemd units in systemd/: hardening score, offline
# verification, the settings every daemon unit must have, and each built daemon run the way its unit
# runs it (ExecStartPre, then ExecStart as user mailmoat, sd_notify READY/RELOADING/STOPPING).
#
# systemd is not PID 1 where the tests run, so a unit is not started by systemd itself: the test runs
# the unit's ExecStartPre= and ExecStart= lines under the unit's User=/Group= (setpriv, no supplementary
# groups), with NOTIFY_SOCKET pointing at a datagram socket it reads, and the socket directory created
# as tmpfiles.d/mailmoat-common.conf creates /run/mailmoat. The namespace sandboxing itself (ProtectSystem=...)
# is only scored and verified, not exercised.
import grp
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

UNIT_DIR = os.path.join(mmtest.SOURCE_DIR, "systemd")
ALL_DAEMONS = ["spf", "grey", "dkim", "dmarc", "checks"]
DAEMONS = ALL_DAEMONS      # every program is built: each is run the way its unit runs it
MAX_EXPOSURE = 2.5


def units():
    return sorted(n for n in os.listdir(UNIT_DIR) if n.endswith((".service", ".timer")))


def read_unit(name):
    """The unit as {section: {key: [values...]}} (repeated keys kept in order)."""
    out, section = {}, None
    with open(os.path.join(UNIT_DIR, name), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = out.setdefault(line.strip("[]"), {})
                continue
            k, _, v = line.partition("=")
            section.setdefault(k.strip(), []).append(v.strip())
    return out


def exposure(unit_path):
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", unit_path],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout + r.stderr)
    if not m:
        raise AssertionError(f"no exposure level for {unit_path}:\n{r.stdout}{r.stderr}")
    return float(m.group(1))


class Notify:
    """A NOTIFY_SOCKET the daemon under test reports to."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o777)
        self.messages = []

    def wait_for(self, key, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            self.messages.append(data)
            if any(line.startswith(key) for line in data.splitlines()):
                return data
        raise AssertionError(f"no {key} from the daemon; got {self.messages}")

    def close(self):
        self.sock.close()


class SystemdUnitsTest(mmtest.TestCase):
    def test_security_scores(self):
        """systemd-analyze security --offline=true rates every service 2.5 or lower, and
        docs/packaging.md records the score each one has now."""
        with open(os.path.join(mmtest.SOURCE_DIR, "docs", "packaging.md"), encoding="utf-8") as f:
            doc = f.read()
        services = [u for u in units() if u.endswith(".service")]
        for d in ALL_DAEMONS:
            self.assertIn(f"mailmoat-{d}.service", services)
        self.assertIn("mailmoat-dmarc-report.service", services)
        for u in services:
            score = exposure(os.path.join(UNIT_DIR, u))
            print(f"{u}: exposure {score}")
            self.assertLessEqual(score, MAX_EXPOSURE, u)
            self.assertRegex(doc, rf"\| `{re.escape(u)}` \| {score} \|",
                             f"docs/packaging.md does not record {u} at {score}")

    def test_verify_offline(self):
        """systemd-analyze verify finds nothing to complain about. It checks that ExecStart programs
        exist, so it runs against a private root holding placeholders at the installed paths and a copy
        of the system's own units (for the targets ours refer to)."""
        root = tempfile.mkdtemp(prefix="mmtest-units-")
        try:
            for d in ("usr/sbin", "usr/bin", "bin", "etc/systemd/system", "usr/lib/systemd"):
                os.makedirs(os.path.join(root, d), exist_ok=True)
            shutil.copytree("/lib/systemd/system", os.path.join(root, "usr/lib/systemd/system"), symlinks=True)
            for p in [f"usr/sbin/mailmoat-{d}" for d in ALL_DAEMONS] + ["usr/bin/mailmoat", "bin/kill"]:
                with open(os.path.join(root, p), "w", encoding="utf-8") as f:
                    f.write("#!/bin/sh\n")
                os.chmod(os.path.join(root, p), 0o755)
            paths = []
            for u in units():
                shutil.copy(os.path.join(UNIT_DIR, u), os.path.join(root, "etc/systemd/system", u))
                paths.append(os.path.join(root, "etc/systemd/system", u))
            r = subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={root}", *paths],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual((r.stdout + r.stderr).strip(), "", "systemd-analyze verify complained")
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def test_daemon_units_have_the_required_settings(self):
        for d in ALL_DAEMONS:
            with self.subTest(daemon=d):
                s = read_unit(f"mailmoat-{d}.service")["Service"]
                prog = f"/usr/sbin/mailmoat-{d}"
                self.assertEqual(s["Type"], ["notify"])
                self.assertEqual(s["ExecStart"], [prog])
                self.assertEqual(s["ExecStartPre"], [f"{prog} --check-config"])
                self.assertEqual(s["ExecReload"], ["/bin/kill -HUP $MAINPID"])
                self.assertEqual(s["Restart"], ["on-failure"])
                self.assertEqual(s["User"], ["mailmoat"])
                self.assertEqual(s["Group"], ["mailmoat"])
                for key, value in [("ProtectSystem", "strict"), ("ProtectHome", "yes"), ("PrivateTmp", "yes"),
                                   ("NoNewPrivileges", "yes"), ("CapabilityBoundingSet", ""),
                                   ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6")]:
                    self.assertEqual(s[key], [value], key)
                self.assertIn("@system-service", s["SystemCallFilter"])
                rw = " ".join(s["ReadWritePaths"]).split()
                allowed = {"/run/mailmoat", "-/var/spool/postfix/mailmoat"}
                if d in ("grey", "dmarc"):
                    allowed.add("/var/lib/mailmoat")
                self.assertEqual(set(rw), allowed, "ReadWritePaths beyond the daemon's sockets and data")
                self.assertNotIn("RuntimeDirectory", s)

    def test_timer_runs_the_report_service(self):
        t = read_unit("mailmoat-dmarc-report.timer")
        self.assertIn("OnCalendar", t["Timer"])
        self.assertEqual(t["Timer"]["Persistent"], ["true"])
        s = read_unit("mailmoat-dmarc-report.service")["Service"]
        self.assertEqual(s["Type"], ["oneshot"])
        self.assertEqual(s["ExecStart"], ["/usr/bin/mailmoat dmarc report"])
        self.assertEqual(s["User"], ["mailmoat"])

    def test_execstart_as_the_unit_user_with_sd_notify(self):
        """Each built daemon: ExecStartPre, then ExecStart as mailmoat:mailmoat; READY=1 on start, the
        socket is group postfix (setgid directory) and postfix can connect, RELOADING=1 then READY=1 on
        the unit's ExecReload (SIGHUP), STOPPING=1 and exit 0 on SIGTERM."""
        mmtest.require_root()
        uid = pwd.getpwnam("mailmoat").pw_uid
        gid = grp.getgrnam("mailmoat").gr_gid
        postfix_gid = grp.getgrnam("postfix").gr_gid
        for d in DAEMONS:
            with self.subTest(daemon=d):
                self._run_like_the_unit(d, uid, gid, postfix_gid)

    def _run_like_the_unit(self, d, uid, gid, postfix_gid):
        unit = read_unit(f"mailmoat-{d}.service")["Service"]
        program = mmtest.program_path(f"mailmoat-{d}")
        tmp = mmtest.make_tmpdir(f"unit-{d}")
        notify = None
        proc = None
        try:
            rundir = os.path.join(tmp, "run")       # stands for /run/mailmoat (tmpfiles: 2750 mailmoat postfix)
            os.mkdir(rundir)
            os.chown(rundir, uid, postfix_gid)
            os.chmod(rundir, 0o2750)
            data = os.path.join(tmp, "lib")          # stands for /var/lib/mailmoat
            os.mkdir(data, 0o750)
            os.chown(data, uid, gid)
            conf = os.path.join(tmp, f"mailmoat-{d}.conf")
            sock = os.path.join(rundir, f"{d}.sock")
            lines = [f"socket = unix:{sock}", "dns-server = 127.0.0.1:9"]
            if d == "grey":
                lines.append(f"store = sqlite:{data}/grey.db")
            if d == "dmarc":
                lines.append(f"store = sqlite:{data}/dmarc.sqlite")
            if d == "dkim":
                lines.append("mode = v")
            with open(conf, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
            notify = Notify(tmp)
            env = dict(os.environ, NOTIFY_SOCKET=notify.path)
            setpriv = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all"]

            def unit_argv(line):
                argv = shlex.split(line)
                self.assertEqual(argv[0], f"/usr/sbin/mailmoat-{d}")
                return setpriv + [program] + argv[1:] + [f"--config={conf}"]

            pre = subprocess.run(unit_argv(unit["ExecStartPre"][0]), capture_output=True, text=True, timeout=30)
            self.assertEqual(pre.returncode, 0, pre.stdout + pre.stderr)
            log = os.path.join(tmp, "stderr")
            with open(log, "wb") as err:
                # No --foreground, as in the unit: the daemon logs to syslog.
                proc = mmtest.spawn(unit_argv(unit["ExecStart"][0]), f"mailmoat-{d}", stdin=subprocess.DEVNULL,
                                    stdout=err, stderr=err, env=env)
            notify.wait_for("READY=1")
            st = os.stat(sock)
            self.assertEqual((st.st_uid, st.st_gid), (uid, postfix_gid), "socket owner:group")
            probe = subprocess.run(["setpriv", "--reuid=postfix", "--regid=postfix", "--init-groups",
                                    "/usr/bin/python3", "-c",
                                    "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])", sock],
                                   capture_output=True, text=True, timeout=10)
            self.assertEqual(probe.returncode, 0, f"postfix cannot connect: {probe.stderr}")
            with open(f"/proc/{proc.pid}/status", encoding="utf-8") as f:
                status = f.read()
            self.assertRegex(status, rf"Uid:\s+{uid}\s+{uid}")
            # ExecReload=/bin/kill -HUP $MAINPID
            reload = unit["ExecReload"][0].replace("$MAINPID", str(proc.pid))
            subprocess.run(shlex.split(reload), check=True, timeout=10)
            notify.wait_for("RELOADING=1")
            notify.wait_for("READY=1")
            self.assertIsNone(proc.poll(), "the daemon ended on SIGHUP")
            proc.send_signal(signal.SIGTERM)
            notify.wait_for("STOPPING=1")
            self.assertEqual(proc.wait(timeout=15), 0)
            with open(log, encoding="utf-8", errors="replace") as f:
                self.assertEqual(f.read(), "", "a daemon without --foreground writes nothing to stderr")
        finally:
            if proc is not None:
                mmtest.stop_process(proc, f"mailmoat-{d}")
            if notify:
                notify.close()
            mmtest.remove_tmpdir(tmp)


if __name__ == "__main__":
    mmtest.run()
