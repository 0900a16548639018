#!/usr/bin/python3
# tests/integration/test_table_postmap_oracle.py - our texthash/cidr/regexp/pcre tables must answer the same
# keys with the same values as Postfix's own "postmap -q -" on the same files.
import os
import random
import shutil
import subprocess
import sys
import tempfile

BUILD = os.environ.get("MAILMOAT_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
TOOL = os.path.join(BUILD, "tests", "tools", "mailmoat_table_tool")
POSTMAP = "/usr/sbin/postmap"

TABLES = {
    "texthash": (
        "# access-style table\n"
        "Example.COM        REJECT spam source\n"
        "user@example.net   OK\n"
        "user@              DUNNO\n"
        "192.0.2            550 go away\n"
        "multi              first part\n"
        "  # comment between a line and its continuation\n"
        "\tsecond   part\n"
        "MiXeD.Case.ORG     mixed\n",
        ["example.com", "EXAMPLE.com", "Example.COM", "user@example.net", "USER@example.net", "user@", "192.0.2",
         "192.0.2.1", "multi", "mixed.case.org", "missing", "second", "#"],
    ),
    "cidr": (
        "192.0.2.1          exact\n"
        "192.0.2.0/24       net24\n"
        "198.51.0.0/16      net16\n"
        "[2001:db8::1]      v6exact\n"
        "2001:db8::/32      v6net\n"
        "if 203.0.113.0/24\n"
        "203.0.113.7        inside\n"
        "if !203.0.113.0/25\n"
        "0.0.0.0/0          upper-half\n"
        "endif\n"
        "endif\n"
        "10.0.0.0/8         ten\n"
        "fe80::/10          linklocal\n",
        None,  # keys generated below
    ),
    "regexp": (
        "/^Subject:.*viagra/         REJECT drugs\n"
        "/^From:.*<([^@>]+)@([^>]+)>$/   FROM $2 USER ${1} $(1) $$\n"
        "/^To: CaseSensitive$/i      CASE\n"
        "/^X-Bre: \\(ab\\)\\{2\\}+$/x  BRE $1\n"
        "/^Bracket: [\\.]$/         BRACKET\n"
        "if /^X-If:/\n"
        "!/example\\.com/           NOT-EXAMPLE\n"
        "/./                         EXAMPLE\n"
        "endif\n"
        "/^([a-z]+)-([0-9]+)$/       WORD $1 NUM $2\n"
        "/(foo|bar)+baz/             ALT $1\n"
        "/\\<word\\>/                 WORD-BOUNDARY\n"
        "/\\`start|end\\'/              BUFFER\n"
        "/\\bgnu\\w+\\s\\S/             GNU-CLASSES\n",
        ["Subject: cheap VIAGRA", "subject: nothing", "From: Someone <me@example.com>", "From: <a@b>",
         "To: CaseSensitive", "To: casesensitive", "X-Bre: abab+", "X-Bre: ababb", "Bracket: \\", "Bracket: .",
         "Bracket: x", "X-If: a@example.com", "X-If: a@example.org", "abc-123", "ABC-123", "foobarbaz", "nothing",
         "barbaz", "a word here", "swordfish", "words", "the end", "gnuish x", "gnu  x", "start", "restart", "ending"],
    ),
    "pcre": (
        "/abc/                       DEFAULT-I\n"
        "/^Exact$/i                  CASE\n"
        "/^(\\w+)@(\\w+)\\.com$/       ${2}:$1:$$\n"
        "/<(.+)>/U                   UNGREEDY $1\n"
        "/^anch/A                    ANCHORED\n"
        "/x y z/x                    EXTENDED\n"
        "~^a/b~                      TILDE\n"
        "!/^Received:/               NOT-RECEIVED\n",
        ["xxABCxx", "Exact", "exact", "me@corp.com", "ME@CORP.COM", "<a><b>", "anchor", "xyz", "a/b",
         "Received: x", "something else"],
    ),
}


def random_ips(rng, n):
    out = ["192.0.2.1", "192.0.2.200", "198.51.7.7", "2001:db8::1", "2001:db8:1::5", "2001:db9::1",
           "203.0.113.7", "203.0.113.8", "203.0.113.200", "10.1.2.3", "fe80::1", "::1", "127.0.0.1", "not-an-ip"]
    for _ in range(n):
        if rng.random() < 0.6:
            prefix = rng.choice(["192.0.2", "198.51.%d" % rng.randrange(256), "203.0.113", "10.%d.%d" % (
                rng.randrange(256), rng.randrange(256)), "%d.%d.%d" % (rng.randrange(256), rng.randrange(256),
                                                                       rng.randrange(256))])
            out.append("%s.%d" % (prefix, rng.randrange(256)))
        else:
            head = rng.choice(["2001:db8", "2001:db8:ffff", "fe80", "2001:db9", "2a00:1450"])
            out.append("%s::%x" % (head, rng.randrange(65536)))
    return out


def query(cmd, keys, env=None):
    proc = subprocess.run(cmd, input="\n".join(keys).encode() + b"\n", stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60, env=env)
    if proc.returncode not in (0, 1):  # postmap -q exits 1 when nothing was found
        raise RuntimeError("%s failed (%d): %s" % (cmd, proc.returncode, proc.stderr.decode(errors="replace")))
    answers = {}
    for line in proc.stdout.decode(errors="replace").splitlines():
        key, _, value = line.partition("\t")
        answers[key] = value
    return answers


def main():
    passed, failures = 0, []
    for needed in (TOOL, POSTMAP):
        if not os.access(needed, os.X_OK):
            print("missing %s" % needed)
            print("0 passed, 1 failed")
            return 1
    tmp = tempfile.mkdtemp(prefix="mailmoat-postmap-")
    try:
        open(os.path.join(tmp, "main.cf"), "w").close()  # postmap -c needs a config directory
        rng = random.Random(20261130)
        for kind, (text, keys) in TABLES.items():
            path = os.path.join(tmp, "table." + kind)
            with open(path, "w") as f:
                f.write(text)
            if keys is None:
                keys = random_ips(rng, 400)
            spec = "%s:%s" % (kind, path)
            theirs = query([POSTMAP, "-c", tmp, "-q", "-", spec], keys)
            ours = query([TOOL, spec], keys)
            if not theirs:
                failures.append("%s: postmap found nothing, the oracle is not working" % kind)
            for key in keys:
                if ours.get(key) == theirs.get(key):
                    passed += 1
                else:
                    failures.append("%s %r: ours %r, postmap %r" % (kind, key, ours.get(key), theirs.get(key)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for f in failures:
        print("FAIL " + f)
    print("%d passed, %d failed" % (passed, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
