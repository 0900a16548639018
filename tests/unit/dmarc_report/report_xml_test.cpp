// tests/unit/dmarc_report/report_xml_test.cpp - aggregate-report XML: writing both schemas, reading them
// back, the usual deviations of real reports, and hostile documents.
#include <catch2/catch.hpp>

#include "common/dmarc_report/report_builder.hpp"
#include "common/dmarc_report/report_xml.hpp"

namespace dr = mailmoat::dmarc_report;
namespace dm = mailmoat::dmarc;

namespace {

dm::ReportRecord rec(std::string ip, std::string dkim_aligned, std::string spf_aligned) {
    dm::ReportRecord r;
    r.time = 1764460800 + 100;
    r.source_ip = std::move(ip);
    r.header_from = "example.org";
    r.envelope_from = "example.org";
    r.envelope_to = "example.net";
    r.organizational_domain = "example.org";
    r.policy.domain = "example.org";
    r.policy.p = "reject";
    r.policy.np = "quarantine";
    r.policy.discovery_method = "treewalk";
    r.dmarc_result = (dkim_aligned == "pass" || spf_aligned == "pass") ? "pass" : "fail";
    r.disposition = r.dmarc_result == "pass" ? "none" : "reject";
    r.dkim_aligned = std::move(dkim_aligned);
    r.spf_aligned = std::move(spf_aligned);
    r.dkim = {{"example.org", "s1", "pass", ""}, {"esp.example", "k2", "fail", "body hash"}};
    r.spf = {{"example.org", "mfrom", "pass"}};
    return r;
}

dr::AggregateReport sample(dr::Format f) {
    dr::Reporter who{"Receiver Inc.", "dmarc@receiver.example", "", "receiver.example", "mailmoat test", f};
    std::vector<dm::ReportRecord> rs = {rec("192.0.2.1", "pass", "pass"), rec("192.0.2.1", "pass", "pass"),
                                        rec("2001:db8::7", "fail", "fail")};
    return dr::build_report("example.org", 1764460800, 1764547200, rs, who);
}

}  // namespace

