#!/usr/bin/python3
# tests/package/test_packages.py - the Debian packages end to end (ctest label "package"; scripts/test
# runs it after the release build's tests, alone: it installs packages on the machine).
#
#  1. copies the tracked files of the source tree (what a clean clone has) to a temporary directory and
#     runs `dpkg-buildpackage -us -uc -b` there, lean: DEB_BUILD_OPTIONS="nocheck noddebs parallel=2"
#     (debian/rules builds only what the packages ship, with ninja);
#  2. lintian on the result: no errors, and every warning listed in docs/packaging.md;
#  3. `apt install ./mailmoat-*.deb`: user and group, directories and their modes, conffiles, units,
#     man pages (`man -w`), nothing in main.cf;
#  4. starts each installed daemon the way its installed unit's ExecStartPre=/ExecStart= lines do
#     (as User=/Group=, the installed /etc/mailmoat file), with only the test DNS server (and, for the
#     outbound scenario, a signing key and a 2 s greylisting delay, and for mailmoat-checks a header
#     table, since it ships with none) added on the command line;
#  5. wires them into a private Postfix with the lines `mailmoat postfix-config` prints (--chroot no: the
#     private instance does not run chrooted in /var/spool/postfix) and passes an inbound scenario
#     (SPF reject, greylisting, DKIM verification, DMARC pass and a DMARC reject of a forged p=reject
#     From, a header rule of mailmoat-checks) and an outbound one (DKIM signing, dkimpy verifies);
#  6. `apt purge`: every file the packages installed is gone, and so are the directories they created,
#     except the data the daemons wrote (/var/lib/mailmoat/grey.db and dmarc.sqlite, removed by the test
#     afterwards).
# Cleanup on every path: the daemons it started are stopped, the packages purged, /var/lib/mailmoat
# removed when the test created it.
# The machine must not have the packages installed before; the test refuses to run otherwise.
# MAILMOAT_PACKAGE_DEBS=DIR skips step 1 and takes the .deb/.changes files built beforehand from DIR.
import glob
import grp
import os
import pwd
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))
import mmtest  # noqa: E402

import dkim  # noqa: E402

PACKAGES = ["mailmoat-common", "mailmoat-spf", "mailmoat-grey", "mailmoat-dkim", "mailmoat-dmarc",
            "mailmoat-checks"]
DAEMONS = ["spf", "grey", "dkim", "dmarc", "checks"]
BUILD_OPTIONS = "nocheck noddebs parallel=2"


def run(argv, timeout=600, check=True, **kw):
    """subprocess.run in a session of its own: on timeout the whole group (dpkg-buildpackage's ninja and
    compilers, lintian's workers) is killed, not only argv[0]."""
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True, **kw) as p:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            raise AssertionError(f"{argv} took more than {timeout} s")
    r = subprocess.CompletedProcess(argv, p.returncode, out, err)
    if check and r.returncode != 0:
        raise AssertionError(f"{argv} exited {r.returncode}:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    return r


def installed(pkg):
    r = run(["dpkg-query", "-W", "-f=${Status}", pkg], check=False)
    return "installed" in r.stdout and "not-installed" not in r.stdout


def unit_lines(daemon):
    lines = {}
    with open(f"/lib/systemd/system/mailmoat-{daemon}.service", encoding="utf-8") as f:
        for ln in f:
            k, _, v = ln.strip().partition("=")
            lines.setdefault(k, v)
    return lines


def genkey(d):
    path = os.path.join(d, "out.pem")
    run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path])
    der = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    import base64
    return path, f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def txt(name, record):
    parts = [record[i:i + 200] for i in range(0, len(record), 200)]
    return f"{name} 300 IN TXT " + " ".join(f'"{p}"' for p in parts) + "\n"


