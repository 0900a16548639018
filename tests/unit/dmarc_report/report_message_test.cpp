// tests/unit/dmarc_report/report_message_test.cpp - report mails: the built message's fields and
// attachment, and the MIME walker on the shapes providers send (nested multipart, CRLF, RFC 2231 names).
#include <catch2/catch.hpp>

#include "common/crypto/base64.hpp"
#include "common/dmarc_report/archive.hpp"
#include "common/dmarc_report/report_message.hpp"

namespace dr = mailmoat::dmarc_report;

TEST_CASE("built message: Subject, file name, application/gzip attachment that extracts again") {
    dr::AggregateReport r;
    r.metadata.org_name = "Receiver";
    r.metadata.report_id = "example.org.100.200";
    r.metadata.begin = 100;
    r.metadata.end = 199;
    r.policy.domain = "example.org";
    const std::string gz = dr::gzip_compress("<feedback/>");
    const auto msg = dr::build_report_message(r, gz, {"dmarc@receiver.example", "agg@example.org", "receiver.example", 0});
    std::string unfolded = msg;  // RFC 5322 §2.2.3: long fields are folded
    for (std::size_t i = 0; (i = unfolded.find("\n ")) != std::string::npos;) unfolded.erase(i, 1);
    CHECK(unfolded.find("\nSubject: Report Domain: example.org Submitter: receiver.example Report-ID: <example.org.100.200>\n") !=
          std::string::npos);
    CHECK(msg.find("Content-Type: application/gzip; name=\"receiver.example!example.org!100!199.xml.gz\"") != std::string::npos);
    CHECK(msg.find("Message-ID: <example.org.100.200.") != std::string::npos);
    const auto ex = dr::extract_report_attachments(msg);
    REQUIRE(ex.status == dr::ExtractStatus::ok);
    REQUIRE(ex.attachments.size() == 1);
    CHECK(ex.attachments[0].content_type == "application/gzip");
    CHECK(ex.attachments[0].data == gz);
}

TEST_CASE("nested multipart with CRLF, RFC 2231 file name and a zip type") {
    const std::string zipdata = "PK\x03\x04 not really";
    const std::string msg =
        "From: noreply@provider.example\r\nSubject: Report domain: example.org\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\npreamble\r\n--outer\r\n"
        "Content-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        "--inner\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--inner--\r\n--outer\r\n"
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename*=utf-8''provider.example!example.org!1!2.zip\r\n\r\n" +
        mailmoat::crypto::base64_encode(zipdata) + "\r\n--outer--\r\n";
    const auto ex = dr::extract_report_attachments(msg);
    REQUIRE(ex.status == dr::ExtractStatus::ok);
    REQUIRE(ex.attachments.size() == 1);  // the text/html part is not report-like
    CHECK(ex.attachments[0].file_name == "provider.example!example.org!1!2.zip");
    CHECK(ex.attachments[0].data == zipdata);
}

TEST_CASE("no attachment, bad base64 and too many parts are reported, not crashed on") {
    CHECK(dr::extract_report_attachments("Subject: x\n\nhello\n").status == dr::ExtractStatus::none);
    const std::string bad = "Content-Type: application/gzip\nContent-Transfer-Encoding: base64\n\n!!!!\n";
    const auto b = dr::extract_report_attachments(bad);
    CHECK(b.status == dr::ExtractStatus::malformed);
    CHECK(b.error.find("base64") != std::string::npos);
    std::string many = "Content-Type: multipart/mixed; boundary=b\n\n";
    for (int i = 0; i < 200; ++i) many += "--b\nContent-Type: text/plain\n\nx\n";
    many += "--b--\n";
    const auto m = dr::extract_report_attachments(many);
    CHECK(m.status == dr::ExtractStatus::malformed);
    CHECK(m.error.find("parts") != std::string::npos);
}
