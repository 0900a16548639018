#!/usr/bin/python3
# tests/integration/test_dkim_corpus_inbound.py - the message corpus signed by the OpenDKIM daemon (a milter
# in a first Postfix), by dkimpy and by Mail::DKIM gets dkim=pass from mailmoat-dkim in a second Postfix;
# altered, expired, revoked, rsa-sha1 and 512-bit-key signatures get fail / permerror and a SERVFAIL on
# the key gets temperror, in the Authentication-Results field.
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402
from dkim_corpus_support import *  # noqa: E402,F401,F403

import dkim  # noqa: E402  (python3-dkim, dkimpy)


class DkimCorpusInboundTest(CorpusTestCase):
    def test_opendkim_dkimpy_mail_dkim_signatures_verify_with_mailmoat_and_bad_ones_get_rfc_results(self):
        short, short_rec = genkey(self.dir, "short", "RSA", 512)
        records = dict(self.records)
        records[f"short._domainkey.{DOMAIN}"] = short_rec
        records[f"revoked._domainkey.{DOMAIN}"] = "v=DKIM1; k=rsa; p="
        records[f"broken._domainkey.{DOMAIN}"] = self.records[f"rsa._domainkey.{DOMAIN}"]
        zone = zone_of(records, f";@servfail broken._domainkey.{DOMAIN}\n")
        with open(self.rsa, "rb") as f:
            rsa_pem = f.read()
        with open(short, "rb") as f:
            short_pem = f.read()
        small = {k: v for k, v in self.corpus.items()}

        def dkimpy_sign(raw, selector=b"rsa", key=rsa_pem, alg=b"rsa-sha256", canon=(b"relaxed", b"relaxed")):
            return dkim.sign(raw, selector, DOMAIN.encode(), key, canonicalize=canon, signature_algorithm=alg,
                             include_headers=[b"from", b"to", b"subject", b"date", b"message-id"]) + raw

        def mail_dkim_sign(raw, method="relaxed"):
            return subprocess.run(["perl", MAIL_DKIM_SIGN, self.rsa, DOMAIN, "rsa", method], input=raw,
                                  capture_output=True, check=True, timeout=120).stdout

        def relabel(raw, tag):
            return raw.replace(b"Message-ID: <", b"Message-ID: <" + tag.encode() + b"-", 1)

        with mmtest.Sink() as sink, mmtest.DnsServer(zone) as dns, \
                mmtest.Daemon("mailmoat-dkim", ["--mode", "v", "--dns-server", dns.address, "--authserv-id",
                                                AUTHSERV, "--config", ""], name="verifier") as verifier, \
                mmtest.Postfix(sink.port, dict(BIG_PARAMS, smtpd_milters=verifier.socket,
                                               milter_default_action="tempfail")) as inbound, \
                OpenDkimDaemon(self.dir, self.rsa, "rsa") as odk, \
                mmtest.Postfix(inbound.port, dict(BIG_PARAMS, smtpd_milters="unix:" + odk.sock,
                                                  milter_default_action="tempfail")) as outbound:
            expect = {}
            # OpenDKIM signs on the outbound Postfix; mailmoat-dkim verifies on the inbound one.
            for name, raw in small.items():
                send(outbound.port, relabel(raw, "odk"))
                expect["odk-" + subject_of(raw)] = ("pass", name + " signed by OpenDKIM")
            for name, raw in small.items():
                if name == "attachment-5mb":
                    continue
                send(inbound.port, dkimpy_sign(relabel(raw, "py")))
                expect["py-" + subject_of(raw)] = ("pass", name + " signed by dkimpy")
                send(inbound.port, mail_dkim_sign(relabel(raw, "md")))
                expect["md-" + subject_of(raw)] = ("pass", name + " signed by Mail::DKIM")
            base = small["qp-soft-breaks"]
            send(inbound.port, dkimpy_sign(relabel(base, "altered")).replace(b"Umlauten", b"Umlautem", 1))
            expect["altered-qp@example.org"] = ("fail", "altered body")
            send(inbound.port, dkimpy_sign(relabel(base, "sha1"), alg=b"rsa-sha1"))
            expect["sha1-qp@example.org"] = ("fail|permerror", "rsa-sha1 (RFC 8301)")
            send(inbound.port, dkimpy_sign(relabel(base, "short"), selector=b"short", key=short_pem))
            expect["short-qp@example.org"] = ("fail|permerror", "512-bit key (RFC 8301)")
            send(inbound.port, dkimpy_sign(relabel(base, "revoked"), selector=b"revoked"))
            expect["revoked-qp@example.org"] = ("permerror", "revoked key")
            send(inbound.port, dkimpy_sign(relabel(base, "servfail"), selector=b"broken"))
            expect["servfail-qp@example.org"] = ("temperror", "SERVFAIL on the key")
            # Expired: x= an hour ago (Mail::DKIM signer sets x= from its Expiration; dkimpy has none).
            expired = subprocess.run(
                ["perl", "-e",
                 "use Mail::DKIM::Signer; binmode STDIN; binmode STDOUT; my $m = do { local $/; <STDIN> };"
                 "my $d = Mail::DKIM::Signer->new(Algorithm=>'rsa-sha256', Method=>'relaxed', Domain=>$ARGV[1],"
                 "Selector=>'rsa', KeyFile=>$ARGV[0], Timestamp=>time()-7200, Expiration=>time()-3600);"
                 "$d->PRINT($m); $d->CLOSE; print $d->signature->as_string, \"\\015\\012\", $m;",
                 self.rsa, DOMAIN], input=relabel(base, "expired"), capture_output=True, check=True).stdout
            self.assertIn(b"x=", expired.split(b"\r\n\r\n")[0])
            send(inbound.port, expired)
            expect["expired-qp@example.org"] = ("permerror|fail", "expired x=")

            got = {subject_of(crlf(m.raw)): m for m in sink.wait_messages(len(expect), timeout=180)}
            for mid, (want, what) in expect.items():
                with self.subTest(case=what):
                    m = got.get(mid)
                    self.assertIsNotNone(m, f"{what}: not delivered")
                    ar = [v for v in m.msg.get_all("Authentication-Results", []) if v.strip().startswith(AUTHSERV)]
                    self.assertEqual(len(ar), 1, f"{what}: {ar}")
                    results = re.findall(r"dkim=(\w+)", ar[0])
                    self.assertEqual(len(results), 1, f"{what}: {ar[0]}")
                    self.assertRegex(results[0], f"^({want})$", f"{what}: {ar[0]}")

if __name__ == "__main__":
    mmtest.run()
