#!/usr/bin/python3
# tests/integration/test_dmarc_html.py - `mailmoat dmarc html` renders in headless Chromium: the page is
# self-contained (no external references), shows the volume and per-source charts and lists the failing
# sources first; a screenshot is kept in the build directory as a test artefact.
import os, re, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest

SRC = os.environ.get("MAILMOAT_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CORPUS = os.path.join(SRC, "tests", "data", "dmarc-reports")
GROUP = "dmarc"
ARTEFACTS = os.path.join(os.environ.get("MAILMOAT_BUILD_DIR", "."), "test-artefacts")


def chromium():
    for c in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.exists(c):
            return c
    raise AssertionError("chromium is not installed (scripts/deps installs it)")


def run_chromium(argv, timeout=40):
    """Runs Chromium in its own process group and kills the whole group afterwards (its renderer and
    zygote processes outlive a killed browser process otherwise)."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out, err = "", "timed out"
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
    return p.returncode, out, err


def mailmoat(args):
    r = subprocess.run([mmtest.program_path("mailmoat"), GROUP, *args], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"mailmoat {args} exited {r.returncode}: {r.stdout} {r.stderr}")
    return r.stdout


class HtmlTest(mmtest.TestCase):
    def test_page_renders_in_chromium(self):
        d = tempfile.mkdtemp(prefix="mm-dmarc-html-")
        try:
            store = "sqlite:" + os.path.join(d, "dmarc.db")
            files = sorted(os.path.join(CORPUS, f) for f in os.listdir(CORPUS) if f.endswith((".eml", ".gz")))
            mailmoat(["ingest", "--store", store, *files])
            page = os.path.join(d, "dmarc.html")
            out = mailmoat(["html", "--store", store, "--output", page])
            self.assertIn("wrote", out)
            with open(page, encoding="utf-8") as f:
                html = f.read()
            # Self-contained: no scripts, nothing fetched from elsewhere.
            self.assertNotIn("<script", html)
            self.assertIsNone(re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html))
            # Failing sources come before everything else, worst first.
            failing = html.index('id="failing-sources"')
            self.assertLess(failing, html.index('id="volume-chart"'))
            self.assertLess(html.index("203.0.113.66", failing), html.index("198.51.100.23", failing))

            os.makedirs(ARTEFACTS, exist_ok=True)
            shot = os.path.join(ARTEFACTS, "dmarc-report-page.png")
            if os.path.exists(shot):
                os.unlink(shot)
            profile = os.path.join(d, "profile")
            base = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-extensions", "--disable-background-networking",
                    f"--user-data-dir={profile}", "--window-size=1100,1500"]
            start = time.monotonic()
            rc, rendered, err = run_chromium(base + ["--dump-dom", "file://" + page])
            self.assertEqual(rc, 0, err[-2000:])
            # The DOM Chromium built holds both charts with their bars and the failing sources.
            self.assertRegex(rendered, r'<svg id="volume-chart"[^>]*>')
            self.assertRegex(rendered, r'<svg id="source-chart"[^>]*>')
            self.assertGreaterEqual(len(re.findall(r'<rect class="fail"', rendered)), 4)
            self.assertGreaterEqual(len(re.findall(r'<g class="day">', rendered)), 2)
            table = rendered[rendered.index('id="failing-sources"'):]
            table = table[:table.index("</table>")]
            self.assertIn("203.0.113.66", table)
            self.assertIn("198.51.100.23", table)
            self.assertNotIn("192.0.2.10", table)  # passed everywhere: not a failing source
            rc, _, err = run_chromium(base + [f"--screenshot={shot}", "file://" + page])
            self.assertTrue(os.path.exists(shot), err[-2000:])
            with open(shot, "rb") as f:
                png = f.read()
            self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
            self.assertGreater(len(png), 20000)  # a page with charts, not a blank frame
            sys.stderr.write(f"screenshot: {shot} ({len(png)} bytes), chromium took {time.monotonic() - start:.1f} s\n")
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    mmtest.run()
