// tests/unit/dmarc_report/failure_report_test.cpp - fo= decisions (RFC 9989 §4.7), Identity-Alignment
// (RFC 9991 §4), local-part redaction (RFC 9991 §7 / Appendix A, RFC 6590) and the AFRF message (RFC 6591).
#include <catch2/catch.hpp>

#include "common/dmarc_report/failure_report.hpp"

namespace dr = mailmoat::dmarc_report;
using mailmoat::dmarc::DkimOutcome;

namespace {

dr::FailureFacts facts(bool dkim_pass_aligned, bool spf_pass_aligned) {
    dr::FailureFacts f;
    f.from_domain = "example.com";
    f.org_domain = "example.com";
    f.mail_from_domain = "example.com";
    f.spf_result = spf_pass_aligned ? "pass" : "fail";
    f.dkim.push_back({"example.com", "s1", dkim_pass_aligned ? "pass" : "fail", ""});
    f.dkim_aligned_pass = dkim_pass_aligned;
    f.spf_aligned_pass = spf_pass_aligned;
    return f;
}

bool has(const std::vector<dr::FailureKind>& v, dr::FailureKind k) { return std::find(v.begin(), v.end(), k) != v.end(); }

}  // namespace

TEST_CASE("fo= parsing: items, default 0, unknown items ignored") {
    auto o = dr::parse_fo("");
    CHECK((o.all && !o.any && !o.dkim && !o.spf));
    o = dr::parse_fo("1");
    CHECK((!o.all && o.any));
    o = dr::parse_fo("d : S");
    CHECK((!o.all && !o.any && o.dkim && o.spf));
    o = dr::parse_fo("0:1:d:s");
    CHECK((o.all && o.any && o.dkim && o.spf));
    o = dr::parse_fo("x:y");
    CHECK((o.all && !o.any));
    o = dr::parse_fo("zz:d");
    CHECK((!o.all && o.dkim));
}

TEST_CASE("fo=0 asks for a report only when no mechanism produced an aligned pass") {
    const auto fo = dr::parse_fo("0");
    CHECK(dr::failure_reports_due(fo, facts(false, false)) == std::vector{dr::FailureKind::dmarc});
    CHECK(dr::failure_reports_due(fo, facts(true, false)).empty());
    CHECK(dr::failure_reports_due(fo, facts(false, true)).empty());
    CHECK(dr::failure_reports_due(fo, facts(true, true)).empty());
}

TEST_CASE("fo=1 asks for a report when any mechanism failed to produce an aligned pass") {
    const auto fo = dr::parse_fo("1");
    CHECK(dr::failure_reports_due(fo, facts(false, false)) == std::vector{dr::FailureKind::dmarc});
    CHECK(dr::failure_reports_due(fo, facts(true, false)) == std::vector{dr::FailureKind::dmarc});
    CHECK(dr::failure_reports_due(fo, facts(false, true)) == std::vector{dr::FailureKind::dmarc});
    CHECK(dr::failure_reports_due(fo, facts(true, true)).empty());
}

TEST_CASE("fo=d: a signature that failed evaluation, aligned or not; fo=s: SPF failed, aligned or not") {
    const auto d = dr::parse_fo("d");
    const auto s = dr::parse_fo("s");
    // DMARC passes through SPF, an unaligned third-party signature is broken: d reports, s does not.
    auto f = facts(false, true);
    f.dkim = {{"esp.example", "x", "fail", "body hash did not verify"}};
    CHECK(dr::failure_reports_due(d, f) == std::vector{dr::FailureKind::dkim});
    CHECK(dr::failure_reports_due(s, f).empty());
    // SPF softfail for an unaligned MAIL FROM while DKIM passes aligned: s reports, d does not.
    f = facts(true, false);
    f.mail_from_domain = "bounces.esp.example";
    f.spf_result = "softfail";
    CHECK(dr::failure_reports_due(s, f) == std::vector{dr::FailureKind::spf});
    CHECK(dr::failure_reports_due(d, f).empty());
    // neutral / none / temperror SPF is not a failed evaluation; no signature at all is not a DKIM failure.
    for (const char* r : {"neutral", "none", "temperror", "pass"}) {
        f.spf_result = r;
        CHECK(dr::failure_reports_due(s, f).empty());
    }
    f.dkim.clear();
    CHECK(dr::failure_reports_due(d, f).empty());
    // d and s together: both kinds, each once.
    f = facts(true, true);
    f.dkim.push_back({"other.example", "y", "permerror", ""});
    f.spf_result = "fail";
    const auto both = dr::failure_reports_due(dr::parse_fo("d:s"), f);
    CHECK(both.size() == 2);
    CHECK(has(both, dr::FailureKind::dkim));
    CHECK(has(both, dr::FailureKind::spf));
    // With 1 also asked for and due, the one dmarc report carries the details.
    f.spf_aligned_pass = false;
    CHECK(dr::failure_reports_due(dr::parse_fo("1:d:s"), f) == std::vector{dr::FailureKind::dmarc});
}

