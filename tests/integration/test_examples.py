#!/usr/bin/python3
# tests/integration/test_examples.py - every file in examples/inbound-mx and examples/submission is
# valid for its reader: main.cf/master.cf fragments for postconf (no warnings, comments inside
# multi-line values ignored, every setting present), mailmoat-*.conf for the daemon's --check-config
# (only paths that need files on the machine are overridden), and the sockets they name are the ones
# `mailmoat postfix-config` turns into the main.cf lines of the example; examples/mailmoat-NAME.conf is
# exactly the daemon's --dump-defaults.
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

EXAMPLES = os.path.join(mmtest.SOURCE_DIR, "examples")
DAEMONS = ["spf", "grey", "dkim", "dmarc", "checks"]
MASTER_DIST = "/usr/share/postfix/master.cf.dist"


def postconf(confdir, *args):
    return subprocess.run(["/usr/sbin/postconf", "-c", confdir, *args], capture_output=True, text=True, timeout=30)


def settings(path):
    """{name: value} of a main.cf fragment, read the way Postfix reads it."""
    out, name = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0].isspace():
                out[name] = (out[name] + " " + line.strip()).strip()
            else:
                name, _, value = line.partition("=")
                name = name.strip()
                out[name] = value.strip()
    return out


class ExamplesTest(mmtest.TestCase):
    def _postfix_dir(self, fragments, master_extra=""):
        d = mmtest.make_tmpdir("examples")
        self.addCleanup(mmtest.remove_tmpdir, d)
        with open(os.path.join(d, "main.cf"), "w", encoding="utf-8") as f:
            f.write("compatibility_level = 3.6\n")
            for frag in fragments:
                with open(frag, encoding="utf-8") as src:
                    f.write(src.read() + "\n")
        with open(MASTER_DIST, encoding="utf-8") as src, \
                open(os.path.join(d, "master.cf"), "w", encoding="utf-8") as f:
            f.write(src.read() + master_extra)
        return d

    def test_main_cf_fragments(self):
        for name in ("inbound-mx", "submission"):
            with self.subTest(example=name):
                frag = os.path.join(EXAMPLES, name, "main.cf")
                d = self._postfix_dir([frag])
                r = postconf(d, "-n")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stderr, "", "postconf warns about the fragment")
                effective = dict(ln.split(" = ", 1) for ln in r.stdout.splitlines() if " = " in ln)
                for key, value in settings(frag).items():
                    self.assertEqual(effective.get(key), value, key)
                    self.assertNotIn("#", effective[key], f"a comment ended up in {key}")
        both = self._postfix_dir([os.path.join(EXAMPLES, "inbound-mx", "main.cf"),
                                  os.path.join(EXAMPLES, "submission", "main.cf")])
        r = postconf(both, "-h", "smtpd_recipient_restrictions", "smtpd_milters", "smtp_line_length_limit")
        lines = r.stdout.splitlines()
        self.assertEqual(re.findall(r"check_policy_service (\S+?),?(?=\s|$)", lines[0]),
                         ["unix:mailmoat/spf.sock", "unix:mailmoat/grey.sock"])
        self.assertLess(lines[0].index("reject_unauth_destination"), lines[0].index("check_policy_service"))
        self.assertEqual(lines[1], "unix:mailmoat/dkim.sock, unix:mailmoat/dmarc.sock, unix:mailmoat/checks.sock")
        self.assertEqual(lines[2], "0")

    def test_master_cf_fragments(self):
        with open(os.path.join(EXAMPLES, "submission", "master.cf"), encoding="utf-8") as f:
            text = f.read()
        # Debian's master.cf.dist has these services commented out; the example replaces them.
        d = self._postfix_dir([os.path.join(EXAMPLES, "submission", "main.cf")], "\n" + text)
        r = postconf(d, "-M", "submission/inet", "submissions/inet")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "", "postconf warns about master.cf")
        services = r.stdout.splitlines()
        self.assertEqual(len(services), 2, r.stdout)
        for line in services:
            self.assertRegex(line, r"^submissions? +inet +n +- +y +- +- +smtpd ")
            self.assertIn("-o smtpd_milters=unix:mailmoat/dkim.sock", line)
            self.assertIn("-o milter_default_action=tempfail", line)
            self.assertIn("-o smtpd_sasl_auth_enable=yes", line)
            self.assertNotIn("#", line)
        r = postconf(d, "-P")
        self.assertEqual(r.stderr, "", r.stderr)
        with open(os.path.join(EXAMPLES, "inbound-mx", "master.cf"), encoding="utf-8") as f:
            smtp = [ln for ln in f if ln.strip() and not ln.startswith("#")]
        self.assertEqual(smtp, ["smtp      inet  n       -       y       -       -       smtpd\n"])

    def test_daemon_configs_pass_check_config(self):
        tmp = mmtest.make_tmpdir("examples-conf")
        self.addCleanup(mmtest.remove_tmpdir, tmp)
        key = os.path.join(tmp, "mail2026.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key],
                       check=True, capture_output=True)
        os.chmod(key, 0o600)
        # Paths that name files on a real system point at test files; everything else is as written.
        overrides = {"dkim": [f"--key-file={key}"], "grey": [f"--store=sqlite:{tmp}/grey.db"]}
        for example in ("inbound-mx", "submission"):
            for d in DAEMONS:
                conf = os.path.join(EXAMPLES, example, f"mailmoat-{d}.conf")
                if not os.path.exists(conf):
                    continue
                with self.subTest(example=example, daemon=d):
                    r = subprocess.run([mmtest.program_path(f"mailmoat-{d}"), f"--config={conf}", "--check-config",
                                        *overrides.get(d, [])], capture_output=True, text=True, timeout=30)
                    self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                    self.assertIn(f"socket = unix:/var/spool/postfix/mailmoat/{d}.sock", r.stdout)

    def test_reference_configs_are_the_daemons_defaults(self):
        # examples/mailmoat-NAME.conf is documented as every key with its default: it must be exactly what
        # the built daemon prints, so that a new or changed setting cannot leave it stale.
        for d in DAEMONS:
            with self.subTest(daemon=d):
                with open(os.path.join(EXAMPLES, f"mailmoat-{d}.conf"), encoding="utf-8") as f:
                    written = f.read()
                dump = subprocess.run([mmtest.program_path(f"mailmoat-{d}"), "--dump-defaults", "--config", "/dev/null"],
                                      capture_output=True, text=True, check=True, timeout=30).stdout
                self.assertEqual(written, dump, f"examples/mailmoat-{d}.conf is stale: regenerate it with "
                                 f"mailmoat-{d} --dump-defaults --config /dev/null")

    def test_postfix_config_prints_the_example_lines(self):
        confdir = os.path.join(EXAMPLES, "inbound-mx")
        r = subprocess.run([mmtest.program_path("mailmoat"), "postfix-config", f"--config-dir={confdir}",
                            "--section=main"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        example = settings(os.path.join(confdir, "main.cf"))
        self.assertIn(f"smtpd_milters = {example['smtpd_milters']}\n", r.stdout)
        for sock in ("spf", "grey"):
            self.assertIn(f"check_policy_service unix:mailmoat/{sock}.sock", r.stdout)
        self.assertIn("smtp_line_length_limit = 0\n", r.stdout)


if __name__ == "__main__":
    mmtest.run()
