// policyd/spf/settings.cpp - mailmoat-spf settings schema and validation (defaults follow policyd-spf).
#include "policyd/spf/settings.hpp"

#include <unistd.h>

#include "common/config/options.hpp"
#include "common/policy/settings.hpp"

namespace mailmoat::spfd {

std::optional<RejectPolicy> parse_reject_policy(std::string_view t) noexcept {
    if (t == "fail") return RejectPolicy::fail;
    if (t == "softfail") return RejectPolicy::softfail;
    if (t == "not-pass") return RejectPolicy::not_pass;
    if (t == "null") return RejectPolicy::null;
    if (t == "never" || t == "no" || t == "false") return RejectPolicy::never;
    if (t == "no-check") return RejectPolicy::no_check;
    return std::nullopt;
}

const char* reject_policy_name(RejectPolicy p) noexcept {
    switch (p) {
    case RejectPolicy::fail: return "fail";
    case RejectPolicy::softfail: return "softfail";
    case RejectPolicy::not_pass: return "not-pass";
    case RejectPolicy::null: return "null";
    case RejectPolicy::never: return "never";
    case RejectPolicy::no_check: return "no-check";
    }
    return "fail";
}

std::string Knobs::apply_overrides(std::string_view text) {
    for (const auto& item : config::split_list(text)) {
        const auto eq = item.find('=');
        if (eq == std::string::npos) return "expected key=value, got '" + item + "'";
        const auto key = item.substr(0, eq);
        const auto value = std::string_view(item).substr(eq + 1);
        if (key == "helo-reject" || key == "mail-from-reject") {
            const auto p = parse_reject_policy(value);
            if (!p) return key + ": unknown value '" + std::string(value) + "'";
            (key == "helo-reject" ? helo_reject : mail_from_reject) = *p;
        } else if (key == "permerror-reject" || key == "temperror-defer" || key == "test-only") {
            bool b = false;
            if (!config::parse_bool(value, b)) return key + ": expected yes or no";
            (key == "permerror-reject" ? permerror_reject : key == "temperror-defer" ? temperror_defer : test_only) = b;
        } else {
            return "unknown key '" + key + "'";
        }
    }
    return {};
}

config::Schema make_schema() {
    config::Schema s("mailmoat-spf", "SPF (RFC 7208) policy server for Postfix's check_policy_service");
    s.add_common_daemon_options("unix:/run/mailmoat/spf.sock", "/etc/mailmoat/mailmoat-spf.conf");
    s.add_string("helo-reject", "fail",
                 "Reject on the HELO identity's result: fail, softfail, not-pass, null (fail, null sender only), "
                 "never (headers only) or no-check (policyd-spf HELO_reject).");
    s.add_string("mail-from-reject", "fail",
                 "Reject on the MAIL FROM identity's result: fail, softfail, not-pass, never or no-check "
                 "(policyd-spf Mail_From_reject).");
    s.add_bool("permerror-reject", false, "Reject (550 5.7.24) when the sender's SPF record is broken (policyd-spf PermError_reject).");
    s.add_bool("temperror-defer", false, "Defer (DEFER_IF_PERMIT 4.7.24) on a DNS failure (policyd-spf TempError_Defer).");
    s.add_bool("test-only", false, "Add headers only; never reject or defer (policyd-spf TestOnly inverted).");
    s.add_string("header", "received-spf",
                 "Result header to prepend: received-spf, authentication-results, both (Authentication-Results is "
                 "then added at the DATA stage: list the service in smtpd_data_restrictions too) or none.");
    s.add_string("authserv-id", "", "authserv-id of Authentication-Results and receiver= of Received-SPF; empty: this host's name.");
    s.add_list("skip-networks", {"127.0.0.0/8", "::1"}, "Client networks that are not checked (policyd-spf skip_addresses).");
    s.add_bool("skip-sasl", true, "Do not check SASL-authenticated clients.");
    s.add_list("helo-whitelist", {}, "HELO names not checked when they resolve to the client address (policyd-spf HELO_Whitelist).");
    s.add_list("domain-whitelist", {}, "Clients that pass SPF for one of these domains are not checked (policyd-spf Domain_Whitelist).");
    s.add_string("per-recipient-table", "",
                 "Postfix-style table (type:name) mapping a recipient, its domain or user@ to overrides such as "
                 "'mail-from-reject=never, test-only=yes' (policyd-spf Per_User).");
    s.add_string("default-explanation", "",
                 "Explanation (an RFC 7208 macro-string) in the 550 reply when a failing domain publishes no exp=; "
                 "empty: 'SPF fail - not authorized'.");
    s.add_duration("time-budget", std::chrono::seconds(10), "Longest time one SPF check may take; then temperror (RFC 7208 §4.6.4).");
    s.add_uint("cache-size", 10000, 0, 10000000, "SPF results kept for their records' TTL (0 disables).");
    s.add_uint("dns-cache-size", 20000, 0, 10000000, "DNS answers kept for their TTL (0 disables).");
    policy::add_server_options(s);
    return s;
}

Settings build_settings(const config::Values& v) {
    Settings s;
    s.common = daemon::CommonSettings::from(v);
    auto reject = [&](const char* key) {
        const auto p = parse_reject_policy(v.str(key));
        if (!p) throw v.error(key, "expected fail, softfail, not-pass, null, never or no-check");
        return *p;
    };
    s.knobs.helo_reject = reject("helo-reject");
    s.knobs.mail_from_reject = reject("mail-from-reject");
    if (s.knobs.mail_from_reject == RejectPolicy::null) throw v.error("mail-from-reject", "'null' applies to helo-reject only");
    s.knobs.permerror_reject = v.flag("permerror-reject");
    s.knobs.temperror_defer = v.flag("temperror-defer");
    s.knobs.test_only = v.flag("test-only");
    const auto& header = v.str("header");
    if (header == "received-spf") s.header = HeaderMode::received_spf;
    else if (header == "authentication-results") s.header = HeaderMode::authentication_results;
    else if (header == "both") s.header = HeaderMode::both;
    else if (header == "none") s.header = HeaderMode::none;
    else throw v.error("header", "expected received-spf, authentication-results, both or none");
    s.authserv_id = v.str("authserv-id");
    if (s.authserv_id.empty()) {
        char host[256] = {};
        if (::gethostname(host, sizeof host - 1) == 0) s.authserv_id = host;
        if (s.authserv_id.empty()) s.authserv_id = "localhost";
    }
    for (const auto& c : s.authserv_id)
        if (c <= ' ' || c == ';' || c == '"' || c == '(' || c == ')' || static_cast<unsigned char>(c) >= 0x7f)
            throw v.error("authserv-id", "must be a plain token (no spaces, quotes, ';' or parentheses)");
    for (const auto& n : v.list("skip-networks")) {
        auto net = util::IpNetwork::parse(n);
        if (!net) throw v.error("skip-networks", "not an address or network: '" + n + "'");
        s.skip_networks.push_back(*net);
    }
    s.skip_sasl = v.flag("skip-sasl");
    for (auto n : v.list("helo-whitelist")) {
        for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        s.helo_whitelist.push_back(n);
    }
    for (auto n : v.list("domain-whitelist")) {
        for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        s.domain_whitelist.push_back(n);
    }
    s.per_recipient_table = v.str("per-recipient-table");
    s.default_explanation = v.str("default-explanation");
    s.time_budget = v.duration("time-budget");
    if (s.time_budget.count() < 1 || s.time_budget > std::chrono::seconds(90))
        throw v.error("time-budget", "must be between 1s and 90s (Postfix gives up after 100s)");
    s.cache_size = static_cast<std::size_t>(v.uint("cache-size"));
    s.dns_cache_size = static_cast<std::size_t>(v.uint("dns-cache-size"));
    s.server = policy::server_options(v, s.common.socket, s.common.socket_owner, s.common.socket_mode);
    return s;
}

}  // namespace mailmoat::spfd
