#!/usr/bin/python3
# tests/integration/test_e2e_dkim.py - mailmoat-dkim behind a real Postfix.
# Mail from an internal client is signed (rsa-sha256 and ed25519-sha256) and verifies with dkimpy (both),
# OpenDKIM (both) and Mail::DKIM (rsa-sha256). Inbound mail signed by dkimpy or Mail::DKIM gets dkim=pass,
# fail (altered, rsa-sha1, 512-bit key), temperror (SERVFAIL, a lookup that times out), permerror (revoked,
# a key record that does not parse) or none in
# Authentication-Results, keys served by the test DNS server; a forged Authentication-Results claiming our
# authserv-id is removed. A message signed on one Postfix instance (simple/simple) gets dkim=pass from
# mailmoat-dkim on a second one. SIGHUP reloads keys; on-dns-error tempfail; unsafe key files refused.
import grp
import os
import pwd
import re
import signal
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

import dkim  # noqa: E402  (python3-dkim, dkimpy)

PROGRAM = "mailmoat-dkim"
AUTHSERV = "mx.mailmoat.test"


genkey = mmtest.dkim_key


zone_txt = mmtest.zone_txt


def unfold(value):
    """RFC 5322 §2.2.3 unfolding: the line breaks go, the whitespace after them stays."""
    return re.sub(r"\r?\n(?=[ \t])", "", value)


def crlf(raw):
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def send(pf, mail_from, rcpt, data):
    with smtplib.SMTP("127.0.0.1", pf.port, timeout=60) as s:
        s.ehlo("client.mailmoat.test")
        s.sendmail(mail_from, [rcpt], data)


def milter_params(spec):
    return {"smtpd_milters": spec, "non_smtpd_milters": spec, "milter_default_action": "tempfail"}


