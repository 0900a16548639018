#!/usr/bin/python3
# tests/integration/test_dkim_conf_man.py - mailmoat-dkim.conf(5) lists every setting of the built
# daemon with its real default: the generated KEYS section must equal what scripts/gen-conf-man makes
# from `mailmoat-dkim --dump-defaults`, every key must appear in it, and groff must format the page
# without warnings. Adding a setting without regenerating the page fails here.
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

SOURCE = mmtest.SOURCE_DIR
PAGE = os.path.join(SOURCE, "milters", "dkim", "mailmoat-dkim.conf.5")
GEN = os.path.join(SOURCE, "scripts", "gen-conf-man")


class DkimConfManTest(mmtest.TestCase):
    def test_page_lists_every_setting_with_its_default(self):
        program = mmtest.program_path("mailmoat-dkim")
        dump = subprocess.run([program, "--dump-defaults"], capture_output=True, text=True, check=True).stdout
        keys = re.findall(r"^#([a-z0-9-]+) = (.*)$", dump, re.M)
        self.assertGreater(len(keys), 20, dump)
        for required in ("mode", "key-table", "signing-table", "on-dns-error", "require-safe-keys", "socket"):
            self.assertIn(required, [k for k, _ in keys])

        r = subprocess.run(["/usr/bin/python3", GEN, "--check", program, PAGE], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        with open(PAGE, encoding="utf-8") as f:
            page = f.read()
        section = page.split("BEGIN KEYS", 1)[1].split("END KEYS", 1)[0]
        for name, default in keys:
            roff_name = name.replace("-", "\\-")
            self.assertIn("\\fB" + roff_name + "\\fR = ", section, f"{name} missing from {PAGE}")
            if default:
                self.assertIn("\\fI" + default.replace("\\", "\\e").replace("-", "\\-") + "\\fR", section, name)

        # The checker itself notices a missing key: drop one entry and --check must fail.
        broken = os.path.join(mmtest.make_tmpdir("confman"), "broken.5")
        self.addCleanup(mmtest.remove_tmpdir, os.path.dirname(broken))
        with open(broken, "w", encoding="utf-8") as f:
            f.write(re.sub(r"\.TP\n\\fBon\\-dns\\-error\\fR[^\n]*\n[^\n]*\n", "", page, count=1))
        r = subprocess.run(["/usr/bin/python3", GEN, "--check", program, broken], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("on\\-dns\\-error", r.stdout)

        # groff formats it without warnings.
        r = subprocess.run(["groff", "-man", "-t", "-ww", "-z", PAGE], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.strip(), "", r.stderr)


if __name__ == "__main__":
    mmtest.run()
