// policyd/spf/settings.hpp - mailmoat-spf settings: every key once, with default and help.
#pragma once
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/options.hpp"
#include "common/daemon/daemon.hpp"
#include "common/policy/server.hpp"
#include "common/util/ip_address.hpp"

namespace mailmoat::spfd {

/// When an SPF result leads to a rejection (policyd-spf's HELO_reject / Mail_From_reject values).
enum class RejectPolicy {
    fail,      // reject Fail
    softfail,  // reject Fail and SoftFail
    not_pass,  // reject everything but Pass and None
    null,      // reject Fail only for the null sender (HELO checks)
    never,     // never reject: headers only
    no_check,  // do not check this identity at all
};
[[nodiscard]] std::optional<RejectPolicy> parse_reject_policy(std::string_view text) noexcept;
[[nodiscard]] const char* reject_policy_name(RejectPolicy p) noexcept;

enum class HeaderMode { received_spf, authentication_results, both, none };

/// The knobs a per-recipient table entry may override ("helo-reject=never, test-only=yes").
struct Knobs {
    RejectPolicy helo_reject = RejectPolicy::fail;
    RejectPolicy mail_from_reject = RejectPolicy::fail;
    bool permerror_reject = false;
    bool temperror_defer = false;
    bool test_only = false;
    /// Applies "key=value, key=value" overrides. Returns an error text, or empty on success.
    [[nodiscard]] std::string apply_overrides(std::string_view text);
};

struct Settings {
    daemon::CommonSettings common;
    Knobs knobs;
    HeaderMode header = HeaderMode::received_spf;
    std::string authserv_id;  // Authentication-Results authserv-id and Received-SPF receiver
    std::vector<util::IpNetwork> skip_networks;
    bool skip_sasl = true;
    std::vector<std::string> helo_whitelist;    // HELO names (forward-confirmed) not checked
    std::vector<std::string> domain_whitelist;  // client passes SPF for one of these: not checked
    std::string per_recipient_table;            // table spec, empty for none
    std::string default_explanation;  // RFC 7208 §6.2 macro-string used when a failing domain has no exp=
    std::chrono::milliseconds time_budget{10000};
    std::size_t cache_size = 10000;      // SPF result cache entries (0 disables)
    std::size_t dns_cache_size = 20000;  // DNS cache entries (0 disables)
    policy::ServerOptions server;  // socket, connection cap and timeouts (common/policy/settings)
};

/// The schema of mailmoat-spf (common daemon options plus the SPF keys).
[[nodiscard]] config::Schema make_schema();

/// Builds Settings from parsed values. Throws config::ConfigError naming the key and its source.
[[nodiscard]] Settings build_settings(const config::Values& values);

}  // namespace mailmoat::spfd
