// common/dmarc_report/report_builder.hpp - turns the evaluation records of one policy domain and period
// into an aggregate report (RFC 9990 §3, RFC 7489 §7.2.1): one row per (source IP, disposition,
// alignment results, overrides, identifiers, auth results) with its count.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/dmarc/report_record.hpp"
#include "common/dmarc_report/aggregate_report.hpp"

namespace mailmoat::dmarc_report {

/// Who reports (the receiving organisation) and in which form.
struct Reporter {
    std::string org_name;
    std::string email;                // report_metadata email and the From of report mail
    std::string extra_contact_info;
    std::string receiver_domain;      // used in file names and Subject (Submitter)
    std::string generator;            // RFC 9990 generator, e.g. "mailmoat 0.1"
    Format format = Format::rfc9990;
};

/// Start of the UTC day containing t (RFC 7489 §7.2: periods aligned to UTC midnight); negative
/// times are floored too.
[[nodiscard]] std::int64_t utc_day_start(std::int64_t t) noexcept;

/// A stable report id for (domain, begin, end): a rerun after a crash produces the same id, so a
/// receiver that already got the report recognises the resend as a duplicate (RFC 9990 §3.1.1).
[[nodiscard]] std::string make_report_id(const std::string& domain, std::int64_t begin, std::int64_t end);

/// Groups records into rows, first appearance first. Records are not checked: the caller passes
/// those of one policy domain.
[[nodiscard]] std::vector<Row> aggregate_rows(const std::vector<dmarc::ReportRecord>& records);

/// The report for `records` (all of policy domain `domain`, within [begin, end)). policy_published
/// is taken from the newest record (the record as last seen). Empty `records` gives a report without
/// rows (which no schema accepts: the caller does not send it).
[[nodiscard]] AggregateReport build_report(const std::string& domain, std::int64_t begin, std::int64_t end,
                                           const std::vector<dmarc::ReportRecord>& records, const Reporter& who);

}  // namespace mailmoat::dmarc_report
