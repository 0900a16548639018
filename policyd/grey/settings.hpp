// policyd/grey/settings.hpp - mailmoat-grey settings: every key once, with default and help.
#pragma once
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/config/options.hpp"
#include "common/daemon/daemon.hpp"
#include "common/grey/greylister.hpp"
#include "common/grey/key_hasher.hpp"
#include "common/grey/whitelist.hpp"
#include "common/store/redis_connection.hpp"

namespace mailmoat::greyd {

/// Where entries live: "sqlite:/path/file.db" or a Redis URL (store::parse_redis_url).
struct StoreSpec {
    enum class Kind { sqlite, redis };
    Kind kind = Kind::sqlite;
    std::string path;             // sqlite
    store::RedisEndpoint redis;   // redis
    [[nodiscard]] std::string to_string() const;
};

/// Parses a store spec. Returns nullopt for anything else (a relative path, a bad Redis URL).
[[nodiscard]] std::optional<StoreSpec> parse_store_spec(std::string_view text);

struct Settings {
    daemon::CommonSettings common;
    grey::Config engine;
    StoreSpec store;
    bool sqlite_synchronous_full = false;
    std::chrono::milliseconds sqlite_flush_interval{20};
    std::chrono::seconds manual_refresh{2};  // how often manual whitelist entries are re-read
    std::vector<std::string> whitelist_client_files;
    std::vector<std::string> whitelist_recipient_files;
    std::vector<std::string> whitelist_clients;     // inline entries, same syntax as the files
    std::vector<std::string> whitelist_recipients;  // inline entries
    std::string greylist_text;                      // %d: remaining seconds, %% a percent sign
    std::string greylist_action;                    // DEFER_IF_PERMIT, DEFER, or a 4NN code
    bool x_greylist_header = true;
    std::string hostname;          // in X-Greylist
    std::string privacy_key_file;  // empty: keys in clear
    std::string store_failure_action;
    std::chrono::seconds sweep_interval{3600};
    std::chrono::milliseconds spf_time_budget{5000};
    std::size_t spf_cache_size = 10000;
    std::size_t dns_cache_size = 20000;
    std::size_t max_connections = 500;
    std::chrono::seconds idle_timeout{600};
};

/// The schema of mailmoat-grey (common daemon options plus the greylisting keys).
[[nodiscard]] config::Schema make_schema();

/// Builds Settings from parsed values. Throws config::ConfigError naming the key and its source.
[[nodiscard]] Settings build_settings(const config::Values& values);

/// Loads the whitelist files and inline entries. Throws config::ConfigError "FILE:LINE: problem".
[[nodiscard]] grey::ClientWhitelist load_client_whitelist(const Settings& s);
[[nodiscard]] grey::RecipientWhitelist load_recipient_whitelist(const Settings& s);

/// The greylisting text with %d replaced by the remaining seconds.
[[nodiscard]] std::string expand_text(std::string_view text, std::chrono::seconds remaining);

}  // namespace mailmoat::greyd
