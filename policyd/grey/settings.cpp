// policyd/grey/settings.cpp - mailmoat-grey settings schema and validation (defaults follow postgrey).
#include "policyd/grey/settings.hpp"

#include <unistd.h>

#include "common/policy/action.hpp"

namespace mailmoat::greyd {

std::string StoreSpec::to_string() const {
    if (kind == Kind::sqlite) return "sqlite:" + path;
    return redis.to_string();
}

std::optional<StoreSpec> parse_store_spec(std::string_view t) {
    StoreSpec s;
    if (t.substr(0, 7) == "sqlite:") {
        s.kind = StoreSpec::Kind::sqlite;
        s.path = std::string(t.substr(7));
        if (s.path.empty() || s.path.front() != '/') return std::nullopt;
        return s;
    }
    if (store::is_redis_url(t)) {
        auto e = store::parse_redis_url(t);
        if (!e) return std::nullopt;
        s.kind = StoreSpec::Kind::redis;
        s.redis = std::move(*e);
        return s;
    }
    return std::nullopt;
}

config::Schema make_schema() {
    config::Schema s("mailmoat-grey", "greylisting policy server for Postfix's check_policy_service");
    s.add_common_daemon_options("unix:/run/mailmoat/grey.sock", "/etc/mailmoat/mailmoat-grey.conf");
    s.add_duration("delay", std::chrono::seconds(300),
                   "A retry passes when this long after the first attempt (postgrey --delay).");
    s.add_duration("retry-window", std::chrono::hours(48),
                   "A retry later than this after the first attempt is greylisted anew (postgrey --retry-window).");
    s.add_duration("max-age", std::chrono::hours(35 * 24),
                   "Entries and auto-whitelisted clients unseen this long are deleted (postgrey --max-age).");
    s.add_uint("auto-whitelist-clients", 5, 0, 1000000,
               "Client networks with this many accepted retries skip greylisting; 0 disables (postgrey "
               "--auto-whitelist-clients).");
    s.add_uint("ipv4-prefix", 24, 1, 32,
               "IPv4 clients are grouped by this prefix length; 32: exact address (postgrey --ipv4cidr).");
    s.add_uint("ipv6-prefix", 64, 1, 128,
               "IPv6 clients are grouped by this prefix length; 128: exact address (postgrey --ipv6cidr).");
    s.add_string(
        "store", "sqlite:/var/lib/mailmoat/grey.db",
        "Where entries live: sqlite:/path/file.db (embedded) or redis://[:PASSWORD@]host:port[/db] or unix:/path/redis.sock[?db=N] (shared by several MX hosts).");
    s.add_string("sqlite-synchronous", "normal",
                 "SQLite synchronous mode in WAL: normal (survives a killed daemon; a power loss may drop the last "
                 "seconds) or full (one fsync per answer, survives power loss).");
    s.add_uint("sqlite-flush-ms", 20, 1, 10000,
               "The SQLite store answers from memory and writes passed flags, restarted entries and client counters "
               "in batches this many milliseconds apart (new entries are committed before they are answered; the "
               "last-seen time and attempt count of a repeated attempt within 5 s): a crash loses at most these "
               "windows, which only makes senders wait longer.");
    s.add_list(
        "whitelist-clients", {},
        "Files in postgrey's whitelist_clients format (addresses, networks, host names, /regex/); several allowed.");
    s.add_list(
        "whitelist-recipients", {},
        "Files in postgrey's whitelist_recipients format (user@, domains, addresses, /regex/); several allowed.");
    s.add_list("whitelist-client-entries", {}, "Client whitelist entries given inline (same syntax as the files).");
    s.add_list("whitelist-recipient-entries", {},
               "Recipient whitelist entries given inline (same syntax as the files).");
    s.add_list("no-auto-whitelist", {},
               "Client addresses or networks never auto-whitelisted: they are greylisted per triplet however often "
               "they retry (a blacklist for the auto-whitelist).");
    s.add_list("no-auto-whitelist-senders", {},
               "Envelope senders never auto-whitelisted: user@domain, @domain or domain (subdomains included). A "
               "message from them is greylisted per triplet even from an auto-whitelisted client, and its retries do "
               "not count towards the client's auto-whitelisting.");
    s.add_string("greylist-text", "Greylisted, please try again in %d seconds",
                 "Text after the 4.7.1 status code; %d (or postgrey's %s) is the remaining delay in seconds (postgrey "
                 "--greylist-text).");
    s.add_string("greylist-action", "DEFER_IF_PERMIT",
                 "Action for a greylisted triplet: DEFER_IF_PERMIT, DEFER or a 4NN code (postgrey --greylist-action).");
    s.add_bool("x-greylist-header", true,
               "Prepend 'X-Greylist: delayed N seconds by mailmoat-grey' once per message that passed after a delay "
               "(postgrey --x-greylist-header).");
    s.add_string("hostname", "", "Host name in the X-Greylist header; empty: this host's name (postgrey --hostname).");
    s.add_bool("spf-keying", true,
               "When the client passes SPF for the sender's domain, key the entry on that domain instead of the client "
               "network, so a sender's whole outbound pool counts as one client.");
    s.add_list("spf-skip-domains", {}, "Sender domains whose SPF-authenticated clients are never greylisted.");
    s.add_duration("spf-time-budget", std::chrono::seconds(5),
                   "Longest time the SPF check for a key may take; then the network is the key.");
    s.add_uint("spf-cache-size", 10000, 0, 10000000, "SPF results kept for their records' TTL (0 disables).");
    s.add_uint("dns-cache-size", 20000, 0, 10000000, "DNS answers kept for their TTL (0 disables).");
    s.add_list("sender-normalise", {"batv", "srs", "extension", "verp"},
               "Sender rewrites before keying: batv (prvs=TAG=user), srs (SRS0/SRS1 to the original sender), extension "
               "(user+ext), verp (digit runs to '#'); an empty value: lower-case only.");
    s.add_bool("skip-sasl", true, "Do not greylist SASL-authenticated clients.");
    s.add_list("trusted-ccerts", {}, "Client certificate fingerprints (ccert_fingerprint) that skip greylisting.");
    s.add_bool("privacy", false,
               "Store HMAC-SHA256 hashes of triplets and clients instead of addresses (postgrey --privacy).");
    s.add_string("privacy-key-file", "/etc/mailmoat/grey-privacy.key",
                 "Secret key for privacy mode, at least 16 bytes, mode 0600.");
    s.add_string("store-failure-action", "DUNNO",
                 "Answer when the store cannot be used: DUNNO lets mail flow; DEFER_IF_PERMIT ... holds it back.");
    s.add_duration("sweep-interval", std::chrono::hours(1), "How often entries older than max-age are deleted.");
    s.add_uint("max-connections", 500, 1, 100000, "Most concurrent Postfix connections (one per smtpd process).");
    s.add_duration("idle-timeout", std::chrono::seconds(600), "Close a Postfix connection idle this long.");
    return s;
}

Settings build_settings(const config::Values& v) {
    Settings s;
    s.common = daemon::CommonSettings::from(v);
    auto& e = s.engine;
    e.delay = v.duration("delay");
    e.retry_window = v.duration("retry-window");
    e.max_age = v.duration("max-age");
    if (e.retry_window <= e.delay) throw v.error("retry-window", "must be longer than delay");
    if (e.max_age < e.retry_window) throw v.error("max-age", "must be at least retry-window");
    e.auto_whitelist_clients = static_cast<unsigned>(v.uint("auto-whitelist-clients"));
    e.ipv4_prefix = static_cast<unsigned>(v.uint("ipv4-prefix"));
    e.ipv6_prefix = static_cast<unsigned>(v.uint("ipv6-prefix"));
    auto store = parse_store_spec(v.str("store"));
    if (!store) throw v.error("store", "expected sqlite:/absolute/path, redis://[:PASSWORD@]host:port[/db] or unix:/path[?db=N]");
    s.store = *store;
    const auto& sync = v.str("sqlite-synchronous");
    if (sync == "full")
        s.sqlite_synchronous_full = true;
    else if (sync != "normal")
        throw v.error("sqlite-synchronous", "expected normal or full");
    s.sqlite_flush_interval = std::chrono::milliseconds(v.uint("sqlite-flush-ms"));
    s.whitelist_client_files = v.list("whitelist-clients");
    s.whitelist_recipient_files = v.list("whitelist-recipients");
    s.whitelist_clients = v.list("whitelist-client-entries");
    s.whitelist_recipients = v.list("whitelist-recipient-entries");
    for (const auto& n : v.list("no-auto-whitelist")) {
        auto net = util::IpNetwork::parse(n);
        if (!net) throw v.error("no-auto-whitelist", "not an address or network: '" + n + "'");
        e.no_auto_whitelist.push_back(*net);
    }
    for (const auto& p : v.list("no-auto-whitelist-senders")) {
        if (p.empty() || p == "@") throw v.error("no-auto-whitelist-senders", "empty sender pattern");
        e.no_auto_whitelist_senders.push_back(p);
    }
    s.greylist_text = v.str("greylist-text");
    s.greylist_action = v.str("greylist-action");
    {
        const auto& a = s.greylist_action;
        const bool code = a.size() == 3 && a[0] == '4' && std::isdigit(static_cast<unsigned char>(a[1])) != 0 &&
                          std::isdigit(static_cast<unsigned char>(a[2])) != 0;
        if (a != "DEFER_IF_PERMIT" && a != "DEFER" && !code)
            throw v.error("greylist-action", "expected DEFER_IF_PERMIT, DEFER or a 4NN code");
    }
    s.x_greylist_header = v.flag("x-greylist-header");
    s.hostname = v.str("hostname");
    if (s.hostname.empty()) {
        char host[256] = {};
        if (::gethostname(host, sizeof host - 1) == 0) s.hostname = host;
        if (s.hostname.empty()) s.hostname = "localhost";
    }
    e.spf_keying = v.flag("spf-keying");
    for (auto d : v.list("spf-skip-domains")) {
        for (auto& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        e.skip_domains.push_back(d);
    }
    s.spf_time_budget = v.duration("spf-time-budget");
    if (s.spf_time_budget.count() < 1 || s.spf_time_budget > std::chrono::seconds(60))
        throw v.error("spf-time-budget", "must be between 1s and 60s");
    s.spf_cache_size = static_cast<std::size_t>(v.uint("spf-cache-size"));
    s.dns_cache_size = static_cast<std::size_t>(v.uint("dns-cache-size"));
    e.sender_rules = grey::SenderRules{false, false, false, false};
    for (const auto& r : v.list("sender-normalise")) {
        if (r == "batv")
            e.sender_rules.strip_batv = true;
        else if (r == "srs")
            e.sender_rules.unwrap_srs = true;
        else if (r == "extension")
            e.sender_rules.strip_extension = true;
        else if (r == "verp")
            e.sender_rules.verp_numbers = true;
        else
            throw v.error("sender-normalise", "unknown rewrite '" + r + "' (batv, srs, extension, verp)");
    }
    e.skip_sasl = v.flag("skip-sasl");
    for (auto f : v.list("trusted-ccerts")) {
        for (auto& c : f) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        e.trusted_ccerts.push_back(f);
    }
    if (v.flag("privacy")) {
        s.privacy_key_file = v.str("privacy-key-file");
        if (s.privacy_key_file.empty()) throw v.error("privacy-key-file", "privacy needs a key file");
    }
    s.store_failure_action = v.str("store-failure-action");
    if (policy::Action::raw(s.store_failure_action).text().empty())
        throw v.error("store-failure-action", "empty action");
    s.sweep_interval = v.duration("sweep-interval");
    if (s.sweep_interval.count() < 1) throw v.error("sweep-interval", "must be at least 1s");
    s.max_connections = static_cast<std::size_t>(v.uint("max-connections"));
    s.idle_timeout = v.duration("idle-timeout");
    return s;
}

grey::ClientWhitelist load_client_whitelist(const Settings& s) {
    grey::ClientWhitelist w;
    for (const auto& f : s.whitelist_client_files) w.load_file(f);
    for (const auto& entry : s.whitelist_clients) {
        auto problem = w.add(entry);
        if (!problem.empty()) throw config::ConfigError("whitelist-client-entries: " + problem);
    }
    return w;
}

grey::RecipientWhitelist load_recipient_whitelist(const Settings& s) {
    grey::RecipientWhitelist w;
    for (const auto& f : s.whitelist_recipient_files) w.load_file(f);
    for (const auto& entry : s.whitelist_recipients) {
        auto problem = w.add(entry);
        if (!problem.empty()) throw config::ConfigError("whitelist-recipient-entries: " + problem);
    }
    return w;
}

std::string expand_text(std::string_view text, std::chrono::seconds remaining) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 1 < text.size()) {
            if (text[i + 1] == 'd' || text[i + 1] == 's') {  // %s: postgrey's spelling
                out += std::to_string(remaining.count());
                ++i;
                continue;
            }
            if (text[i + 1] == '%') {
                out += '%';
                ++i;
                continue;
            }
        }
        out += text[i];
    }
    return out;
}

}  // namespace mailmoat::greyd
