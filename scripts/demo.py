#!/usr/bin/python3
# scripts/demo.py - the demo's main part (scripts/demo runs deps and build first): a private Postfix on
# loopback with every built mailmoat daemon wired in, a DNS server with a demo zone and an SMTP sink;
# sends a few messages and prints the SMTP replies and the headers the recipient would see.
#
# To add a daemon, add one entry to DAEMONS: its program name, its hook ("milter" goes into
# smtpd_milters and non_smtpd_milters, "policy" into smtpd_recipient_restrictions), its arguments
# (DNS is passed as --dns-server when dns=True), the header it marks messages with, and, if it needs
# them, messages to SCENES.
import base64
import os
import pwd
import subprocess
import sys
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import mmtest  # noqa: E402
from dnslib import QTYPE, DNSRecord  # noqa: E402


class DemoDaemon:
    """mark: a header every message it passes must carry (checked on each delivered message)."""

    def __init__(self, program, hook, args=(), dns=False, mark=None):
        self.program, self.hook, self.args, self.dns, self.mark = program, hook, list(args), dns, mark


DAEMONS = [
    DemoDaemon("mailmoat-example-milter", "milter", mark="X-Mailmoat-Example"),
    DemoDaemon("mailmoat-example-policy", "policy"),
    # The demo's client connects from 127.0.0.1, which mailmoat-spf skips by default.
    DemoDaemon("mailmoat-spf", "policy", args=["--skip-networks", "", "--authserv-id", "mx.demo.example"],
               dns=True, mark="Received-SPF"),
    # Greylisting only for greylisted.example: the other demo recipients are whitelisted ({tmp} is the
    # demo's private directory, made in main()).
    DemoDaemon("mailmoat-grey", "policy", args=["--delay", "2s", "--store", "sqlite:{tmp}/grey/grey.db",
                                                "--whitelist-recipients", "{tmp}/whitelist_recipients",
                                                "--x-greylist-header=yes"]),
    # Mail from 127.0.0.1 counts as internal and is signed with the demo key (public half in the zone).
    DemoDaemon("mailmoat-dkim", "milter", args=["--domain", "demo.example", "--selector", "demo",
                                                "--key-file", "{tmp}/demo.key", "--authserv-id", "mx.demo.example"],
               dns=True, mark="DKIM-Signature"),
    # After mailmoat-dkim: it sees the signature that milter added, checks SPF and DKIM itself, and
    # records every evaluation in the demo's store.
    DemoDaemon("mailmoat-dmarc", "milter", args=["--authserv-id", "mx.demo.example", "--store",
                                                 "sqlite:{tmp}/dmarc/dmarc.sqlite"], dns=True),
    # Header checks in Postfix's own table syntax, and the blocklist `mailmoat checks block` keeps.
    DemoDaemon("mailmoat-checks", "milter", args=["--header-checks", "pcre:{tmp}/header_checks",
                                                  "--blocklist-table", "pcre:{tmp}/blocklist"]),
]

ZONE = """\
$ORIGIN demo.example.
$TTL 300
@          IN SOA   ns.demo.example. hostmaster.demo.example. 2026113001 3600 600 86400 300
@          IN NS    ns.demo.example.
@          IN MX    10 mx.demo.example.
@          IN TXT   "v=spf1 ip4:127.0.0.0/8 -all"
_dmarc     IN TXT   "v=DMARC1; p=reject; rua=mailto:dmarc@demo.example"
ns         IN A     127.0.0.1
mx         IN A     127.0.0.1
forbidden  IN TXT   "v=spf1 -all exp=why.forbidden.demo.example"
why.forbidden IN TXT "%{s} is not allowed to send mail from %{i}"
"""

# A second domain, after the demo key's record is added to demo.example.
BANK_ZONE = """\
$ORIGIN bank.example.
@          IN TXT   "v=spf1 ip4:192.0.2.0/24 -all"
_dmarc     IN TXT   "v=DMARC1; p=reject; rua=mailto:dmarc@bank.example"
"""

HEADER_CHECKS = """\
# The demo's header_checks table (Postfix pcre_table syntax: matching ignores case by default;
# a trailing i would make it case-sensitive).
/^Subject:.*free money/    REJECT 5.7.1 Message refused by the demo header check
/^Subject:.*newsletter/    PREPEND X-Demo-Check: newsletter
"""


class Scene:
    """One message sent in the demo and what must happen to it ("delivered", "4", "5")."""

    def __init__(self, title, expect, to="bob@example.net", subject=None, sendmail=False, needs=(), sender=None,
                 wait=0, from_header=None):
        self.title, self.expect, self.to, self.sendmail, self.needs = title, expect, to, sendmail, needs
        self.sender, self.wait, self.from_header = sender, wait, from_header
        self.subject = subject or title


