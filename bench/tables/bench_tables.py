#!/usr/bin/python3
# bench/tables/bench_tables.py - lookup throughput of mailmoat tables against Postfix's "postmap -q -" on the
# same files and keys (one process each, table load included), and a check that both answer the same.
#
# Usage: bench/tables/bench_tables.py [build-dir [table-type ...]]   (needs postfix and postfix-pcre)
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

BUILD = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MAILMOAT_BUILD_DIR", "build")
TOOL = os.path.join(BUILD, "tests", "tools", "mailmoat_table_tool")
POSTMAP = "/usr/sbin/postmap"


def make_cases(rng, tmp):
    words = ["viagra", "casino", "lottery", "invoice", "urgent", "winner", "bitcoin", "refund", "prize", "loan"]
    # header_checks-like pcre table: 300 rules, most keys miss every rule (the common case).
    rules = []
    for i in range(300):
        w = rng.choice(words) + str(i)
        rules.append("/^Subject:.*\\b%s\\b/ REJECT rule %d" % (w, i))
    rules.append("/^X-Mailer: (\\S+) v(\\d+)/ WARN mailer $1 version $2")
    keys = []
    for i in range(100000):
        r = rng.random()
        if r < 0.05:
            keys.append("Subject: hello %s%d friend" % (rng.choice(words), rng.randrange(300)))
        elif r < 0.10:
            keys.append("X-Mailer: Tool%d v%d" % (i % 17, i % 9))
        else:
            keys.append("Subject: ordinary message number %d about things" % i)
    pcre = ("pcre", "\n".join(rules) + "\n", keys)
    regexp = ("regexp", "\n".join(rules).replace("\\b", "").replace("\\S", "[^ ]").replace("\\d", "[0-9]") + "\n",
              keys)
    # access-style texthash: 100000 entries, half of the keys hit.
    entries = ["host%d.example%d.com OK %d" % (i, i % 97, i) for i in range(100000)]
    hkeys = ["host%d.example%d.com" % (rng.randrange(200000), rng.randrange(97)) for _ in range(100000)]
    texthash = ("texthash", "\n".join(entries) + "\n", hkeys)
    # cidr: 5000 networks, 100000 addresses.
    nets = ["%d.%d.%d.0/24 NET%d" % (rng.randrange(1, 224), rng.randrange(256), rng.randrange(256), i)
            for i in range(5000)]
    ips = ["%d.%d.%d.%d" % (rng.randrange(1, 224), rng.randrange(256), rng.randrange(256), rng.randrange(256))
           for _ in range(100000)]
    cidr = ("cidr", "\n".join(nets) + "\n", ips)
    return [pcre, regexp, texthash, cidr]


def timed(cmd, data):
    start = time.monotonic()
    proc = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=600)
    return time.monotonic() - start, proc.stdout


def main():
    tmp = tempfile.mkdtemp(prefix="mailmoat-bench-")
    try:
        open(os.path.join(tmp, "main.cf"), "w").close()
        rng = random.Random(42)
        print("%-9s %8s %10s %10s %7s %s" % ("table", "keys", "postmap s", "mailmoat s", "ratio", "same answers"))
        only = sys.argv[2:]
        for kind, text, keys in make_cases(rng, tmp):
            if only and kind not in only:
                continue
            path = os.path.join(tmp, "t." + kind)
            with open(path, "w") as f:
                f.write(text)
            data = ("\n".join(keys) + "\n").encode()
            spec = "%s:%s" % (kind, path)
            t_pm, out_pm = timed([POSTMAP, "-c", tmp, "-q", "-", spec], data)
            t_mm, out_mm = timed([TOOL, spec], data)
            print("%-9s %8d %10.3f %10.3f %6.2fx %s" % (kind, len(keys), t_pm, t_mm, t_pm / t_mm,
                                                        "yes" if out_pm == out_mm else "NO"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
