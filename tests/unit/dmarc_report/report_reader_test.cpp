// tests/unit/dmarc_report/report_reader_test.cpp - from raw input to reports: gzip, plain XML, a mail;
// input size limit; a bomb inside a mail judged per attachment.
#include <catch2/catch.hpp>

#include "common/crypto/base64.hpp"
#include "common/dmarc_report/archive.hpp"
#include "common/dmarc_report/report_reader.hpp"

namespace dr = mailmoat::dmarc_report;

namespace {

const std::string xml =
    "<?xml version=\"1.0\"?>\n<feedback><report_metadata><org_name>o</org_name><email>e@o</email><report_id>r</report_id>"
    "<date_range><begin>1</begin><end>2</end></date_range></report_metadata><policy_published><domain>d.example"
    "</domain><p>none</p></policy_published><record><row><source_ip>192.0.2.1</source_ip><count>3</count>"
    "<policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated></row>"
    "<identifiers><header_from>d.example</header_from></identifiers><auth_results/></record></feedback>";

}  // namespace

TEST_CASE("plain XML, gzip and a mail with a gzip attachment all read") {
    for (const auto& input : {xml, dr::gzip_compress(xml),
                              "Content-Type: application/gzip\nContent-Transfer-Encoding: base64\n\n" +
                                  mailmoat::crypto::base64_encode(dr::gzip_compress(xml)) + "\n"}) {
        const auto r = dr::read_reports(input);
        REQUIRE(r.status == dr::ParseStatus::ok);
        REQUIRE(r.reports.size() == 1);
        CHECK(r.reports[0].status == dr::ParseStatus::ok);
        CHECK(r.reports[0].report.message_count() == 3);
    }
}

TEST_CASE("limits: oversized input and a bomb attachment are hostile") {
    dr::ReaderLimits small;
    small.max_input = 100;
    CHECK(dr::read_reports(xml, small).status == dr::ParseStatus::hostile);
    dr::ReaderLimits l;
    l.max_unpacked = 1 << 20;
    const auto bomb = dr::gzip_compress(std::string(8u << 20, ' '));
    const auto r = dr::read_reports(bomb, l);
    REQUIRE(r.reports.size() == 1);
    CHECK(r.reports[0].status == dr::ParseStatus::hostile);
    CHECK(dr::read_reports("random words, no mail").status == dr::ParseStatus::malformed);
}
