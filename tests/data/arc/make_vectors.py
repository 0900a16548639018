#!/usr/bin/python3
# tests/data/arc/make_vectors.py - builds the ARC test vectors in this folder with dkimpy (python3-dkim)
# as the independent implementation: chains sealed by dkimpy's arc_sign, broken in the ways RFC 8617
# §5.2 names, and the verdict of dkimpy's arc_verify for each.
#
#   /usr/bin/python3 tests/data/arc/make_vectors.py [OUTDIR]
#
# Writes OUTDIR/*.eml, OUTDIR/keys.zone (key records in tests/fakes/fake_resolver.hpp syntax),
# OUTDIR/hop*.pem (the sealers' private keys, test-only) and OUTDIR/expected.txt, one line per vector:
#   NAME dkimpy=pass|fail|none|terminated expect=pass|fail|none reason=REASON oldest_pass=N
# dkimpy reports a chain whose seal says cv=fail as None ("the chain is terminated"); RFC 8617 §5.2
# step 2 calls that "fail", so such vectors read dkimpy=terminated expect=fail. `reason` and
# `oldest_pass` are what the construction implies (dkimpy does not report them).
# The same functions are imported by tests/integration/test_arc_oracle.py to build fresh chains.
import base64
import os
import subprocess
import sys

import dkim  # Debian python3-dkim

TIMESTAMP = 1764547200  # 2025-12-01, fixed so that the vectors are reproducible from the keys

BASE = (b"From: Alice <alice@origin.example>\r\n"
        b"To: list@lists.example\r\n"
        b"Subject: ARC test message\r\n"
        b"Date: Mon, 30 Nov 2026 12:00:00 +0000\r\n"
        b"Message-ID: <arc-test@origin.example>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n"
        b"\r\n"
        b"Hello list,\r\n"
        b"\r\n"
        b"  this message travels  through  several hops.\r\n"
        b"-- \r\nAlice\r\n")


