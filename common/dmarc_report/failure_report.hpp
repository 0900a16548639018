// common/dmarc_report/failure_report.hpp - DMARC failure (ruf) reports: when the record's fo= asks for one
// (RFC 9989 §4.7 fo, RFC 9991 §2-§3), the Identity-Alignment value (RFC 9991 §4), redaction of address
// local-parts (RFC 9991 §7 and Appendix A, with the method of RFC 6590) and the RFC 6591 AFRF message.
// Pure: no DNS, no sockets.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/dmarc/report_record.hpp"
#include "common/mail/header.hpp"

namespace mailmoat::dmarc_report {

/// The failure reporting options of a record's fo= tag (RFC 9989 §4.7).
struct FailureOptions {
    bool all = false;   // "0": every mechanism failed to produce an aligned pass
    bool any = false;   // "1": some mechanism failed to produce an aligned pass
    bool dkim = false;  // "d": a DKIM signature failed evaluation, aligned or not
    bool spf = false;   // "s": SPF failed evaluation, aligned or not
};

/// Parses fo= ("0", "1", "d", "s" joined by ':', case-insensitive, blanks around items ignored). Unknown
/// items are ignored; an empty or absent value, or one without any known item, is the default "0".
[[nodiscard]] FailureOptions parse_fo(std::string_view fo);

/// What a report decision needs to know about one evaluated message and one author domain.
struct FailureFacts {
    std::string from_domain;       // RFC5322.From domain, lower case
    std::string org_domain;        // its organizational domain (empty: from_domain)
    std::string adkim = "r";       // r | s
    std::string aspf = "r";        // r | s
    std::string mail_from_domain;  // RFC5321.MailFrom domain; empty for the null sender
    std::string spf_result;        // SPF result for the MAIL FROM identity
    std::vector<dmarc::DkimOutcome> dkim;
    bool dkim_aligned_pass = false;  // the DMARC evaluation's verdict
    bool spf_aligned_pass = false;
};

/// The kind of report, and so its Auth-Failure value (RFC 6591 §3.2.1, RFC 9991 §4 item 3).
enum class FailureKind { dmarc, dkim, spf };
[[nodiscard]] const char* failure_kind_name(FailureKind k) noexcept;  // "dmarc", "dkim", "spf"

/// Whether `id` is aligned with the author domain: equal, or (relaxed) equal to or below its
/// organizational domain (RFC 9989 §4.4). Empty `id` → false. Compares lower case.
[[nodiscard]] bool identifier_aligned(std::string_view id, const FailureFacts& f, bool strict);

/// The reports fo= asks for (RFC 9989 §4.7): "0" and "1" give one dmarc report (0: neither DKIM nor SPF
/// produced an aligned pass; 1: at least one did not). "d" gives a dkim report when a signature's result
/// is anything but pass or none; "s" an spf report when SPF is fail, softfail or permerror (RFC 7208 §2.6).
/// A dmarc report already carries the mechanisms' details, so d and s add a report only when no dmarc
/// report is due. Empty when nothing is due; never more than one of each kind.
[[nodiscard]] std::vector<FailureKind> failure_reports_due(const FailureOptions& fo, const FailureFacts& f);

/// The Identity-Alignment value (RFC 9991 §4 item 2): the mechanisms that failed to authenticate an
/// aligned identifier, "dkim, spf" in that order, or "none" when neither had an aligned identifier
/// that failed. DKIM counts when a signature with an aligned d= did not pass; SPF when the MAIL FROM
/// domain is aligned and SPF did not pass.
[[nodiscard]] std::string identity_alignment(const FailureFacts& f);

/// Replaces the local-part of every address in `text` (dot-atom or quoted-string before an '@' that is
/// followed by a domain) by an opaque token: the first 16 characters of base64(SHA-256(key || local-part))
/// (the method of RFC 6590; RFC 9991 Appendix A: "local-parts ... are PII ... redacting them"). The same local-part
/// gives the same token under one key, so a report consumer can still correlate. Domains stay. Never throws.
[[nodiscard]] std::string redact_local_parts(std::string_view text, std::string_view key);

/// "http://" and "https://" (any case) become "hxxp://" and "hxxps://" (RFC 9991 §7.3: keep report
/// consumers from following possibly malicious links by accident). Never throws.
[[nodiscard]] std::string defang_uris(std::string_view text);

/// Header fields whose addresses are message identifiers, not mailboxes: left as they are.
[[nodiscard]] bool identifier_field(std::string_view name) noexcept;

/// Everything one report says.
struct FailureReport {
    FailureKind kind = FailureKind::dmarc;
    std::string from;                // report sender address (RFC 5322 From and MAIL FROM)
    std::string to;                  // the ruf address
    std::int64_t date = 0;           // Unix seconds: report Date and Arrival-Date
    std::string message_id;          // without <>; the report's own Message-ID
    std::string user_agent;          // e.g. "mailmoat-dmarc/1.0"
    std::string reported_domain;     // the author domain (Reported-Domain)
    std::string auth_results;        // Authentication-Results value: "authserv-id; dmarc=fail ..."
    std::string source_ip;           // the SMTP client's address
    std::string original_mail_from;  // MAIL FROM address, without <>; empty for the null sender
    std::string envelope_id;         // the MTA's queue id (Original-Envelope-Id); may be empty
    std::string delivery_result;     // delivered | spam | policy | reject | other (RFC 6591 §3.2.1)
    std::string identity_alignment;  // for kind dmarc
    std::vector<dmarc::DkimOutcome> dkim_failures;  // DKIM-Domain/-Identity/-Selector per signature
    std::string spf_dns;             // SPF-DNS value ("txt : domain : \"v=spf1 ...\""); empty: none
    std::vector<mail::HeaderField> headers;  // the original header fields (wire form), in order
    bool redact = true;              // replace local-parts (redact_local_parts) and defang URIs
    std::string redaction_key;
};

/// Builds the report message (LF line ends) as RFC 6591 §3 and RFC 5965 §2 describe, updated by RFC 9991
/// §4: multipart/report; report-type=feedback-report with a text/plain part, a message/feedback-report
/// part (Feedback-Type: auth-failure, Version, User-Agent, Auth-Failure, Authentication-Results,
/// Identity-Alignment for dmarc, DKIM-*, SPF-DNS, Original-Envelope-Id, Original-Mail-From, Arrival-Date,
/// Source-IP, Reported-Domain, Delivery-Result) and the original header fields only as
/// text/rfc822-headers (RFC 9991 Appendix A: no body). Redaction, when on, covers the feedback fields and
/// every header field except message identifiers. Header values are unfolded of CR, bounded at 64 KiB in
/// total (the rest is dropped and a comment says so). Never throws for odd input.
[[nodiscard]] std::string build_failure_report(const FailureReport& r);

}  // namespace mailmoat::dmarc_report
