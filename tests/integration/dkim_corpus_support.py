# tests/integration/dkim_corpus_support.py - shared by the DKIM corpus tests: the message corpus
# (tests/data/mail plus a 5 MB attachment made at run time), keys, zones, SMTP sending, the OpenDKIM daemon
# as a signing milter, and a TestCase base that makes an RSA and an Ed25519 key.
import base64
import os
import re
import smtplib
import subprocess

import mmtest

CORPUS = os.path.join(mmtest.SOURCE_DIR, "tests", "data", "mail")
MAIL_DKIM_VERIFY = os.path.join(mmtest.SOURCE_DIR, "tests", "integration", "dkim", "mail_dkim_verify.pl")
MAIL_DKIM_SIGN = os.path.join(mmtest.SOURCE_DIR, "tests", "integration", "dkim", "mail_dkim_sign.pl")
DOMAIN = "example.org"
AUTHSERV = "mx.mailmoat.test"
BIG_PARAMS = {"message_size_limit": "80000000", "milter_content_timeout": "300s", "milter_command_timeout": "60s",
              # Postfix's SMTP client folds lines over 998 characters by default, which would break any
              # signature over the corpus's long lines before the sink sees them.
              "smtp_line_length_limit": "0"}


def crlf(raw):
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def corpus():
    msgs = {}
    for name in sorted(os.listdir(CORPUS)):
        if name.endswith(".eml"):
            with open(os.path.join(CORPUS, name), "rb") as f:
                msgs[name[:-4]] = crlf(f.read())
    # A 5 MB attachment, made here rather than kept in the repository.
    payload = base64.encodebytes((bytes(range(251)) * (5 * 1024 * 1024 // 251 + 1))[:5 * 1024 * 1024]).decode()
    msgs["attachment-5mb"] = crlf((
        "From: Alice <alice@example.org>\nTo: bob@example.net\nSubject: five megabytes\n"
        "Date: Tue, 01 Dec 2026 01:00:00 +0000\nMessage-ID: <big5@example.org>\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=\"b5\"\n\n--b5\nContent-Type: text/plain\n\nSee attachment.\n"
        "--b5\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n" + payload +
        "--b5--\n").encode())
    return msgs


def genkey(d, name, algorithm, bits=2048):
    path, _, record = mmtest.dkim_key(d, name, algorithm, bits)
    return path, record


def zone_of(records, extra=""):
    z = f"$ORIGIN {DOMAIN}.\n$TTL 300\n@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n"
    for name, rec in records.items():
        parts = [rec[i:i + 200] for i in range(0, len(rec), 200)]
        z += f"{name}. IN TXT " + " ".join(f'"{p}"' for p in parts) + "\n"
    return z + extra


def send(port, data, sender="alice@example.org", rcpt="bob@example.net"):
    with smtplib.SMTP("127.0.0.1", port, timeout=300) as s:
        s.ehlo("client.mailmoat.test")
        s.sendmail(sender, [rcpt], data, mail_options=["BODY=8BITMIME"])


def subject_of(raw):
    m = re.search(rb"(?im)^Message-ID: <([^>]+)>", raw)
    return m.group(1).decode() if m else None


def strip_added(delivered, added):
    """delivered minus the leading header fields named in `added`, in that order (what the milter and
    Postfix put above the original header); None if they are not there."""
    pos = 0
    for name in added:
        m = re.match(rb"([A-Za-z0-9-]+):[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*", delivered[pos:])
        if not m or m.group(1).decode().lower() != name:
            return None
        pos += m.end()
    return delivered[pos:]


def rss_peak_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class OpenDkimDaemon:
    """The Debian opendkim daemon as a signing milter (unix socket Postfix can reach)."""

    def __init__(self, workdir, key, selector):
        self.dir = mmtest.make_tmpdir("opendkim")
        self.sock = os.path.join(self.dir, "odk.sock")
        self.conf = os.path.join(self.dir, "opendkim.conf")
        with open(self.conf, "w") as f:
            f.write(f"Syslog no\nBackground no\nMode s\nDomain {DOMAIN}\nSelector {selector}\nKeyFile {key}\n"
                    f"Canonicalization relaxed/relaxed\nSignatureAlgorithm rsa-sha256\nRequireSafeKeys no\n"
                    f"InternalHosts 127.0.0.1\nSocket local:{self.sock}\nUMask 000\nPidFile {self.dir}/pid\n")

    def __enter__(self):
        self.log = open(os.path.join(self.dir, "log"), "ab")
        self.proc = mmtest.spawn(["opendkim", "-f", "-x", self.conf], "opendkim", stdin=subprocess.DEVNULL,
                                 stdout=self.log, stderr=self.log)
        mmtest.wait_until(lambda: self.proc.poll() is not None or os.path.exists(self.sock), 20, "opendkim")
        if self.proc.poll() is not None:
            raise mmtest.TestBedError("opendkim exited")
        os.chmod(self.sock, 0o666)
        return self

    def __exit__(self, *exc):
        mmtest.stop_process(self.proc, "opendkim")
        self.log.close()
        mmtest.remove_tmpdir(self.dir)


class CorpusTestCase(mmtest.TestCase):
    def setUp(self):
        self.dir = mmtest.make_tmpdir("dkimcorpus")
        self.addCleanup(mmtest.remove_tmpdir, self.dir)
        self.rsa, rsa_rec = genkey(self.dir, "rsa", "RSA")
        self.ed, ed_rec = genkey(self.dir, "ed", "ED25519")
        self.records = {f"rsa._domainkey.{DOMAIN}": rsa_rec, f"ed._domainkey.{DOMAIN}": ed_rec}

    @property
    def corpus(self):
        """The corpus, built on first use (the 5 MB attachment takes a few seconds)."""
        if not hasattr(self, "_corpus"):
            self._corpus = corpus()
        return self._corpus

    def mailmoat_signer(self):
        kt = os.path.join(self.dir, "KeyTable")
        st = os.path.join(self.dir, "SigningTable")
        with open(kt, "w") as f:
            f.write(f"rsa {DOMAIN}:rsa:{self.rsa}\ned {DOMAIN}:ed:{self.ed}\n")
        with open(st, "w") as f:
            f.write(f"*@{DOMAIN} rsa\n*@{DOMAIN} ed\n")
        return mmtest.Daemon("mailmoat-dkim", ["--mode", "s", "--key-table", kt, "--signing-table", "refile:" + st,
                                               "--multiple-signatures", "yes", "--config", ""], name="signer")
