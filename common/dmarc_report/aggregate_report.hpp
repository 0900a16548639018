// common/dmarc_report/aggregate_report.hpp - one DMARC aggregate report as values (RFC 9990 §3, RFC 7489
// Appendix C): what `mailmoat dmarc report` builds from evaluation records and `mailmoat dmarc ingest` reads.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/dmarc/report_record.hpp"

namespace mailmoat::dmarc_report {

/// Which schema a report follows.
enum class Format { rfc9990, rfc7489 };
[[nodiscard]] const char* format_name(Format f) noexcept;

/// <report_metadata>.
struct Metadata {
    std::string org_name;
    std::string email;
    std::string extra_contact_info;
    std::string report_id;
    std::int64_t begin = 0;  // date_range, Unix seconds
    std::int64_t end = 0;
    std::string generator;
    std::vector<std::string> errors;
};

/// One <record>: a (source IP, disposition, results, identifiers) tuple and its message count.
struct Row {
    std::string source_ip;
    std::uint64_t count = 0;
    std::string disposition;  // none | pass | quarantine | reject
    std::string dkim;         // policy_evaluated dkim: pass | fail
    std::string spf;          // policy_evaluated spf: pass | fail
    std::vector<dmarc::Override> reasons;
    std::string header_from;
    std::string envelope_from;
    std::string envelope_to;
    std::vector<dmarc::DkimOutcome> dkim_results;
    std::vector<dmarc::SpfOutcome> spf_results;
};

struct AggregateReport {
    Format format = Format::rfc9990;
    std::string version;  // <version> as written, e.g. "1.0"
    Metadata metadata;
    dmarc::PublishedPolicy policy;
    std::vector<Row> rows;

    /// Sum of the row counts (saturating at UINT64_MAX).
    [[nodiscard]] std::uint64_t message_count() const noexcept;
};

}  // namespace mailmoat::dmarc_report