TEST_CASE("RFC 9990 output carries the namespace, generator, np, discovery_method and testing") {
    const auto xml = dr::write_report_xml(sample(dr::Format::rfc9990));
    CHECK(xml.find("<feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">") != std::string::npos);
    CHECK(xml.find("<generator>mailmoat test</generator>") != std::string::npos);
    CHECK(xml.find("<np>quarantine</np>") != std::string::npos);
    CHECK(xml.find("<discovery_method>treewalk</discovery_method>") != std::string::npos);
    CHECK(xml.find("<testing>n</testing>") != std::string::npos);
    CHECK(xml.find("<pct>") == std::string::npos);
}

TEST_CASE("RFC 7489 output has no namespace, pct, and IPv6 in eight groups") {
    const auto xml = dr::write_report_xml(sample(dr::Format::rfc7489));
    CHECK(xml.find("<feedback>") != std::string::npos);
    CHECK(xml.find("<pct>100</pct>") != std::string::npos);
    CHECK(xml.find("<source_ip>2001:db8:0:0:0:0:0:7</source_ip>") != std::string::npos);
    CHECK(xml.find("<np>") == std::string::npos);
}

TEST_CASE("written reports read back to the same rows and counts", "[roundtrip]") {
    const auto format = GENERATE(dr::Format::rfc9990, dr::Format::rfc7489);
    const auto original = sample(format);
    const auto parsed = dr::parse_report_xml(dr::write_report_xml(original));
    REQUIRE(parsed.status == dr::ParseStatus::ok);
    const auto& r = parsed.report;
    CHECK(r.format == format);
    CHECK(r.metadata.org_name == "Receiver Inc.");
    CHECK(r.metadata.report_id == original.metadata.report_id);
    CHECK(r.metadata.begin == 1764460800);
    CHECK(r.metadata.end == 1764547199);
    CHECK(r.policy.domain == "example.org");
    REQUIRE(r.rows.size() == 2);
    CHECK(r.rows[0].source_ip == "192.0.2.1");
    CHECK(r.rows[0].count == 2);
    CHECK(r.rows[1].source_ip == "2001:db8::7");  // canonical form again, also from the 7489 long form
    CHECK(r.rows[1].count == 1);
    CHECK(r.rows[1].disposition == "reject");
    CHECK(r.rows[1].dkim_results.size() == 2);
    CHECK(r.rows[1].dkim_results[1].selector == "k2");
    CHECK(r.message_count() == 3);
}

TEST_CASE("usual deviations of real reports are tolerated") {
    const std::string xml = R"(<?xml version="1.0" encoding="UTF-8" ?>
<feedback xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <report_metadata>
    <org_name>  Big Mailbox Provider </org_name>
    <email>noreply-dmarc-support@provider.example</email>
    <report_id>  1234567890123456789 </report_id>
    <date_range><begin>1764460800.0</begin><end> 1764547199 </end></date_range>
  </report_metadata>
  <policy_published><domain>Example.ORG</domain><p>Reject</p><pct>100</pct></policy_published>
  <record>
    <row><source_ip>203.0.113.9</source_ip><count>12</count>
      <policy_evaluated><disposition>none</disposition><dkim>PASS</dkim><spf>fail</spf></policy_evaluated></row>
    <identifiers><header_from>example.org</header_from></identifiers>
    <auth_results><spf><domain>example.org</domain><result>hardfail</result></spf>
      <spf><domain>helo.example.org</domain><scope>helo</scope><result>pass</result></spf>
      <unknown_element>x</unknown_element></auth_results>
  </record>
</feedback>)";
    const auto p = dr::parse_report_xml(xml);
    REQUIRE(p.status == dr::ParseStatus::ok);
    CHECK(p.report.format == dr::Format::rfc7489);
    CHECK(p.report.metadata.org_name == "Big Mailbox Provider");
    CHECK(p.report.metadata.report_id == "1234567890123456789");
    CHECK(p.report.metadata.begin == 1764460800);
    CHECK(p.report.policy.domain == "example.org");
    CHECK(p.report.policy.p == "reject");
    REQUIRE(p.report.rows.size() == 1);
    CHECK(p.report.rows[0].dkim == "pass");
    REQUIRE(p.report.rows[0].spf_results.size() == 2);
    CHECK(p.report.rows[0].spf_results[0].result == "fail");
    CHECK(p.report.rows[0].spf_results[0].scope == "mfrom");
}

TEST_CASE("entity declarations are refused as hostile, external entities never loaded") {
    const std::string laughs = R"(<?xml version="1.0"?>
<!DOCTYPE feedback [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<feedback><report_metadata><org_name>&b;</org_name></report_metadata></feedback>)";
    const auto p = dr::parse_report_xml(laughs);
    CHECK(p.status == dr::ParseStatus::hostile);
    CHECK(p.error.find("entit") != std::string::npos);
    const std::string xxe = "<?xml version=\"1.0\"?><!DOCTYPE x SYSTEM \"http://203.0.113.1/x.dtd\"><feedback/>";
    CHECK(dr::parse_report_xml(xxe).status == dr::ParseStatus::hostile);
}

TEST_CASE("huge counts and too many records are hostile, broken documents malformed") {
    auto doc = [](const std::string& count) {
        return "<feedback><report_metadata><org_name>o</org_name><email>e@x</email><report_id>1</report_id>"
               "<date_range><begin>1</begin><end>2</end></date_range></report_metadata><policy_published>"
               "<domain>d.example</domain><p>none</p></policy_published><record><row><source_ip>192.0.2.1</source_ip>"
               "<count>" + count + "</count><policy_evaluated><disposition>none</disposition><dkim>pass</dkim>"
               "<spf>pass</spf></policy_evaluated></row><identifiers><header_from>d.example</header_from>"
               "</identifiers><auth_results/></record></feedback>";
    };
    CHECK(dr::parse_report_xml(doc("5")).status == dr::ParseStatus::ok);
    const auto huge = dr::parse_report_xml(doc("99999999999999999999999999"));
    CHECK(huge.status == dr::ParseStatus::hostile);
    CHECK(huge.error.find("count") != std::string::npos);
    CHECK(dr::parse_report_xml(doc("18446744073709551615")).status == dr::ParseStatus::hostile);
    CHECK(dr::parse_report_xml(doc("-3")).status == dr::ParseStatus::malformed);
    CHECK(dr::parse_report_xml(doc("many")).status == dr::ParseStatus::malformed);
    dr::ParseLimits small;
    small.max_total = 10;
    std::string two = doc("6");
    const auto rec_begin = two.find("<record>");
    const auto rec_end = two.find("</record>") + 9;
    two.insert(rec_end, two.substr(rec_begin, rec_end - rec_begin));
    CHECK(dr::parse_report_xml(two, small).status == dr::ParseStatus::hostile);
    CHECK(dr::parse_report_xml("<feedback><report_metadata>").status == dr::ParseStatus::malformed);
    CHECK(dr::parse_report_xml("<html/>").status == dr::ParseStatus::malformed);
    const auto no_id = dr::parse_report_xml("<feedback><report_metadata><org_name>o</org_name></report_metadata></feedback>");
    CHECK(no_id.status == dr::ParseStatus::malformed);
    CHECK(no_id.error.find("report_id") != std::string::npos);
}
