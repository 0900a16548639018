// milters/dmarc/settings.hpp - mailmoat-dmarc settings: schema, validation, override table, store, PSL.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/options.hpp"
#include "common/daemon/daemon.hpp"
#include "common/dmarc/evaluator.hpp"
#include "common/table/table.hpp"
#include "common/util/ip_address.hpp"

namespace mailmoat::dmarcd {

/// Where SPF or DKIM results come from: computed by this milter, or read from trusted
/// Authentication-Results / Received-SPF header fields written by an earlier hop on this host.
enum class Source { self, headers };
[[nodiscard]] const char* source_name(Source s) noexcept;

enum class QuarantineAction { hold, header };

/// Override reasons an aggregate report may carry (RFC 9990 PolicyOverrideType / RFC 7489 App. C).
/// Returns true for forwarded, sampled_out, trusted_forwarder, mailing_list, local_policy, other.
[[nodiscard]] bool valid_override_reason(std::string_view reason) noexcept;

/// An override-table value "REASON [comment...]" split; reason empty when the value is not valid.
struct OverrideValue {
    std::string reason;
    std::string comment;
};
[[nodiscard]] OverrideValue parse_override_value(std::string_view value);

/// Failure (ruf) reports (RFC 9991): off unless enabled; see milters/dmarc/failure_reports.hpp.
struct FailureReportSettings {
    bool enabled = false;                  // failure-reports (OpenDMARC FailureReports)
    std::string sender;                    // failure-reports-sender (FailureReportsSentBy)
    std::vector<std::string> bcc;          // failure-reports-bcc (FailureReportsBcc)
    bool on_none = false;                  // failure-reports-on-none (FailureReportsOnNone)
    unsigned rate_per_hour = 10;           // per destination domain
    bool redact = true;                    // failure-reports-redact
    std::vector<std::string> sendmail;     // argv, no shell
    std::string smtp_host;                 // set: SMTP instead of sendmail
    std::uint16_t smtp_port = 25;
    std::size_t queue_size = 100;
};

struct Settings {
    daemon::CommonSettings common;
    std::string authserv_id;
    std::vector<std::string> trusted_authserv_ids;  // lower-cased
    Source spf_source = Source::self;
    Source dkim_source = Source::self;
    dmarc::Discovery discovery = dmarc::Discovery::treewalk;
    std::string public_suffix_list;
    bool enforce_reject = true;
    bool enforce_quarantine = true;
    QuarantineAction quarantine_action = QuarantineAction::hold;
    std::string quarantine_header = "X-Mailmoat-DMARC-Quarantine";
    bool reject_multiple_from = true;
    std::string override_table;                     // spec, empty: none
    std::vector<std::string> trusted_arc_sealers;   // lower-cased A-label domains
    std::string store;                              // "sqlite:/path", a Redis URL or "none"
    std::chrono::milliseconds store_timeout{500};   // Redis
    std::chrono::seconds store_ttl{40 * 86400};     // Redis
    bool store_write_background = false;           // store-write background (else before-reply, the default)
    bool tempfail_on_dns_error = false;
    bool add_spf_dkim_results = true;               // self-computed spf=/dkim= also go into our A-R
    std::size_t max_signatures_to_verify = 5;
    std::size_t dns_cache_size = 20000;
    bool skip_authenticated = true;                 // SASL-authenticated mail is not evaluated
    std::vector<util::IpNetwork> skip_hosts;        // clients whose mail is not evaluated
    FailureReportSettings failure_reports;
};

/// The schema of mailmoat-dmarc (common daemon options plus the DMARC keys).
[[nodiscard]] config::Schema make_schema();

/// Builds Settings from parsed values. Checks but does not open the store, table or list. Throws
/// config::ConfigError naming the key for any invalid value.
[[nodiscard]] Settings build_settings(const config::Values& values);

/// The sqlite path of a "sqlite:/path" store spec; empty for anything else.
[[nodiscard]] std::string sqlite_path(std::string_view store);

}  // namespace mailmoat::dmarcd
