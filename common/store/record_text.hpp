// common/store/record_text.hpp - the text form of DMARC evaluation records and ingested reports that the
// stores keep: fields and list items separated by ASCII control characters (FS, GS, RS, US), which
// cannot occur in domain names, result keywords or IP addresses.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "common/dmarc/report_record.hpp"
#include "common/dmarc_report/aggregate_report.hpp"

namespace mailmoat::store::text {

/// Free text with the four separators replaced by spaces.
[[nodiscard]] std::string clean(std::string_view s);
/// Items separated by RS, each item's fields by US (every field cleaned).
[[nodiscard]] std::string join_items(const std::vector<std::vector<std::string_view>>& items);
/// The inverse of join_items; an empty text is no item.
[[nodiscard]] std::vector<std::vector<std::string>> split_items(std::string_view text);
/// Field i of an item, empty when absent.
[[nodiscard]] std::string field(const std::vector<std::string>& f, std::size_t i);

/// One record as one string (the Redis store's list element). decode_record returns false for a text
/// that is not one (wrong version or field count) and leaves `out` unspecified.
[[nodiscard]] std::string encode_record(const dmarc::ReportRecord& r);
[[nodiscard]] bool decode_record(std::string_view text, dmarc::ReportRecord& out);

/// One ingested report (metadata, policy, rows) as one string; decode_report returns false like
/// decode_record.
[[nodiscard]] std::string encode_report(const dmarc_report::AggregateReport& r);
[[nodiscard]] bool decode_report(std::string_view text, dmarc_report::AggregateReport& out);

}  // namespace mailmoat::store::text