class DkimMilterTest(mmtest.TestCase):
    def setUp(self):
        self.dir = mmtest.make_tmpdir("dkimkeys")
        self.addCleanup(mmtest.remove_tmpdir, self.dir)

    def test_internal_mail_is_signed_and_verifies_with_dkimpy_opendkim_mail_dkim(self):
        rsa_path, _, rsa_rec = genkey(self.dir, "rsa", "RSA")
        ed_path, _, ed_rec = genkey(self.dir, "ed", "ED25519")
        records = {b"rsa2026._domainkey.mailmoat.test.": rsa_rec, b"ed2026._domainkey.mailmoat.test.": ed_rec}
        kt = os.path.join(self.dir, "KeyTable")
        st = os.path.join(self.dir, "SigningTable")
        with open(kt, "w") as f:
            f.write(f"# OpenDKIM format\nrsakey mailmoat.test:rsa2026:{rsa_path}\nedkey %:ed2026:{ed_path}\n")
        with open(st, "w") as f:
            f.write("*@mailmoat.test rsakey\n*@mailmoat.test edkey\n*@other.test rsakey\n")
        zone = "$ORIGIN mailmoat.test.\n$TTL 300\n@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n"
        zone += zone_txt("rsa2026._domainkey", rsa_rec) + zone_txt("ed2026._domainkey", ed_rec)
        args = ["--key-table", kt, "--signing-table", "refile:" + st, "--multiple-signatures", "yes",
                "--authserv-id", AUTHSERV]
        body = "Hello,\r\n\r\nline with trailing space \r\n  indented\r\n\r\n\r\n"
        message = ("From: Alice <alice@mailmoat.test>\r\nTo: bob@example.net\r\nSubject: signed  test\r\n"
                   "\tfolded\r\nDate: Tue, 1 Dec 2026 00:00:00 +0000\r\nMessage-ID: <m1@mailmoat.test>\r\n"
                   "X-Unsigned: kept as is\r\n\r\n" + body)
        with mmtest.Sink() as sink, mmtest.DnsServer(zone) as dns, mmtest.Daemon(PROGRAM, args) as milter, \
                mmtest.Postfix(sink.port, milter_params(milter.socket)) as pf:
            send(pf, "alice@mailmoat.test", "bob@example.net", message)
            [msg] = sink.wait_messages(1)
            raw = crlf(msg.raw)
            sigs = msg.msg.get_all("DKIM-Signature")
            self.assertEqual(len(sigs), 2, raw[:2000])
            self.assertIn("a=rsa-sha256", sigs[0])
            self.assertIn("a=ed25519-sha256", sigs[1])
            self.assertIn("s=rsa2026", sigs[0])
            self.assertIn("d=mailmoat.test", sigs[1])
            # Nothing else was changed: the body and our headers reach the sink byte for byte.
            self.assertTrue(raw.endswith(body.encode()), raw[-200:])
            self.assertIn(b"Subject: signed  test\r\n\tfolded\r\n", raw)
            self.assertIsNone(msg.header("Authentication-Results"))

            def dnsfunc(name, timeout=5):
                return records.get(name, "").encode()
            d = dkim.DKIM(raw)
            self.assertTrue(d.verify(idx=0, dnsfunc=dnsfunc), "dkimpy rejects the rsa-sha256 signature")
            self.assertTrue(d.verify(idx=1, dnsfunc=dnsfunc), "dkimpy rejects the ed25519-sha256 signature")
            # A changed body fails with dkimpy too (the check above can fail).
            try:
                altered_ok = dkim.DKIM(raw.replace(b"indented", b"indentex")).verify(idx=0, dnsfunc=dnsfunc)
            except dkim.ValidationError:
                altered_ok = False
            self.assertFalse(altered_ok)

            # Mail::DKIM (an independent implementation) with keys from the test DNS server.
            path = os.path.join(self.dir, "signed.eml")
            with open(path, "wb") as f:
                f.write(raw)
            perl = (
                "use Mail::DKIM::Verifier; use Net::DNS::Resolver;"
                "Mail::DKIM::DNS::resolver(Net::DNS::Resolver->new(nameservers=>['127.0.0.1'],"
                f"port=>{dns.port}, recurse=>0));"
                "my $v = Mail::DKIM::Verifier->new(); open(my $fh, '<', $ARGV[0]) or die;"
                "binmode $fh; $v->load($fh); print join(' ', map { $_->result_detail } $v->signatures), \"\\n\";")
            out = subprocess.run(["perl", "-e", perl, path], capture_output=True, text=True, timeout=60)
            # Debian's Mail::DKIM (1.20230212) has no ed25519-sha256 verifier: it must pass the RSA
            # signature and say so about the other one (rather than call it a failure).
            self.assertEqual(out.stdout.strip(), "pass invalid (unsupported algorithm ed25519-sha256)",
                             out.stdout + out.stderr)

            # OpenDKIM (a third implementation) in test mode, with the key records given as TestDNSData.
            dns_data = os.path.join(self.dir, "dns-data")
            with open(dns_data, "w") as f:
                for name, rec in records.items():
                    f.write(f"{name.decode().rstrip('.')} {rec}\n")
            odk_conf = os.path.join(self.dir, "opendkim.conf")
            with open(odk_conf, "w") as f:
                f.write(f"Mode v\nSyslog no\nTestDNSData file:{dns_data}\n")
            out = subprocess.run(["opendkim", "-x", odk_conf, "-vv", "-t", path], capture_output=True, text=True,
                                 timeout=60)
            text = out.stdout + out.stderr
            self.assertRegex(text, r"dkim=pass \(2048-bit key\) header\.d=mailmoat\.test [^;]*header\.s=rsa2026", text)
            self.assertRegex(text, r"dkim=pass [^;]*header\.d=mailmoat\.test [^;]*header\.s=ed2026", text)

            # The log line names both signatures.
            pf.wait_idle()
            self.assertIn("signatures=mailmoat.test/rsa2026/rsa-sha256,mailmoat.test/ed2026/ed25519-sha256",
                          milter.log())

            # Locally submitted mail (non_smtpd_milters) is signed too; an unmatched From is not.
            pf.sendmail("From: carol@mailmoat.test\nTo: dave@example.net\nSubject: via sendmail\n\nbody\n",
                        "carol@mailmoat.test", ["dave@example.net"])
            send(pf, "eve@nowhere.test", "bob@example.net",
                 "From: eve@nowhere.test\r\nTo: bob@example.net\r\nSubject: unmatched\r\n\r\nbody\r\n")
            sink.wait_messages(3)
            [local] = sink.find("via sendmail")
            self.assertEqual(len(local.msg.get_all("DKIM-Signature")), 2)
            self.assertTrue(dkim.DKIM(crlf(local.raw)).verify(idx=0, dnsfunc=dnsfunc))
            self.assertTrue(dkim.DKIM(crlf(local.raw)).verify(idx=1, dnsfunc=dnsfunc))
            [unmatched] = sink.find("unmatched")
            self.assertIsNone(unmatched.msg.get_all("DKIM-Signature"))

    def test_inbound_mail_is_verified(self):
        _, rsa_pem, rsa_rec = genkey(self.dir, "ext", "RSA")
        key_path, _, _ = genkey(self.dir, "own", "RSA")
        zone = "$ORIGIN example.org.\n$TTL 300\n@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n"
        zone += zone_txt("ext._domainkey", rsa_rec)
        zone += zone_txt("revoked._domainkey", "v=DKIM1; k=rsa; p=")
        zone += ";@servfail broken._domainkey.example.org\n"
        zone += ";@drop silent._domainkey.example.org\n"  # the key lookup times out
        zone += zone_txt("garbage._domainkey", "v=DKIM1; k=rsa; p=!!not*base64!!")

        def signed(subject, selector=b"ext", extra=b""):
            msg = (b"From: Sender <sender@example.org>\r\nTo: bob@example.net\r\nSubject: " + subject.encode() +
                   b"\r\nDate: Tue, 1 Dec 2026 00:00:00 +0000\r\nMessage-ID: <" + subject.encode().replace(b" ", b".") +
                   b"@example.org>\r\n" + extra + b"\r\nInbound body.\r\n")
            sig = dkim.sign(msg, selector, b"example.org", rsa_pem, canonicalize=(b"relaxed", b"simple"),
                            include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
            return sig + msg

        # rsa-sha1 (RFC 8301 §3.1) and a 512-bit key (RFC 8301 §3.2) must fail.
        _, short_pem, short_rec = genkey(self.dir, "short", "RSA", bits=512)
        zone += zone_txt("short._domainkey", short_rec)
        sha1 = signed("sha1 one")
        sha1_msg = sha1[sha1.index(b"From:"):]
        sha1 = dkim.sign(sha1_msg, b"ext", b"example.org", rsa_pem, signature_algorithm=b"rsa-sha1",
                         include_headers=[b"from", b"subject"]) + sha1_msg
        short_msg = signed("short one")[signed("short one").index(b"From:"):]
        short = dkim.sign(short_msg, b"short", b"example.org", short_pem, include_headers=[b"from", b"subject"]) + short_msg
        # Signed by Mail::DKIM (PKCS#1 key file, as Mail::DKIM expects).
        pkcs1 = os.path.join(self.dir, "ext-pkcs1.pem")
        subprocess.run(["openssl", "rsa", "-traditional", "-in", os.path.join(self.dir, "ext.pem"), "-out", pkcs1],
                       check=True, capture_output=True)
        mdk_msg = (b"From: sender@example.org\r\nTo: bob@example.net\r\nSubject: mail-dkim one\r\n\r\n"
                   b"Signed by Mail::DKIM.\r\n")
        perl = ("use Mail::DKIM::Signer; my $s = Mail::DKIM::Signer->new(Algorithm => 'rsa-sha256',"
                " Method => 'relaxed', Domain => 'example.org', Selector => 'ext', KeyFile => $ARGV[0]);"
                " binmode STDIN; local $/; my $m = <STDIN>; $s->PRINT($m); $s->CLOSE;"
                " print $s->signature->as_string, \"\\r\\n\";")
        r = subprocess.run(["perl", "-e", perl, pkcs1], input=mdk_msg, capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        mdk = r.stdout + mdk_msg

        # 127.0.0.1 is not internal here: everything is verified.
        args = ["--internal-hosts", "192.0.2.1", "--domain", "mailmoat.test", "--selector", "own",
                "--key-file", key_path, "--authserv-id", AUTHSERV, "--dns-timeout", "1", "--dns-retries", "0"]
        with mmtest.Sink() as sink, mmtest.DnsServer(zone) as dns, \
                mmtest.Daemon(PROGRAM, args + ["--dns-server", dns.address]) as milter, \
                mmtest.Postfix(sink.port, milter_params(milter.socket)) as pf:
            forged = (b"Authentication-Results: " + AUTHSERV.encode() + b"; dkim=pass header.d=bank.example\r\n"
                      b"Authentication-Results: other.example; spf=pass smtp.mailfrom=example.org\r\n")
            send(pf, "sender@example.org", "bob@example.net", signed("good one", extra=forged))
            altered = signed("altered one").replace(b"Inbound body.", b"Inbound b0dy.")
            send(pf, "sender@example.org", "bob@example.net", altered)
            send(pf, "sender@example.org", "bob@example.net", signed("servfail one", selector=b"broken"))
            send(pf, "sender@example.org", "bob@example.net", signed("revoked one", selector=b"revoked"))
            send(pf, "sender@example.org", "bob@example.net", signed("timeout one", selector=b"silent"))
            send(pf, "sender@example.org", "bob@example.net", signed("garbage key one", selector=b"garbage"))
            send(pf, "sender@example.org", "bob@example.net",
                 "From: sender@example.org\r\nTo: bob@example.net\r\nSubject: unsigned one\r\n\r\nx\r\n")
            for m in (sha1, short, mdk):
                send(pf, "sender@example.org", "bob@example.net", m)
            sink.wait_messages(10)

            def ar(subject):
                [m] = sink.find(subject)
                # Verified mail is not signed by us.
                self.assertFalse([s for s in m.msg.get_all("DKIM-Signature") or [] if "mailmoat.test" in s])
                return [unfold(v) for v in m.msg.get_all("Authentication-Results") or []], m

            values, good = ar("good one")
            ours = [v for v in values if v.strip().startswith(AUTHSERV)]
            self.assertEqual(len(ours), 1, values)
            self.assertRegex(" ".join(ours[0].split()),
                             r"^mx\.mailmoat\.test; dkim=pass header\.d=example\.org header\.s=ext "
                             r'header\.i=@example\.org header\.b=("[A-Za-z0-9+/]{8}"|[A-Za-z0-9+]{8})$')
            self.assertNotIn("bank.example", " ".join(values))
            self.assertTrue(any("other.example; spf=pass" in v for v in values), values)
            # Our field sits above the message's own fields.
            names = [k.lower() for k, _ in good.headers()]
            self.assertLess(names.index("authentication-results"), names.index("dkim-signature"))

            self.assertRegex(ar("altered one")[0][0], r"^ ?mx\.mailmoat\.test; dkim=fail ")
            self.assertRegex(ar("servfail one")[0][0], r"^ ?mx\.mailmoat\.test; dkim=temperror ")
            self.assertRegex(ar("revoked one")[0][0], r"^ ?mx\.mailmoat\.test; dkim=permerror ")
            # A key lookup that times out is temperror (delivered: on-dns-error=accept), a key record that
            # does not parse is permerror; neither is fail, neither is silence.
            self.assertRegex(ar("timeout one")[0][0], r"^ ?mx\.mailmoat\.test; dkim=temperror ")
            self.assertRegex(ar("garbage key one")[0][0], r"^ ?mx\.mailmoat\.test; dkim=permerror ")
            self.assertEqual([v.strip() for v in ar("unsigned one")[0]], [f"{AUTHSERV}; dkim=none"])
            self.assertRegex(ar("sha1 one")[0][0], r"^ ?mx\.mailmoat\.test; dkim=fail ")
            self.assertRegex(ar("short one")[0][0], r"^ ?mx\.mailmoat\.test; dkim=fail ")
            self.assertRegex(ar("mail-dkim one")[0][0], r"^ ?mx\.mailmoat\.test; dkim=pass header\.d=example\.org ")
            pf.wait_idle()
            log = milter.log()
            self.assertIn('dkim="example.org/ext=pass"', log)
            self.assertIn('dkim="example.org/broken=temperror"', log)
            self.assertIn('dkim="example.org/silent=temperror"', log)
            self.assertIn('dkim="example.org/garbage=permerror"', log)
            self.assertIn("removed_ar=1", log)

    def test_signed_on_one_postfix_passes_on_another(self):
        # Outbound Postfix (signing, simple/simple: exact bytes) relays to an inbound Postfix (verifying),
        # which delivers to the sink. Both milters are mailmoat-dkim.
        rsa_path, _, rsa_rec = genkey(self.dir, "rsa", "RSA")
        ed_path, _, ed_rec = genkey(self.dir, "ed", "ED25519")
        zone = "$ORIGIN mailmoat.test.\n$TTL 300\n@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n"
        zone += zone_txt("out._domainkey", rsa_rec) + zone_txt("oute._domainkey", ed_rec)
        kt = os.path.join(self.dir, "KeyTable")
        st = os.path.join(self.dir, "SigningTable")
        with open(kt, "w") as f:
            f.write(f"r mailmoat.test:out:{rsa_path}\ne mailmoat.test:oute:{ed_path}\n")
        with open(st, "w") as f:
            f.write("mailmoat.test r\nmailmoat.test e\n")
        sign_args = ["--key-table", kt, "--signing-table", st, "--multiple-signatures", "yes",
                     "--canonicalization", "simple/simple", "--mode", "s"]
        with mmtest.Sink() as sink, mmtest.DnsServer(zone) as dns, \
                mmtest.Daemon(PROGRAM, sign_args, name="dkim-out") as out_milter, \
                mmtest.Daemon(PROGRAM, ["--mode", "v", "--authserv-id", "in.mailmoat.test",
                                        "--dns-server", dns.address], name="dkim-in") as in_milter, \
                mmtest.Postfix(sink.port, milter_params(in_milter.socket)) as inbound, \
                mmtest.Postfix(inbound.port, milter_params(out_milter.socket)) as outbound:
            message = ("From: Alice <alice@mailmoat.test>\r\nTo: bob@example.net\r\nSubject: two hops\r\n"
                       "Cc: c@example.net,\r\n  d@example.net\r\nX-Spaces:   three leading\r\n\r\n"
                       "body line\r\n\r\n")
            send(outbound, "alice@mailmoat.test", "bob@example.net", message)
            [msg] = sink.wait_messages(1)
            self.assertEqual(len(msg.msg.get_all("DKIM-Signature")), 2)
            [ar] = [unfold(v) for v in msg.msg.get_all("Authentication-Results")]
            results = re.findall(r"dkim=(\w+) header\.d=mailmoat\.test header\.s=(\w+)", ar)
            self.assertEqual(results, [("pass", "out"), ("pass", "oute")], ar)
            outbound.wait_idle()
            inbound.wait_idle()
            self.assertIn("action=sign", out_milter.log())
            self.assertIn('dkim="mailmoat.test/out=pass,mailmoat.test/oute=pass"', in_milter.log())

    def test_sighup_reloads_keys(self):
        # The daemon runs as the mailmoat user; for a reload after the privilege drop it must be able to
        # read the new key, so both keys belong to it (mode 0600).
        uid, gid = pwd.getpwnam(mmtest.DAEMON_USER).pw_uid, grp.getgrnam(mmtest.DAEMON_USER).gr_gid
        os.chmod(self.dir, 0o755)
        one, _, rec_one = genkey(self.dir, "one", "RSA")
        two, _, rec_two = genkey(self.dir, "two", "ED25519")
        for path in (one, two):
            os.chown(path, uid, gid)
        records = {b"one._domainkey.mailmoat.test.": rec_one, b"two._domainkey.mailmoat.test.": rec_two}
        conf = os.path.join(self.dir, "dkim.conf")

        def write_conf(selector, key, algorithm):
            with open(conf, "w") as f:
                f.write(f"mode = s\ndomain = mailmoat.test\nselector = {selector}\nkey-file = {key}\n"
                        f"signature-algorithm = {algorithm}\n")
        write_conf("one", one, "rsa-sha256")

        def dnsfunc(name, timeout=5):
            return records.get(name, "").encode()

        def send_and_check(subject, selector, count):
            send(pf, "alice@mailmoat.test", "bob@example.net",
                 f"From: alice@mailmoat.test\r\nTo: bob@example.net\r\nSubject: {subject}\r\n\r\nbody\r\n")
            sink.wait_messages(count)
            [m] = sink.find(subject)
            [sig] = m.msg.get_all("DKIM-Signature")
            self.assertIn(f"s={selector};", sig.replace(" ", "").replace("\n", "").replace("\t", "")
                          .replace("\r", "") + ";")
            self.assertTrue(dkim.DKIM(crlf(m.raw)).verify(dnsfunc=dnsfunc))

        with mmtest.Sink() as sink, mmtest.Daemon(PROGRAM, ["--config", conf]) as milter, \
                mmtest.Postfix(sink.port, milter_params(milter.socket)) as pf:
            send_and_check("before reload", "one", 1)
            write_conf("two", two, "ed25519-sha256")
            os.kill(milter.proc.pid, signal.SIGHUP)
            mmtest.wait_until(lambda: "configuration reloaded" in milter.log(), 10, "the reload")
            send_and_check("after reload", "two", 2)
            # A broken configuration is refused and the previous one stays in force.
            write_conf("three", os.path.join(self.dir, "missing.pem"), "rsa-sha256")
            os.kill(milter.proc.pid, signal.SIGHUP)
            mmtest.wait_until(lambda: "reload failed" in milter.log(), 10, "the failed reload")
            send_and_check("after failed reload", "two", 3)

    def test_dns_error_can_tempfail(self):
        _, rsa_pem, _ = genkey(self.dir, "ext", "RSA")
        zone = "$ORIGIN example.org.\n$TTL 300\n@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n"
        zone += ";@servfail broken._domainkey.example.org\n"
        msg = b"From: sender@example.org\r\nTo: bob@example.net\r\nSubject: dns down\r\n\r\nbody\r\n"
        msg = dkim.sign(msg, b"broken", b"example.org", rsa_pem) + msg
        with mmtest.Sink() as sink, mmtest.DnsServer(zone) as dns, \
                mmtest.Daemon(PROGRAM, ["--mode", "v", "--on-dns-error", "tempfail", "--authserv-id", AUTHSERV,
                                        "--dns-server", dns.address]) as milter, \
                mmtest.Postfix(sink.port, milter_params(milter.socket)) as pf:
            with self.assertRaises(smtplib.SMTPDataError) as cm:
                send(pf, "sender@example.org", "bob@example.net", msg)
            self.assertEqual(cm.exception.smtp_code, 451)
            self.assertIn(b"4.7.5", cm.exception.smtp_error)
            time.sleep(0.5)
            self.assertEqual(sink.messages(), [])

    def test_unsafe_key_file_is_refused(self):
        key_path, _, _ = genkey(self.dir, "own", "RSA")
        os.chmod(key_path, 0o644)
        r = subprocess.run([mmtest.program_path(PROGRAM), "--check-config", "--domain", "mailmoat.test",
                            "--selector", "s", "--key-file", key_path], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("unsafe", r.stdout + r.stderr)
        r = subprocess.run([mmtest.program_path(PROGRAM), "--check-config", "--domain", "mailmoat.test",
                            "--selector", "s", "--key-file", key_path, "--require-safe-keys", "no"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    mmtest.run()
