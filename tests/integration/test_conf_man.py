#!/usr/bin/python3
# tests/integration/test_conf_man.py - the generated section-5 pages (mailmoat-dkim.conf(5),
# mailmoat-grey.conf(5)) list every setting of the built daemon with its real default: the KEYS
# section must equal what scripts/gen-conf-man makes from `--dump-defaults`, every key must appear in
# it, and groff must format the page without warnings. Adding a setting without regenerating the page
# fails here.
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

SOURCE = mmtest.SOURCE_DIR
GEN = os.path.join(SOURCE, "scripts", "gen-conf-man")


class ConfManTest(mmtest.TestCase):
    def test_dkim_page(self):
        self.check_page("mailmoat-dkim", os.path.join(SOURCE, "milters", "dkim", "mailmoat-dkim.conf.5"),
                        ("mode", "key-table", "signing-table", "on-dns-error", "require-safe-keys", "socket"),
                        "on-dns-error")

    def test_grey_page(self):
        self.check_page("mailmoat-grey", os.path.join(SOURCE, "policyd", "grey", "mailmoat-grey.conf.5"),
                        ("delay", "store", "whitelist-clients", "auto-whitelist-clients", "socket"), "delay")

    def check_page(self, name, page_path, required_keys, drop_key):
        program = mmtest.program_path(name)
        dump = subprocess.run([program, "--dump-defaults"], capture_output=True, text=True, check=True).stdout
        keys = re.findall(r"^#([a-z0-9-]+) = (.*)$", dump, re.M)
        self.assertGreater(len(keys), 20, dump)
        for required in required_keys:
            self.assertIn(required, [k for k, _ in keys])

        r = subprocess.run(["/usr/bin/python3", GEN, "--check", program, page_path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        with open(page_path, encoding="utf-8") as f:
            page = f.read()
        section = page.split("BEGIN KEYS", 1)[1].split("END KEYS", 1)[0]
        for key, default in keys:
            roff_name = key.replace("-", "\\-")
            self.assertIn("\\fB" + roff_name + "\\fR = ", section, f"{key} missing from {page_path}")
            if default:
                self.assertIn("\\fI" + default.replace("\\", "\\e").replace("-", "\\-") + "\\fR", section, key)

        # The checker itself notices a missing key: drop one entry and --check must fail.
        broken = os.path.join(mmtest.make_tmpdir("confman"), "broken.5")
        self.addCleanup(mmtest.remove_tmpdir, os.path.dirname(broken))
        with open(broken, "w", encoding="utf-8") as f:
            roff = drop_key.replace("-", "\\\\-")
            f.write(re.sub(r"\.TP\n\\fB" + roff + r"\\fR[^\n]*\n[^\n]*\n", "", page, count=1))
        r = subprocess.run(["/usr/bin/python3", GEN, "--check", program, broken], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(drop_key.replace("-", "\\-"), r.stdout)

        # groff formats it without warnings.
        r = subprocess.run(["groff", "-man", "-t", "-ww", "-z", page_path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.strip(), "", r.stderr)


if __name__ == "__main__":
    mmtest.run()