TEST_CASE("Identity-Alignment lists the mechanisms whose aligned identifier failed") {
    auto f = facts(false, false);
    CHECK(dr::identity_alignment(f) == "dkim, spf");
    f.mail_from_domain = "bounce.other.example";  // unaligned MAIL FROM: SPF is not listed
    CHECK(dr::identity_alignment(f) == "dkim");
    f.dkim = {{"third.example", "s", "fail", ""}};
    CHECK(dr::identity_alignment(f) == "none");
    f.mail_from_domain = "mail.example.com";  // relaxed: aligned through the organizational domain
    CHECK(dr::identity_alignment(f) == "spf");
    f.aspf = "s";  // strict: a subdomain does not align
    CHECK(dr::identity_alignment(f) == "none");
    f.dkim = {{"news.example.com", "s", "fail", ""}};
    CHECK(dr::identity_alignment(f) == "dkim");
    f.adkim = "s";
    CHECK(dr::identity_alignment(f) == "none");
    CHECK_FALSE(dr::identifier_aligned("", f, false));
    CHECK_FALSE(dr::identifier_aligned("notexample.com", f, false));
    CHECK(dr::identifier_aligned("EXAMPLE.com", f, true));
}

TEST_CASE("redaction replaces local-parts with stable opaque tokens and keeps domains") {
    const std::string key = "k1";
    const auto a = dr::redact_local_parts("From: Alice <alice@example.com>", key);
    CHECK(a.find("alice@") == std::string::npos);
    CHECK(a.find("@example.com>") != std::string::npos);
    CHECK(a.rfind("From: Alice <", 0) == 0);
    // The same local-part gives the same token under one key, another under another key.
    const auto tok = a.substr(13, a.find('@') - 13);
    CHECK(tok.size() == 16);
    CHECK(dr::redact_local_parts("to alice@other.example", key) == "to " + tok + "@other.example");
    CHECK(dr::redact_local_parts("alice@example.com", "k2").substr(0, 16) != tok);
    // Quoted local-parts, several addresses, property names, SRS, and what is not an address.
    const auto q = dr::redact_local_parts("\"john q\"@example.com, bob.smith+tag@example.net", key);
    CHECK(q.find("john") == std::string::npos);
    CHECK(q.find("bob") == std::string::npos);
    CHECK(q.find("@example.com, ") != std::string::npos);
    const auto ar = dr::redact_local_parts("x; spf=fail smtp.mailfrom=ceo@reject.test", key);
    CHECK(ar.find("smtp.mailfrom=") != std::string::npos);
    CHECK(ar.find("ceo@") == std::string::npos);
    const auto srs = dr::redact_local_parts("envelope-from=SRS0=hh=tt=orig.example=alice@fwd.example", key);
    CHECK(srs.find("alice") == std::string::npos);
    CHECK(srs.rfind("envelope-from=", 0) == 0);
    CHECK(dr::redact_local_parts("i=@example.com; a @ b; trailing@", key) == "i=@example.com; a @ b; trailing@");
    CHECK(dr::redact_local_parts("mailto:list-help@example.org", key).rfind("mailto:", 0) == 0);
    CHECK(dr::redact_local_parts("mailto:list-help@example.org", key).find("list-help") == std::string::npos);
}

TEST_CASE("links are defanged") {
    CHECK(dr::defang_uris("<https://x.example/u?a=b>, <HTTP://y>") == "<hxxps://x.example/u?a=b>, <HxxP://y>");
    CHECK(dr::defang_uris("httpd and http:no-slashes") == "httpd and http:no-slashes");
}

