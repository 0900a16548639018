// common/dmarc_report/report_reader.hpp - from whatever arrives (a report mail, a .xml.gz, a .zip, plain
// XML) to parsed aggregate reports, with every size and expansion bounded.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/dmarc_report/report_message.hpp"
#include "common/dmarc_report/report_xml.hpp"

namespace mailmoat::dmarc_report {

struct ReaderLimits {
    std::size_t max_input = 64u << 20;      // the message or file as read
    std::size_t max_unpacked = 64u << 20;   // one report's XML after decompression
    std::size_t max_ratio = 1000;           // decompressed / compressed
    ParseLimits parse;
    ExtractLimits extract;
};

struct FoundReport {
    ParseStatus status = ParseStatus::malformed;
    std::string error;   // why it was rejected
    std::string origin;  // attachment file name or "body"
    AggregateReport report;
};

struct ReadResult {
    ParseStatus status = ParseStatus::ok;  // malformed/hostile when nothing usable was found at all
    std::string error;
    std::vector<FoundReport> reports;      // one per report-like attachment, each ok or rejected
};

/// Reads `input`: gzip or zip data, plain XML, or an RFC 5322 message carrying them as attachments.
/// Each attachment is judged alone (a hostile one does not hide a good one next to it). Nothing
/// report-like → malformed with a message; decompression beyond the limits → hostile.
[[nodiscard]] ReadResult read_reports(std::string_view input, const ReaderLimits& limits = {});

}  // namespace mailmoat::dmarc_report
