// common/dmarc_report/report_xml.hpp - writes and reads DMARC aggregate-report XML: RFC 9990 §3
// (namespace urn:ietf:params:xml:ns:dmarc-2.0) and RFC 7489 Appendix C, through libxml2.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/dmarc_report/aggregate_report.hpp"

namespace mailmoat::dmarc_report {

inline constexpr std::string_view rfc9990_namespace = "urn:ietf:params:xml:ns:dmarc-2.0";

/// Serialises `report` in its format (UTF-8, indented). RFC 9990: <version>1.0</version>, generator,
/// discovery_method, np, testing; RFC 7489: the Appendix C elements only (pct, sp and fo always
/// present as that schema asks; np/testing/discovery_method/generator omitted). Values that a schema
/// restricts (dispositions, results) are written as given: the caller builds them from engine keywords.
[[nodiscard]] std::string write_report_xml(const AggregateReport& report);

struct ParseLimits {
    std::size_t max_bytes = 64u << 20;       // XML text size
    std::size_t max_records = 200000;        // <record> elements
    std::uint64_t max_count = 1000000000ull; // one row's <count>
    std::uint64_t max_total = 10000000000ull;  // sum of counts
    std::size_t max_results_per_record = 64; // <dkim>/<spf> results in one record
    std::size_t max_text = 4096;             // one element's text
};

enum class ParseStatus { ok, malformed, hostile };
[[nodiscard]] const char* parse_status_name(ParseStatus s) noexcept;

struct ParseResult {
    ParseStatus status = ParseStatus::malformed;
    std::string error;  // malformed/hostile: one line saying why
    AggregateReport report;
};

/// Parses an aggregate report in either schema, with or without a namespace (any namespace is
/// accepted: providers use none, the RFC 7489 one, the RFC 9990 one, or invented ones), tolerating the
/// usual deviations: unknown elements ignored, whitespace around values, upper-case keywords, `sp`/`fo`
/// missing, a <begin>/<end> with fraction, multiple <spf> results, results like "hardfail", human
/// readable text. Never loads external entities or DTDs, never substitutes entities (a document with
/// an entity declaration is `hostile`), and rejects documents over `limits` as hostile. Missing
/// org_name, report_id, date_range, policy domain or records, or a non-numeric count → malformed.
[[nodiscard]] ParseResult parse_report_xml(std::string_view xml, const ParseLimits& limits = {});

}  // namespace mailmoat::dmarc_report