class PackagesTest(mmtest.TestCase):
    def test_build_install_run_purge(self):
        mmtest.require_root()
        for p in PACKAGES:
            if installed(p):
                self.fail(f"{p} is installed already; purge it before running this test")
        work = mmtest.make_tmpdir("pkg")
        self.addCleanup(mmtest.remove_tmpdir, work)
        prebuilt = os.environ.get("MAILMOAT_PACKAGE_DEBS")
        if prebuilt:
            # Packages built beforehand from this tree (dpkg-buildpackage -us -uc -b in a copy): steps 2-6.
            for f in glob.glob(os.path.join(prebuilt, "*.deb")) + glob.glob(os.path.join(prebuilt, "*.changes")) + \
                    glob.glob(os.path.join(prebuilt, "*.buildinfo")):
                shutil.copy(f, work)
        else:
            self._build(work)
        debs = sorted(d for d in glob.glob(os.path.join(work, "*.deb")) if "-dbgsym_" not in d)
        names = sorted(os.path.basename(d).split("_")[0] for d in debs)
        self.assertEqual(names, sorted(PACKAGES))

        # 2. lintian: no errors; each warning tag is listed in docs/packaging.md.
        [changes] = glob.glob(os.path.join(work, "*.changes"))
        lint = run(["lintian", "--tag-display-limit", "0", changes], check=False, timeout=900)
        out = lint.stdout + lint.stderr
        print(out)
        self.assertNotRegex(out, r"(?m)^E: ", out)
        with open(os.path.join(mmtest.SOURCE_DIR, "docs", "packaging.md"), encoding="utf-8") as f:
            doc = f.read()
        for tag in set(re.findall(r"(?m)^W: \S+: (\S+)", out)):
            self.assertIn(f"`{tag}`", doc, f"lintian warning {tag} not explained in docs/packaging.md")

        # 3. Install.
        before = set(os.listdir("/etc/systemd/system")) if os.path.isdir("/etc/systemd/system") else set()
        main_cf = open("/etc/postfix/main.cf", "rb").read() if os.path.exists("/etc/postfix/main.cf") else None
        self.had_data_dir = os.path.exists("/var/lib/mailmoat")
        self.addCleanup(self._purge_quietly)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "install", "-y", "--no-install-recommends", *[os.path.abspath(d) for d in debs]],
            env=env, timeout=600)
        pkg_files = set()
        for p in PACKAGES:
            pkg_files |= set(run(["dpkg", "-L", p]).stdout.split())
        self.assertIsNotNone(pwd.getpwnam("mailmoat"))
        uid = pwd.getpwnam("mailmoat").pw_uid
        postfix_gid = grp.getgrnam("postfix").gr_gid
        for d in ("/run/mailmoat", "/var/spool/postfix/mailmoat"):
            st = os.stat(d)
            self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (uid, postfix_gid, 0o2750), d)
        self.assertEqual(stat.S_IMODE(os.stat("/etc/mailmoat/keys").st_mode), 0o700)
        self.assertEqual(os.stat("/var/lib/mailmoat").st_uid, uid)
        for d in DAEMONS:
            conf = f"/etc/mailmoat/mailmoat-{d}.conf"
            conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", f"mailmoat-{d}"]).stdout
            self.assertIn(conf, conffiles)
            with open(conf, encoding="utf-8") as f:
                text = f.read()
            self.assertIn(f"socket = unix:/var/spool/postfix/mailmoat/{d}.sock", text)
            self.assertRegex(text, r"(?m)^#dns-timeout = 5s$")       # the defaults, commented
            self.assertTrue(os.path.exists(f"/lib/systemd/system/mailmoat-{d}.service"))
        # `man PAGE` works: section 8 per daemon, 5 per configuration file, 1 for the CLI.
        pages = [("1", "mailmoat")] + [("8", f"mailmoat-{d}") for d in DAEMONS] + \
                [("5", f"mailmoat-{d}.conf") for d in DAEMONS]
        for section, page in pages:
            r = run(["man", section, page], check=False, env=dict(os.environ, MANPAGER="cat", PAGER="cat",
                                                                  MANWIDTH="80", LANG="C.UTF-8"))
            self.assertEqual(r.returncode, 0, f"man {section} {page}: {r.stderr}")
            self.assertRegex(r.stdout, r"(?m)^NAME$", f"man {section} {page}")
            self.assertIn(page.split(".")[0], r.stdout)
        for unit in ("mailmoat-dmarc-report.service", "mailmoat-dmarc-report.timer"):
            self.assertTrue(os.path.exists(f"/lib/systemd/system/{unit}"), unit)
        for f in ("mailmoat-spf", "mailmoat-grey", "mailmoat-dmarc"):
            self.assertTrue(os.path.exists(f"/etc/fail2ban/filter.d/{f}.conf"), f)
        if main_cf is not None:
            self.assertEqual(open("/etc/postfix/main.cf", "rb").read(), main_cf, "main.cf was changed")

        # 4./5. Run the installed daemons as their units do, wired into a private Postfix.
        self._scenario(work, uid)

        # 6. Purge.
        run(["apt-get", "purge", "-y", *PACKAGES], env=env, timeout=600)
        for p in PACKAGES:
            self.assertFalse(installed(p), p)
        left = sorted(f for f in pkg_files if os.path.lexists(f) and not os.path.isdir(f))
        self.assertEqual(left, [], "files of the packages left after purge")
        for d in ("/run/mailmoat", "/var/spool/postfix/mailmoat", "/etc/mailmoat/keys", "/etc/mailmoat"):
            self.assertFalse(os.path.exists(d), f"{d} left after purge")
        # Data is kept: the greylist database and the DMARC store the scenario wrote.
        self.assertTrue(os.path.exists("/var/lib/mailmoat/grey.db"))
        self.assertTrue(os.path.exists("/var/lib/mailmoat/dmarc.sqlite"))
        if not self.had_data_dir:
            shutil.rmtree("/var/lib/mailmoat")
        after = set(os.listdir("/etc/systemd/system")) if os.path.isdir("/etc/systemd/system") else set()
        self.assertEqual(after - before, set(), "systemd links left after purge")
        self.assertIsNotNone(pwd.getpwnam("mailmoat"), "the system user is kept (see docs/packaging.md)")

    def _build(self, work):
        src = os.path.join(work, "mailmoat")
        os.mkdir(src)
        files = run(["git", "-C", mmtest.SOURCE_DIR, "ls-files", "-z"]).stdout.split("\0")
        for f in filter(None, files):
            s = os.path.join(mmtest.SOURCE_DIR, f)
            if not os.path.lexists(s):
                continue  # deleted in the working tree
            os.makedirs(os.path.dirname(os.path.join(src, f)), exist_ok=True)
            if os.path.islink(s):
                os.symlink(os.readlink(s), os.path.join(src, f))
            else:
                shutil.copy2(s, os.path.join(src, f))
        t0 = time.monotonic()
        env = dict(os.environ, DEB_BUILD_OPTIONS=BUILD_OPTIONS)
        run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, timeout=2400, env=env)
        print(f"dpkg-buildpackage: {time.monotonic() - t0:.0f} s (load average {os.getloadavg()[0]:.1f})")

    def _purge_quietly(self):
        """Cleanup on every path: purge what is still installed, remove the data the test made."""
        present = [p for p in PACKAGES if installed(p)]
        if present:
            run(["apt-get", "purge", "-y", *present], check=False, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        if not getattr(self, "had_data_dir", True) and os.path.isdir("/var/lib/mailmoat"):
            shutil.rmtree("/var/lib/mailmoat", ignore_errors=True)

    def _scenario(self, work, uid):
        key, record = genkey(work)
        table = os.path.join(work, "header_checks")
        with open(table, "w", encoding="utf-8") as f:
            f.write("/^Subject:.*cheap pills/ REJECT no pills here\n")
        os.chmod(table, 0o644)
        os.chown(key, uid, grp.getgrnam("mailmoat").gr_gid)
        os.chmod(key, 0o600)
        zones = [
            "$ORIGIN sender.test.\n@ 300 IN SOA ns.test. hm.test. 1 3600 600 86400 60\n"
            "@ 300 IN TXT \"v=spf1 ip4:127.0.0.1 -all\"\n_dmarc 300 IN TXT \"v=DMARC1; p=reject\"\n",
            "$ORIGIN bank.test.\n@ 300 IN SOA ns.test. hm.test. 1 3600 600 86400 60\n"
            "@ 300 IN TXT \"v=spf1 -all\"\n_dmarc 300 IN TXT \"v=DMARC1; p=reject\"\n",
            "$ORIGIN forged.test.\n@ 300 IN SOA ns.test. hm.test. 1 3600 600 86400 60\n"
            "@ 300 IN TXT \"v=spf1 ip4:192.0.2.1 -all\"\n",
            "$ORIGIN mailmoat.test.\n@ 300 IN SOA ns.test. hm.test. 1 3600 600 86400 60\n" + txt("pkg._domainkey", record),
        ]
        extra = {"spf": ["--skip-networks=127.0.0.2"], "grey": ["--delay=2s", "--spf-keying=no"],
                 "dkim": ["--mode=sv", "--internal-hosts=127.0.0.2", "--domain=mailmoat.test", "--selector=pkg",
                          f"--key-file={key}", "--authserv-id=mx.mailmoat.test"],
                 "dmarc": ["--authserv-id=mx.mailmoat.test"],
                 "checks": [f"--header-checks=regexp:{table}"]}
        procs = []
        with mmtest.Sink() as sink, mmtest.DnsServer(zones) as dns:
            try:
                for d in DAEMONS:
                    unit = unit_lines(d)
                    user = ["setpriv", f"--reuid={unit['User']}", f"--regid={unit['Group']}", "--clear-groups"]
                    args = [f"--dns-server={dns.address}", *extra[d]]
                    run(user + shlex.split(unit["ExecStartPre"]) + args, timeout=30)
                    with open(os.path.join(work, f"{d}.log"), "wb") as log:
                        procs.append(mmtest.spawn(user + shlex.split(unit["ExecStart"]) + args + ["--foreground"],
                                                  f"mailmoat-{d}", stdin=subprocess.DEVNULL, stdout=log, stderr=log))
                    mmtest.wait_until(lambda: mmtest.can_connect(f"unix:/var/spool/postfix/mailmoat/{d}.sock"), 15,
                                      f"installed mailmoat-{d}")
                params = {"mynetworks": "127.0.0.2/32", "relay_domains": "example.net"}
                with mmtest.Postfix(sink.port, params) as pf:
                    # The private instance has its own queue directory and no chroot: the sockets in
                    # /var/spool/postfix/mailmoat are outside it and printed with their absolute paths.
                    r = run(["/usr/bin/mailmoat", "postfix-config", "--chroot=no", f"--queue-directory={pf.queue_dir}"])
                    main = r.stdout.split("# ---- main.cf ----", 1)[1].split("# ---- master.cf ----", 1)[0]
                    self.assertIn("check_policy_service unix:/var/spool/postfix/mailmoat/spf.sock", main)
                    with open(os.path.join(pf.config_dir, "main.cf"), "a", encoding="utf-8") as f:
                        f.write("\n" + main)
                    pf.reload()
                    forged = mmtest.swaks(pf, sender="a@forged.test", to="bob@example.net", subject="forged")
                    self.assertRejected(forged, "550", "SPF")
                    first = mmtest.swaks(pf, sender="a@sender.test", to="carol@example.net", subject="inbound")
                    self.assertRejected(first, "450", "Greylisted")
                    time.sleep(2.5)
                    self.assertAccepted(mmtest.swaks(pf, sender="a@sender.test", to="carol@example.net",
                                                     subject="inbound"))
                    [m] = mmtest.wait_until(lambda: sink.find("inbound"), 20, "inbound mail")
                    self.assertRegex(m.header("Received-SPF") or "", r"^pass ")
                    ar = " ".join(v for k, v in m.headers() if k.lower() == "authentication-results")
                    self.assertIn("dkim=none", ar)
                    self.assertRegex(ar, r"dmarc=pass .*header\.from=sender\.test")
                    # DMARC: a forged From of a p=reject domain (its SPF authorises nobody, no signature).
                    forged_from = mmtest.swaks(pf, sender="a@sender.test", to="carol@example.net", subject="dmarc",
                                               extra=["--header", "From: ceo@bank.test"])
                    self.assertRejected(forged_from, "550", "DMARC")
                    # checks: the header rule given on the command line.
                    pills = mmtest.swaks(pf, sender="a@sender.test", to="carol@example.net", subject="cheap pills")
                    self.assertRejected(pills, "5", "no pills here")
                    self.assertAccepted(mmtest.swaks(pf, sender="alice@mailmoat.test", to="bob@example.net",
                                                     subject="outbound", extra=["--local-interface", "127.0.0.2"]))
                    [o] = mmtest.wait_until(lambda: sink.find("outbound"), 20, "outbound mail")
                    raw = o.raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
                    records = {b"pkg._domainkey.mailmoat.test.": record}
                    self.assertTrue(dkim.verify(raw, dnsfunc=lambda n, timeout=5: records.get(n, "").encode()))
            except BaseException:
                for d in DAEMONS:
                    path = os.path.join(work, f"{d}.log")
                    if os.path.exists(path):
                        with open(path, encoding="utf-8", errors="replace") as f:
                            sys.stderr.write(f"--- installed mailmoat-{d} ---\n{f.read()[-3000:]}\n")
                raise
            finally:
                for p in procs:
                    mmtest.stop_process(p, "installed daemon")


if __name__ == "__main__":
    mmtest.run()
