// common/dmarc_report/report_message.hpp - the mail that carries an aggregate report (RFC 7489 §7.2.1.1,
// RFC 9990 §5): building it, and finding the report attachments in a received one.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/dmarc_report/aggregate_report.hpp"

namespace mailmoat::dmarc_report {

/// receiver "!" policy-domain "!" begin "!" end ".xml.gz" (RFC 7489 §7.2.1.1, RFC 9990 §5.2.1).
[[nodiscard]] std::string report_file_name(std::string_view receiver_domain, const AggregateReport& r);

struct MessageParts {
    std::string from;            // report sender address
    std::string to;              // the rua address
    std::string receiver_domain; // for the file name and Subject's Submitter when org_name is empty
    std::int64_t date = 0;       // Unix seconds for the Date field
};

/// The complete message (LF line ends): From, To, Date, Subject "Report Domain: D Submitter: S
/// Report-ID: <ID>", a Message-ID derived from the report id (so a resend after a crash carries the same
/// one), multipart/mixed with a short text part and the gzip file as application/gzip, base64.
[[nodiscard]] std::string build_report_message(const AggregateReport& r, const std::string& gzip_xml,
                                               const MessageParts& parts);

struct Attachment {
    std::string content_type;  // lower case, without parameters
    std::string file_name;     // from Content-Disposition filename or Content-Type name
    std::string data;          // transfer-decoded bytes
};

struct ExtractLimits {
    std::size_t max_parts = 64;
    std::size_t max_depth = 8;
    std::size_t max_attachment_bytes = 32u << 20;
};

enum class ExtractStatus { ok, none, malformed };

struct ExtractResult {
    ExtractStatus status = ExtractStatus::none;
    std::string error;
    std::vector<Attachment> attachments;  // those that may be reports (gzip, zip, xml by type or name)
};

/// Walks a received message's MIME tree (RFC 2045/2046, CRLF or LF) and returns the parts that may be
/// reports. A single-part message whose body is the report also counts. Bad base64 → malformed;
/// nothing report-like → none; more parts, depth or bytes than `limits` → malformed with the reason.
[[nodiscard]] ExtractResult extract_report_attachments(std::string_view message, const ExtractLimits& limits = {});

}  // namespace mailmoat::dmarc_report