SCENES = [
    Scene("A normal message", "delivered"),
    Scene("A message the milter rejects", "5", subject="Please REJECTME", needs=["mailmoat-example-milter"]),
    Scene("A recipient the policy server defers", "4", to="defer-later@example.net",
          needs=["mailmoat-example-policy"]),
    Scene("A recipient the policy server rejects", "5", to="reject-this@example.net",
          needs=["mailmoat-example-policy"]),
    Scene("A sender whose domain's SPF record forbids this host", "5", sender="mallory@forbidden.demo.example",
          needs=["mailmoat-spf"]),
    Scene("A first message to a greylisting domain", "4", to="dave@greylisted.example", subject="Greylisted",
          needs=["mailmoat-grey"]),
    Scene("The same message retried after the greylisting delay", "delivered", to="dave@greylisted.example",
          subject="Greylisted", needs=["mailmoat-grey"], wait=2.5),
    Scene("A From header claiming a p=reject domain the sender may not use", "5", subject="Your account",
          from_header="Bank <service@bank.example>", needs=["mailmoat-dmarc"]),
    Scene("A message a header check rejects", "5", subject="Free money inside", needs=["mailmoat-checks"]),
    Scene("A message a header check marks", "delivered", subject="Our newsletter", needs=["mailmoat-checks"]),
    Scene("A subject put on the blocklist with mailmoat checks block", "5", subject="Cheap watches",
          needs=["mailmoat-checks"]),
    Scene("A message submitted with sendmail", "delivered", to="carol@example.net", sendmail=True),
]

SENDER = "alice@demo.example"


def banner(text):
    print("\n" + text + "\n" + "-" * len(text))


def show_dialogue(result):
    """The SMTP exchange without the EHLO capability list and the message text."""
    in_data = in_ehlo = False
    for line in result.dialogue.splitlines():
        if line.startswith(" -> ") and in_data:
            if line.strip() == "-> .":
                in_data = False
                print("  C: <message text>")
            continue
        if line.startswith("<-  250-") or line.startswith("=== "):
            continue
        if line.startswith("<-  250 ") and in_ehlo:
            print("  S: 250 ... (EHLO capabilities)")
            in_ehlo = False
            continue
        if line.startswith(" -> "):
            print("  C: " + line[4:])
            in_data = line[4:] == "DATA"
            in_ehlo = line[4:].startswith("EHLO")
        elif line.startswith("<-") or line.startswith("<**"):
            print("  S: " + line.split(None, 1)[1] if " " in line else line)


def show_headers(msg):
    print("  Delivered to %s, envelope from <%s>; headers:" % (", ".join(msg.rcpt_to), msg.mail_from))
    for name, value in msg.headers():
        for i, part in enumerate(textwrap.wrap(f"{name}: {value}", 100, subsequent_indent="      ")):
            print(("    " if i == 0 else "  ") + part)


def prepare_files():
    """The demo's private directory: a DKIM key, the greylist and DMARC store directories, a recipient
    whitelist, a header_checks table."""
    tmp = mmtest.make_tmpdir("demo")
    key = os.path.join(tmp, "demo.key")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    store = os.path.join(tmp, "grey")
    os.mkdir(store)
    user = pwd.getpwnam("mailmoat")
    os.chown(store, user.pw_uid, user.pw_gid)
    with open(os.path.join(tmp, "whitelist_recipients"), "w", encoding="utf-8") as f:
        f.write("# every demo recipient but greylisted.example\nexample.net\n")
    dmarc = os.path.join(tmp, "dmarc")
    os.mkdir(dmarc)
    os.chown(dmarc, user.pw_uid, user.pw_gid)
    with open(os.path.join(tmp, "header_checks"), "w", encoding="utf-8") as f:
        f.write(HEADER_CHECKS)
    # The local blocklist, as an admin starts it: one subject that got through.
    subprocess.run([mmtest.program_path("mailmoat"), "checks", "block", "--config", "", "--table",
                    os.path.join(tmp, "blocklist"), "--no-reload", "--by", "subject", "--value", "Cheap watches",
                    "--reason", "demo"], check=True, capture_output=True)
    return tmp


def dkim_record(key):
    """The TXT record publishing key's public half at demo._domainkey.demo.example."""
    der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    p = base64.b64encode(der).decode()
    text = "v=DKIM1; k=rsa; p=" + p
    parts = " ".join(f'"{text[i:i + 250]}"' for i in range(0, len(text), 250))
    return f"demo._domainkey IN TXT {parts}\n"


def show_dmarc_report(tmp):
    """The aggregate report mailmoat would send for what mailmoat-dmarc recorded (a dry run: written to
    a directory, not mailed). Returns the number of unexpected outcomes."""
    banner("The DMARC aggregate report for bank.example (mailmoat dmarc report --dry-run)")
    out = os.path.join(tmp, "reports")
    os.mkdir(out)
    r = subprocess.run([mmtest.program_path("mailmoat"), "dmarc", "report", "--store",
                        f"sqlite:{tmp}/dmarc/dmarc.sqlite", "--org-name", "mailmoat demo", "--email",
                        "dmarc-noreply@demo.example", "--dry-run", "--output", out, "--until", "now"],
                       capture_output=True, text=True, timeout=60)
    for line in (r.stdout + r.stderr).splitlines():
        print("  " + line)
    xml = [f for f in sorted(os.listdir(out)) if "!bank.example!" in f and f.endswith(".xml")]
    if r.returncode != 0 or not xml:
        print("  UNEXPECTED: no report for bank.example")
        return 1
    with open(os.path.join(out, xml[0]), encoding="utf-8") as f:
        for line in f.read().splitlines():
            print("  " + line)
    return 0


