#!/usr/bin/python3
# tests/integration/test_auth_results_oracle.py - Authentication-Results built by mailmoat, parsed by the
# independent python3-authres module (and the other way round) must give the same values.
import os
import re
import subprocess
import sys

import authres
import authres.core

BUILD = os.environ.get("MAILMOAT_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
TOOL = os.path.join(BUILD, "tests", "tools", "mailmoat_ar_tool")


def R(method, result, version="", comment="", reason="", props=()):
    return {"method": method, "version": version, "result": result, "comment": comment, "reason": reason,
            "props": list(props)}


# authres accepts only the smtp/header/body/policy ptypes and a quoted pvalue only as the last property of a
# resinfo, so these cases stay inside that (RFC-valid) subset.
CASES = [
    {"id": "mx.example.org", "version": "", "results": []},
    {"id": "mx.example.org", "version": "1", "results": []},
    {"id": "mx.example.org", "version": "",
     "results": [R("spf", "pass", props=[("smtp", "mailfrom", "user@example.net"), ("smtp", "helo", "mail.example.net")])]},
    {"id": "mx.example.org", "version": "1",
     "results": [R("dkim", "pass", comment="2048-bit key; secure", reason="good signature",
                   props=[("header", "d", "example.com"), ("header", "i", "@example.com"), ("header", "s", "sel-2026"),
                          ("header", "b", "AbC+/12")])]},
    {"id": "mx.example.org", "version": "",
     "results": [R("dmarc", "fail", props=[("header", "from", "example.com"), ("policy", "dmarc", "reject")]),
                 R("dkim", "fail", version="1", reason="signature did not verify", props=[("header", "d", "example.com")]),
                 R("iprev", "pass", props=[("policy", "iprev", "192.0.2.1")]),
                 R("auth", "pass", comment="cram-md5", props=[("smtp", "auth", "sender@example.net")]),
                 R("x-local-check", "neutral", props=[("body", "hash", "abc")])]},
    {"id": "mx.example.org", "version": "",
     "results": [R("spf", "softfail", reason='a "quoted" reason; with \\ backslash',
                   props=[("smtp", "mailfrom", "bounces+list=example.com@lists.example.net")])]},
    {"id": "mail-router.example.net", "version": "",
     "results": [R("dkim", "pass", props=[("header", "d", "d%d.example.com" % i), ("header", "s", "selector%d" % i)])
                 for i in range(8)]},
    {"id": "mx.example.org", "version": "",
     "results": [R("dkim", "neutral", props=[("header", "d", "example.com"), ("policy", "note", "value with spaces")])]},
]


def describe(case):
    lines = ["id\t" + case["id"]]
    if case["version"]:
        lines.append("version\t" + case["version"])
    for r in case["results"]:
        lines.append("\t".join(["result", r["method"], r["version"], r["result"], r["comment"], r["reason"]]))
        for p in r["props"]:
            lines.append("\t".join(("prop",) + tuple(p)))
    return "\n".join(lines) + "\n"


def run_tool(mode, text):
    proc = subprocess.run([TOOL, mode], input=text.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=30)
    if proc.returncode != 0:
        raise RuntimeError("%s %s failed: %s" % (TOOL, mode, proc.stderr.decode(errors="replace")))
    return proc.stdout.decode()


def parse_description(text):
    out = {"status": None, "id": None, "version": "", "results": []}
    for line in text.splitlines():
        f = line.split("\t")
        if f[0] == "status":
            out["status"] = f[1]
        elif f[0] == "id":
            out["id"] = f[1]
        elif f[0] == "version":
            out["version"] = f[1]
        elif f[0] == "result":
            f += [""] * (6 - len(f))
            out["results"].append(R(f[1], f[3], version=f[2], comment=f[4], reason=f[5]))
        elif f[0] == "prop":
            out["results"][-1]["props"].append((f[1], f[2], f[3]))
    return out


def unquote_pairs(value):
    # authres 1.2 returns a quoted-string's content with its quoted-pairs still escaped; RFC 5322 §3.2.4
    # makes \" mean ", so decode them before comparing.
    return re.sub(r"\\(.)", r"\1", value)


def from_authres(hdr):
    results = []
    for r in hdr.results:
        results.append(R(r.method, r.result, version=r.version or "", comment=r.result_comment or "",
                         reason=unquote_pairs(str(r.reason)) if r.reason else "",
                         props=[(p.type, p.name, unquote_pairs(str(p.value))) for p in r.properties]))
    return {"id": hdr.authserv_id, "version": hdr.version or "", "results": results}


def without_comments(case):
    return {"id": case["id"].lower(), "version": case["version"],
            "results": [dict(r, comment="") for r in case["results"]]}


def unfold(field):
    return field.replace("\r\n", "").replace("\n", "")


failures = []
passed = 0


def check(name, got, want):
    global passed
    if got == want:
        passed += 1
    else:
        failures.append("%s:\n  got  %r\n  want %r" % (name, got, want))


def main():
    if not os.access(TOOL, os.X_OK):
        print("missing %s (build the project first)" % TOOL)
        print("0 passed, 1 failed")
        return 1

    # 1. Our builder -> authres parser.
    for i, case in enumerate(CASES):
        field = run_tool("build", describe(case))
        lines = field.rstrip("\r\n").split("\r\n")
        check("case %d: folded lines within 78" % i, [l for l in lines if len(l) > 78 and " " in l.strip()], [])
        try:
            parsed = authres.AuthenticationResultsHeader.parse(unfold(field).rstrip())
        except authres.core.AuthResError as e:
            failures.append("case %d: authres rejected %r: %s" % (i, field, e))
            continue
        # authres drops comments when parsing; compare everything else.
        check("case %d: ours -> authres" % i, without_comments(from_authres(parsed)), without_comments(case))

    # 2. authres builder -> our parser (authres writes result comments; we keep the first one).
    for i, case in enumerate(CASES):
        results = []
        for r in case["results"]:
            props = [authres.core.AuthenticationResultProperty(t, n, v) for (t, n, v) in r["props"]]
            results.append(authres.core.AuthenticationResult(
                r["method"], r["version"] or None, r["result"], r["comment"] or None, r["reason"] or None, None, props))
        hdr = authres.AuthenticationResultsHeader(authserv_id=case["id"], version=case["version"] or None,
                                                  results=results)
        text = str(hdr)
        ours = parse_description(run_tool("parse", text))
        check("case %d: authres -> ours status (%s)" % (i, text), ours.pop("status"), "ok")
        check("case %d: authres -> ours" % i, ours, {"id": case["id"].lower(), "version": case["version"],
                                                     "results": case["results"]})

    # 3. Both parsers on the same foreign texts (RFC 8601 appendix B and authres's own examples).
    foreign = [
        "Authentication-Results: example.org 1; none",
        "Authentication-Results: example.com; spf=pass smtp.mailfrom=example.net",
        "Authentication-Results: example.com; auth=pass (cram-md5) smtp.auth=sender@example.net; "
        "spf=pass smtp.mailfrom=example.net",
        "Authentication-Results: example.com; iprev=pass policy.iprev=192.0.2.200",
        "Authentication-Results: example.com; sender-id=fail header.from=example.com; "
        "dkim=pass (good signature) header.d=example.com",
        'Authentication-Results: example.com; dkim=pass reason="good signature" header.i=@mail-router.example.net; '
        'dkim=fail reason="bad signature" header.i=@newyork.example.com',
        "Authentication-Results: example.net; dkim=pass (good signature) header.i=@newyork.example.com",
        "Authentication-Results: foo.example.net (foobar) 1 (baz); dkim=fail policy.expired=1362471462",
    ]
    # RFC 8601 B.7 in full (comments after the method version) is beyond authres 1.2's parser; the unit
    # test auth_results_test.cpp checks our parser on it.
    for text in foreign:
        theirs = without_comments(from_authres(authres.AuthenticationResultsHeader.parse(text)))
        ours = parse_description(run_tool("parse", text))
        check("foreign status: " + text, ours.pop("status"), "ok")
        ours["id"] = ours["id"].lower()
        check("foreign: " + text, without_comments(ours), theirs)

    for f in failures:
        print("FAIL " + f)
    print("%d passed, %d failed" % (passed, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