TEST_CASE("the AFRF message: structure, feedback fields, headers only, redacted") {
    dr::FailureReport r;
    r.kind = dr::FailureKind::dmarc;
    r.from = "dmarc-reports@receiver.test";
    r.to = "ruf@example.com";
    r.date = 1700000000;
    r.message_id = "ruf.1.abc@receiver.test";
    r.user_agent = "mailmoat-dmarc/1";
    r.reported_domain = "example.com";
    r.auth_results = "mx.receiver.test; dmarc=fail header.from=example.com; spf=fail smtp.mailfrom=ceo@example.com";
    r.source_ip = "192.0.2.66";
    r.original_mail_from = "ceo@example.com";
    r.envelope_id = "4XyZ1";
    r.delivery_result = "reject";
    r.identity_alignment = "dkim, spf";
    r.dkim_failures = {{"example.com", "s1", "fail", ""}};
    r.spf_dns = "txt : example.com : \"v=spf1 -all\"";
    r.redaction_key = "key";
    r.headers = {{"From", " CEO <ceo@example.com>"}, {"To", " Bob <bob@receiver.test>,\r\n\tcarol@receiver.test"},
                 {"Subject", " see https://evil.example/x"}, {"Message-ID", " <id.1@example.com>"}};
    const auto m = dr::build_failure_report(r);
    CHECK(m.find("Content-Type: multipart/report; report-type=feedback-report;") != std::string::npos);
    CHECK(m.find("\nContent-Type: message/feedback-report\n") != std::string::npos);
    CHECK(m.find("\nContent-Type: text/rfc822-headers\n") != std::string::npos);
    CHECK(m.find("message/rfc822") == std::string::npos);
    for (const char* f : {"Feedback-Type: auth-failure\n", "Version: 1\n", "User-Agent: mailmoat-dmarc/1\n",
                          "Auth-Failure: dmarc\n", "Identity-Alignment: dkim, spf\n", "DKIM-Domain: example.com\n",
                          "DKIM-Identity: @example.com\n", "DKIM-Selector: s1\n", "SPF-DNS: txt : example.com : \"v=spf1 -all\"\n",
                          "Original-Envelope-Id: 4XyZ1\n", "Source-IP: 192.0.2.66\n", "Reported-Domain: example.com\n",
                          "Delivery-Result: reject\n", "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\n"})
        CHECK(m.find(f) != std::string::npos);
    // No local-part survives anywhere but in the report's own To (the ruf address) and Message-ID.
    for (const char* lp : {"ceo@", "bob@", "carol@"}) CHECK(m.find(lp) == std::string::npos);
    CHECK(m.find("Original-Mail-From: <") != std::string::npos);
    CHECK(m.find("@example.com>\n") != std::string::npos);
    CHECK(m.find("hxxps://evil.example/x") != std::string::npos);
    CHECK(m.find("Message-ID: <id.1@example.com>") != std::string::npos);  // identifiers kept
    CHECK(m.find("\tcarol") == std::string::npos);
    CHECK(m.find("\n\t") != std::string::npos);  // folding kept, CR dropped
    CHECK(m.find('\r') == std::string::npos);
    // Without redaction the same report keeps the addresses.
    r.redact = false;
    const auto plain = dr::build_failure_report(r);
    CHECK(plain.find("CEO <ceo@example.com>") != std::string::npos);
    CHECK(plain.find("Original-Mail-From: <ceo@example.com>") != std::string::npos);
}

TEST_CASE("dkim and spf reports name their Auth-Failure; odd header data cannot break the MIME structure") {
    dr::FailureReport r;
    r.kind = dr::FailureKind::dkim;
    r.message_id = "m@x";
    r.dkim_failures = {{"esp.example", "e1", "fail", "body hash did not verify"}};
    CHECK(dr::build_failure_report(r).find("Auth-Failure: bodyhash\n") != std::string::npos);
    r.dkim_failures[0].human_result = "signature did not verify";
    auto m = dr::build_failure_report(r);
    CHECK(m.find("Auth-Failure: signature\n") != std::string::npos);
    CHECK(m.find("Identity-Alignment") == std::string::npos);
    r.kind = dr::FailureKind::spf;
    CHECK(dr::build_failure_report(r).find("Auth-Failure: spf\n") != std::string::npos);
    // A value with bare line breaks and NUL does not end the header block early.
    r.headers = {{"X-Odd", std::string(" a\n\nb\0c", 7)}, {"X-Big", " " + std::string(70000, 'x')}, {"X-After", " y"}};
    m = dr::build_failure_report(r);
    CHECK(m.find("X-Odd: a  b c\n") != std::string::npos);
    CHECK(m.find("X-Big") == std::string::npos);
    CHECK(m.find("X-After: y\n") != std::string::npos);
    CHECK(m.find("X-Mailmoat-Omitted: 1 header fields") != std::string::npos);
}
