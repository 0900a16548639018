#!/usr/bin/python3
# tests/integration/test_dkim_corpus.py - the message corpus (tests/data/mail plus a 5 MB attachment) signed
# by mailmoat-dkim (rsa-sha256 + ed25519-sha256, relaxed/relaxed) behind a real Postfix: every message
# verifies with dkimpy, Mail::DKIM (rsa) and OpenDKIM, and reaches the sink byte for byte as sent apart
# from the added DKIM-Signature fields and Postfix's Received field; a From field with two addresses and a
# message with two From fields are signed with From oversigned.
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402
from dkim_corpus_support import *  # noqa: E402,F401,F403

import dkim  # noqa: E402  (python3-dkim, dkimpy)


class DkimCorpusSignTest(CorpusTestCase):
    def test_corpus_signed_by_mailmoat_verifies_with_three_verifiers_unaltered(self):
        with mmtest.Sink() as sink, self.mailmoat_signer() as milter, \
                mmtest.Postfix(sink.port, dict(BIG_PARAMS, smtpd_milters=milter.socket,
                                               milter_default_action="tempfail")) as pf:
            for name, raw in self.corpus.items():
                send(pf.port, raw)
            delivered = sink.wait_messages(len(self.corpus), timeout=120)
            by_id = {subject_of(m.raw): crlf(m.raw) for m in delivered}

            keyfile = os.path.join(self.dir, "keys.txt")
            with open(keyfile, "w") as f:
                for n, r in self.records.items():
                    f.write(f"{n}\t{r}\n")
            dns_data = os.path.join(self.dir, "dns-data")
            with open(dns_data, "w") as f:
                for n, r in self.records.items():
                    f.write(f"{n} {r}\n")
            odk_conf = os.path.join(self.dir, "opendkim-verify.conf")
            with open(odk_conf, "w") as f:
                f.write(f"Mode v\nSyslog no\nTestDNSData file:{dns_data}\n")

            def dnsfunc(name, timeout=5):
                return self.records.get(name.decode().rstrip("."), "").encode()

            paths = []
            for name, sent in self.corpus.items():
                with self.subTest(message=name):
                    got = by_id.get(subject_of(sent))
                    self.assertIsNotNone(got, f"{name} not delivered")
                    # The signer changed nothing it signed: remove what was added above, compare bytes.
                    self.assertEqual(strip_added(got, ["dkim-signature", "dkim-signature", "received"]), sent, name)
                    sigs = re.findall(rb"(?ims)^DKIM-Signature:.*?(?=^\S)", got)
                    self.assertEqual(len(sigs), 2, name)
                    d = dkim.DKIM(got)
                    self.assertTrue(d.verify(idx=0, dnsfunc=dnsfunc), f"dkimpy: rsa-sha256 of {name}")
                    self.assertTrue(d.verify(idx=1, dnsfunc=dnsfunc), f"dkimpy: ed25519-sha256 of {name}")
                    # From is oversigned: h= names it once more than the message has From fields.
                    froms = len(re.findall(rb"(?im)^From:", sent.split(b"\r\n\r\n", 1)[0]))
                    h = re.search(rb"h=([^;]*)", re.sub(rb"\s", b"", sigs[0])).group(1).lower().split(b":")
                    self.assertEqual(h.count(b"from"), froms + 1, name)
                    path = os.path.join(self.dir, name + ".eml")
                    with open(path, "wb") as f:
                        f.write(got)
                    paths.append((name, path))
                    odk = subprocess.run(["opendkim", "-x", odk_conf, "-vv", "-t", path], capture_output=True,
                                         text=True, timeout=120)
                    text = odk.stdout + odk.stderr
                    self.assertRegex(text, r"dkim=pass \(2048-bit key\) header\.d=example\.org [^;]*header\.s=rsa",
                                     f"OpenDKIM on {name}: {text}")
                    self.assertRegex(text, r"dkim=pass [^;]*header\.s=ed", f"OpenDKIM on {name}: {text}")
            md = subprocess.run(["perl", MAIL_DKIM_VERIFY, keyfile] + [p for _, p in paths], capture_output=True,
                                text=True, timeout=300)
            lines = md.stdout.splitlines()
            self.assertEqual(len(lines), len(paths), md.stdout + md.stderr)
            for (name, path), line in zip(paths, lines):
                results = line.split("\t")[1].split(",")
                # Debian's Mail::DKIM has no ed25519-sha256: it must pass the rsa-sha256 signature.
                self.assertEqual(results[0], "pass", f"Mail::DKIM on {name}: {line}")
            # An altered copy fails with dkimpy (the checks above can fail).
            altered = by_id[subject_of(self.corpus["multipart-mixed"])].replace(b"Epilogue", b"Epilogu3")
            try:
                altered_ok = dkim.DKIM(altered).verify(idx=0, dnsfunc=dnsfunc)
            except dkim.ValidationError:
                altered_ok = False
            self.assertFalse(altered_ok)

if __name__ == "__main__":
    mmtest.run()
