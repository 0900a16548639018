// common/dmarc/report_record.hpp - what one DMARC evaluation leaves behind for aggregate reports
// (RFC 9990 §3 / RFC 7489 Appendix C): written by mailmoat-dmarc, read by `mailmoat dmarc report`.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mailmoat::dmarc {

/// The policy record as published, as the report's <policy_published> needs it (RFC 9990 §3.1.2).
struct PublishedPolicy {
    std::string domain;            // the domain whose record was applied (where the walk found it)
    std::string p = "none";        // none | quarantine | reject
    std::string sp;                // empty when absent
    std::string np;                // empty when absent (RFC 9989)
    std::string adkim = "r";       // r | s
    std::string aspf = "r";        // r | s
    std::string testing = "n";     // RFC 9989 t= : y | n
    int pct = -1;                  // RFC 7489 pct=, -1 when absent
    std::string fo;                // empty when absent
    std::string psd;               // y | n | u (absent)
    std::string discovery_method;  // "treewalk" | "psl"
    std::vector<std::string> rua;  // the rua URIs as published (unverified)
    std::vector<std::string> ruf;  // the ruf URIs as published with any "!size" (unverified; not stored)
};

/// One DKIM signature's outcome (RFC 9990 <auth_results><dkim>).
struct DkimOutcome {
    std::string domain;
    std::string selector;
    std::string result;  // none | pass | fail | policy | neutral | temperror | permerror
    std::string human_result;
};

/// The SPF outcome (RFC 9990 <auth_results><spf>); scope is "mfrom" (RFC 9990 drops helo, kept readable).
struct SpfOutcome {
    std::string domain;
    std::string scope = "mfrom";
    std::string result;  // none | neutral | pass | fail | softfail | temperror | permerror
};

/// A local policy override (RFC 9990 PolicyOverrideReason).
struct Override {
    std::string type;  // forwarded | sampled_out | trusted_forwarder | mailing_list | local_policy | other
    std::string comment;
};

/// One evaluated message.
struct ReportRecord {
    std::int64_t time = 0;           // Unix seconds when evaluated
    std::string source_ip;           // the SMTP client's address, canonical text form
    std::string header_from;         // the RFC5322.From domain (lower case, A-labels)
    std::string envelope_from;       // the RFC5321.MailFrom domain, empty for the null sender
    std::string envelope_to;         // the first recipient's domain
    std::string organizational_domain;
    PublishedPolicy policy;
    std::string dmarc_result;        // pass | fail | none | temperror | permerror
    std::string disposition;         // none | quarantine | reject (what was applied)
    std::string dkim_aligned;        // pass | fail (policy_evaluated.dkim)
    std::string spf_aligned;         // pass | fail (policy_evaluated.spf)
    std::vector<Override> overrides;
    std::vector<DkimOutcome> dkim;
    std::vector<SpfOutcome> spf;
};

}  // namespace mailmoat::dmarc
