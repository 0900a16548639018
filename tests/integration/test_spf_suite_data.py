#!/usr/bin/python3
# tests/integration/test_spf_suite_data.py - the SPF suite files the unit tests run are exactly what
# convert_suite.py makes from the RFC 7208/4408 suites installed by Debian's python3-spf.
import os
import subprocess
import sys
import tempfile

SOURCE = os.environ.get('MAILMOAT_SOURCE_DIR', os.path.join(os.path.dirname(__file__), '..', '..'))
SUITES = {
    'rfc7208-tests.txt': ('/usr/share/doc/python3-spf/rfc7208-tests.yml.gz', 203),
    'rfc4408-tests.txt': ('/usr/share/doc/python3-spf/rfc4408-tests.yml.gz', 191),
}


def main():
    data = os.path.join(SOURCE, 'tests', 'data', 'spf')
    failures = 0
    with tempfile.TemporaryDirectory(prefix='mailmoat-spf-suite-') as tmp:
        for name, (src, cases) in SUITES.items():
            if not os.path.exists(src):
                print('FAIL %s: %s missing (python3-spf not installed; scripts/deps installs it)' % (name, src))
                failures += 1
                continue
            out = os.path.join(tmp, name)
            subprocess.run(['/usr/bin/python3', os.path.join(data, 'convert_suite.py'), src, out], check=True)
            with open(out, 'rb') as a, open(os.path.join(data, name), 'rb') as b:
                fresh, committed = a.read(), b.read()
            count = sum(1 for line in fresh.splitlines() if line.startswith(b'test '))
            if fresh != committed:
                print('FAIL %s differs from a fresh conversion of %s' % (name, src))
                failures += 1
            elif count != cases:
                print('FAIL %s has %d cases, expected %d' % (name, count, cases))
                failures += 1
            else:
                print('ok %s: %d cases, identical to a fresh conversion' % (name, count))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