def make_key(path):
    """A 2048-bit RSA key in traditional PEM (dkimpy reads it) and its DKIM key record."""
    if not os.path.exists(path):
        subprocess.run(["openssl", "genrsa", "-traditional", "-out", path, "2048"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(path, "rb") as f:
        pem = f.read()
    der = subprocess.run(["openssl", "rsa", "-in", path, "-pubout", "-outform", "DER"], check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    return pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


class Keys:
    """Sealer keys: hop<k>.example, selector arc."""

    def __init__(self, directory, hops=3):
        self.pem = {}
        self.records = {}
        for k in range(1, hops + 1):
            domain = "hop%d.example" % k
            pem, record = make_key(os.path.join(directory, "hop%d.pem" % k))
            self.pem[domain] = pem
            self.records["arc._domainkey." + domain] = record

    def dnsfunc(self, name, timeout=5):
        rec = self.records.get(name.decode().rstrip(".").lower())
        return rec.encode() if rec is not None else None

    def zone(self):
        return "".join('%s TXT "%s"\n' % (n, r) for n, r in sorted(self.records.items()))


def seal(msg, keys, hop, cv, modify_body=None, sealer=None):
    """One forwarding hop: records its Authentication-Results (with arc=cv unless cv is None),
    adds a Received field, optionally rewrites the body (a mailing-list footer), then seals with the
    key of hop<sealer>.example (default: its own)."""
    domain = "hop%d.example" % (sealer or hop)
    srv_id = "relay%d.hop%d.example" % (hop, sealer or hop)
    ar = "Authentication-Results: %s; spf=pass smtp.mailfrom=alice@origin.example" % srv_id
    if cv is not None:
        ar += ";\r\n\tarc=%s" % cv
    msg = ("Received: from mx.hop%d.example by relay.hop%d.example; Mon, 30 Nov 2026 12:0%d:00 +0000\r\n"
           % (hop - 1, hop, hop)).encode() + ar.encode() + b"\r\n" + msg
    if modify_body is not None:
        head, body = msg.split(b"\r\n\r\n", 1)
        msg = head + b"\r\n\r\n" + modify_body(body)
    sigs = dkim.arc_sign(msg, b"arc", domain.encode(), keys.pem[domain], srv_id.encode(),
                         timestamp=TIMESTAMP + hop)
    if not sigs:
        raise RuntimeError("dkimpy did not seal hop %d" % hop)
    return b"".join(sigs) + msg


def chain(keys, hops, modify_at=None, cvs=None, sealer=None):
    """A chain of `hops` seals; hop k writes arc=cvs[k-1] (default none for 1, pass after)."""
    msg = BASE
    for k in range(1, hops + 1):
        cv = (cvs[k - 1] if cvs else (None if k == 1 else "pass"))
        mod = (lambda b: b + b"_______________\r\nlist footer added by hop %d\r\n" % k) if modify_at == k else None
        msg = seal(msg, keys, k, cv, mod, sealer)
    return msg


def dkimpy_verdict(msg, keys):
    cv, _results, _reason = dkim.arc_verify(msg, dnsfunc=keys.dnsfunc)
    if cv is None:
        return "terminated"
    return cv.decode()


def fields(msg):
    """Splits the header block into fields (raw bytes including CRLF) and returns (fields, body)."""
    head, body = msg.split(b"\r\n\r\n", 1)
    out = []
    for line in (head + b"\r\n").split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t") and out:
            out[-1] += line + b"\r\n"
        else:
            out.append(line + b"\r\n")
    return out, body


def join(fs, body):
    return b"".join(fs) + b"\r\n" + body


def arc_instance(field):
    import re
    m = re.search(rb"[\s;]?i\s*=\s*(\d+)", field.split(b":", 1)[1])
    return int(m.group(1)) if m else None


def is_arc(field, name=None):
    n = field.split(b":", 1)[0].strip().lower()
    if name is not None:
        return n == name
    return n in (b"arc-seal", b"arc-message-signature", b"arc-authentication-results")


def flip_b(field):
    """Changes one base64 character in the b= value of a signature field."""
    i = field.index(b"b=", field.index(b"; b=") if b"; b=" in field else 0) + 2
    while field[i:i + 1] in (b" ", b"\t", b"\r", b"\n"):
        i += 1
    c = field[i:i + 1]
    return field[:i] + (b"A" if c != b"A" else b"B") + field[i + 1:]


def vectors(keys, long_chain=True):
    """(name, message, expect, reason, oldest_pass) for every vector (the 50-set chain only with
    long_chain)."""
    v = []
    v.append(("unsigned", BASE, "none", "none", 0))
    v.append(("chain1", chain(keys, 1), "pass", "none", 0))
    v.append(("chain2", chain(keys, 2), "pass", "none", 0))
    v.append(("chain3", chain(keys, 3), "pass", "none", 0))
    # A mailing list at hop 2 verifies the chain, then adds a footer and seals: the chain passes,
    # the AMS of hop 1 no longer does, so oldest-pass is 2.
    v.append(("list_footer_at_hop2", chain(keys, 2, modify_at=2), "pass", "none", 2))
    v.append(("list_footer_at_hop2_of3", chain(keys, 3, modify_at=2), "pass", "none", 2))
    # Body altered after the last seal (in transit to us): the newest AMS fails.
    m = chain(keys, 2)
    v.append(("body_altered_after_last_hop", m.replace(b"several hops", b"several HOPS"), "fail", "ams_fail", 0))
    m = chain(keys, 1)
    v.append(("body_altered_after_hop1", m + b"appended\r\n", "fail", "ams_fail", 0))
    # A seal's signature altered.
    fs, body = fields(chain(keys, 2))
    k = next(i for i, f in enumerate(fs) if is_arc(f, b"arc-seal") and arc_instance(f) == 1)
    fs[k] = flip_b(fs[k])
    v.append(("seal1_b_altered", join(fs, body), "fail", "seal_fail", 0))
    fs, body = fields(chain(keys, 3))
    k = next(i for i, f in enumerate(fs) if is_arc(f, b"arc-seal") and arc_instance(f) == 3)
    fs[k] = flip_b(fs[k])
    v.append(("seal3_b_altered", join(fs, body), "fail", "seal_fail", 0))
    # The AAR of set 1 altered: covered by every seal, not by any AMS.
    fs, body = fields(chain(keys, 2))
    k = next(i for i, f in enumerate(fs) if is_arc(f, b"arc-authentication-results") and arc_instance(f) == 1)
    fs[k] = fs[k].replace(b"spf=pass", b"spf=fail")
    v.append(("aar1_altered", join(fs, body), "fail", "seal_fail", 0))
    # Set 2 removed from a chain of 3.
    fs, body = fields(chain(keys, 3))
    fs = [f for f in fs if not (is_arc(f) and arc_instance(f) == 2)]
    v.append(("missing_i2", join(fs, body), "fail", "missing_instance", 0))
    # Only the AMS of set 2 removed.
    fs, body = fields(chain(keys, 2))
    fs = [f for f in fs if not (is_arc(f, b"arc-message-signature") and arc_instance(f) == 2)]
    v.append(("missing_ams2", join(fs, body), "fail", "missing_field", 0))
    # Hop 2 found the chain broken and sealed with cv=fail; hop 3 then seals on top.
    m = chain(keys, 2, cvs=[None, "fail"])
    v.append(("cv_fail_newest", m, "fail", "cv_fail", 0))
    v.append(("cv_fail_in_chain", seal(m, keys, 3, "fail"), "fail", "cv_fail", 0))
    # cv=pass rewritten to cv=none at i=2.
    fs, body = fields(chain(keys, 2))
    k = next(i for i, f in enumerate(fs) if is_arc(f, b"arc-seal") and arc_instance(f) == 2)
    fs[k] = fs[k].replace(b"cv=pass", b"cv=none")
    v.append(("cv_none_at_i2", join(fs, body), "fail", "cv_invalid", 0))
    # A duplicated instance: the seal of set 2 appears twice, and a second set-1 AMS.
    fs, body = fields(chain(keys, 2))
    k = next(i for i, f in enumerate(fs) if is_arc(f, b"arc-seal") and arc_instance(f) == 2)
    fs.insert(k, fs[k])
    v.append(("duplicate_seal2", join(fs, body), "fail", "duplicate_field", 0))
    fs, body = fields(chain(keys, 2))
    k = next(i for i, f in enumerate(fs) if is_arc(f, b"arc-message-signature") and arc_instance(f) == 1)
    fs.insert(0, fs[k])
    v.append(("duplicate_ams1", join(fs, body), "fail", "duplicate_field", 0))
    # Instance 51.
    fs, body = fields(chain(keys, 2))
    fs = [f.replace(b"i=2;", b"i=51;", 1) if is_arc(f) and arc_instance(f) == 2 else f for f in fs]
    v.append(("instance_51", join(fs, body), "fail", "too_many_sets", 0))
    # The longest allowed chain: 50 hops by one sealer.
    if long_chain:
        v.append(("chain50", chain(keys, 50, sealer=1), "pass", "none", 0))
    return v


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(out, exist_ok=True)
    keys = Keys(out)
    with open(os.path.join(out, "keys.zone"), "w") as f:
        f.write("# ARC sealer keys (selector arc) for the vectors; generated by make_vectors.py\n")
        f.write(keys.zone())
    lines = []
    for name, msg, expect, reason, oldest in vectors(keys):
        with open(os.path.join(out, name + ".eml"), "wb") as f:
            f.write(msg)
        lines.append("%s dkimpy=%s expect=%s reason=%s oldest_pass=%d" % (
            name, dkimpy_verdict(msg, keys), expect, reason, oldest))
    with open(os.path.join(out, "expected.txt"), "w") as f:
        f.write("# generated by make_vectors.py: NAME dkimpy=VERDICT expect=STATUS reason=REASON oldest_pass=N\n")
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
