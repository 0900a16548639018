// common/dmarc_report/summary.hpp - what the received aggregate reports say about a domain's mail:
// per sending source the messages that passed and failed SPF, DKIM and DMARC alignment, and per day
// the volume (for `mailmoat dmarc summary` and `mailmoat dmarc html`).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/dmarc_report/aggregate_report.hpp"

namespace mailmoat::dmarc_report {

struct SourceStats {
    std::string source_ip;
    std::uint64_t messages = 0;
    std::uint64_t spf_pass = 0;    // policy_evaluated spf = pass (aligned)
    std::uint64_t dkim_pass = 0;   // policy_evaluated dkim = pass (aligned)
    std::uint64_t dmarc_pass = 0;  // either aligned
    std::uint64_t quarantined = 0;
    std::uint64_t rejected = 0;
    std::vector<std::string> header_from;  // distinct, sorted (at most 8)
    std::vector<std::string> reporters;    // distinct org_names, sorted (at most 8)
    [[nodiscard]] std::uint64_t dmarc_fail() const noexcept { return messages - dmarc_pass; }
    [[nodiscard]] std::uint64_t spf_fail() const noexcept { return messages - spf_pass; }
    [[nodiscard]] std::uint64_t dkim_fail() const noexcept { return messages - dkim_pass; }
};

struct DayStats {
    std::int64_t day = 0;  // UTC midnight
    std::uint64_t pass = 0;
    std::uint64_t fail = 0;
};

struct Summary {
    std::uint64_t reports = 0;
    std::uint64_t messages = 0;
    std::uint64_t dmarc_pass = 0;
    std::vector<std::string> domains;  // policy domains covered, sorted
    /// Failing sources first: by DMARC-failing messages (descending), then messages, then address.
    std::vector<SourceStats> sources;
    /// Per UTC day of each report's begin (a multi-day report counts on its first day), ascending.
    std::vector<DayStats> days;
};

/// Adds up the reports (counts saturate, never wrap).
[[nodiscard]] Summary summarize(const std::vector<AggregateReport>& reports);

/// "YYYY-MM-DD" (UTC midnight) or Unix seconds → seconds; nullopt-like -1 for anything else.
[[nodiscard]] std::int64_t parse_date(const std::string& text) noexcept;

}  // namespace mailmoat::dmarc_report