def main():
    mmtest.require_root()
    mmtest.daemon_account()
    available, missing = [], []
    for d in DAEMONS:
        try:
            mmtest.program_path(d.program)
            available.append(d)
        except mmtest.TestBedError:
            missing.append(d.program)
    print("mailmoat demo: a private Postfix on 127.0.0.1 with " +
          (", ".join(d.program for d in available) or "no mailmoat daemon"))
    if missing:
        print("not built, left out: " + ", ".join(missing))
    names = {d.program for d in available}
    failures = 0

    tmp = prepare_files()
    zone = ZONE + dkim_record(os.path.join(tmp, "demo.key")) + BANK_ZONE
    for d in DAEMONS:
        d.args = [a.replace("{tmp}", tmp) for a in d.args]
    with mmtest.Sink() as sink, mmtest.DnsServer(zone) as dns:
        daemons, milters, policies = [], [], []
        try:
            for d in available:
                args = d.args + (["--dns-server", dns.address] if d.dns else [])
                dm = mmtest.Daemon(d.program, args)
                dm.start()
                daemons.append(dm)
                (milters if d.hook == "milter" else policies).append(dm.socket)
                print(f"  {d.program:28} {d.hook:7} {dm.socket}")
            params = {
                "smtpd_milters": ", ".join(milters),
                "non_smtpd_milters": ", ".join(milters),
                "milter_default_action": "tempfail",
                "smtpd_recipient_restrictions": ", ".join(
                    [f"check_policy_service {p}" for p in policies] +
                    ["permit_mynetworks", "reject_unauth_destination"]),
            }
            with mmtest.Postfix(sink.port, params) as pf:
                print(f"  Postfix {pf.postconf('-h', 'mail_version').strip():20} smtpd   127.0.0.1:{pf.port}")
                print(f"  DNS server (zone demo.example)       127.0.0.1:{dns.port}")
                print(f"  SMTP sink (the relayhost)            127.0.0.1:{sink.port}")
                for name, qtype in (("demo.example", "TXT"), ("demo.example", "MX")):
                    answer = DNSRecord.question(name, qtype).send("127.0.0.1", dns.port, timeout=5)
                    for rr in DNSRecord.parse(answer).rr:
                        print(f"    dns: {rr.rname} {QTYPE[rr.rtype]} {rr.rdata}")
                for n, scene in enumerate(SCENES, 1):
                    if any(p not in names for p in scene.needs):
                        continue
                    banner(f"{n}. {scene.title}")
                    if scene.wait:
                        print(f"  (waiting {scene.wait:g} s)")
                        time.sleep(scene.wait)
                    before = len(sink.messages())
                    if scene.sendmail:
                        print(f"  $ sendmail -f {SENDER} {scene.to}   (Subject: {scene.subject})")
                        pf.sendmail(f"From: Alice <{SENDER}>\nTo: {scene.to}\nSubject: {scene.subject}\n\n"
                                    "Sent with the sendmail command.\n", SENDER, [scene.to])
                        outcome = "delivered"
                    else:
                        extra = ["--header", "From: " + scene.from_header] if scene.from_header else []
                        r = mmtest.swaks(pf, to=scene.to, sender=scene.sender or SENDER, subject=scene.subject,
                                         body="Hello from the mailmoat demo.\n", extra=extra)
                        show_dialogue(r)
                        errors = [c for c, _t in r.replies if c[0] in "45"]
                        outcome = "delivered" if r.accepted else (errors[0][0] if errors else "?")
                    if outcome == "delivered":
                        sink.wait_messages(before + 1)
                        delivered = sink.messages()[-1]
                        show_headers(delivered)
                        for d in available:
                            # Policy servers see SMTP only; sendmail submissions skip them.
                            if d.hook == "policy" and scene.sendmail:
                                continue
                            if d.mark and delivered.header(d.mark) is None:
                                print(f"  UNEXPECTED: no {d.mark} header from {d.program}")
                                failures += 1
                    else:
                        print(f"  Not delivered: the client got a {outcome}xx reply.")
                    if outcome != scene.expect:
                        print(f"  UNEXPECTED: wanted {scene.expect}")
                        failures += 1
                pf.wait_idle()
                banner("What the daemons logged")
                for dm in daemons:
                    for line in dm.log().splitlines():
                        print("  " + line)
                if "mailmoat-dmarc" in names:
                    failures += show_dmarc_report(tmp)
        finally:
            for dm in reversed(daemons):
                dm.stop()
    print("\nEverything stopped; " + ("all outcomes as expected." if not failures
                                       else f"{failures} unexpected outcome(s)."))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
