// common/store/dmarc_store_factory.hpp - opening the DMARC store a `store = URL` setting names: the URL
// scheme chooses SQLite (embedded, the default) or Redis (shared by several MX hosts).
#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/store/dmarc_report_store.hpp"
#include "common/store/redis_connection.hpp"
#include "common/store/sqlite_grey_store.hpp"  // SqliteOptions, StoreError

namespace mailmoat::store {

struct DmarcStoreSpec {
    enum class Kind { none, sqlite, redis };
    Kind kind = Kind::none;
    std::string path;     // sqlite: absolute path
    RedisEndpoint redis;  // redis
};

/// Parses "none", "sqlite:/abs/path" (also "sqlite:///abs/path") or a Redis URL (parse_redis_url:
/// redis://[[USER]:PASSWORD@]HOST[:PORT][/DB], unix:/PATH[?db=N&password=P]). With `bare_paths`, a
/// plain "/abs/path" or "relative.db" is a SQLite file too (the command line). Returns nullopt for
/// anything else: an unknown scheme, an empty or (without bare_paths) relative path, a bad Redis URL.
[[nodiscard]] std::optional<DmarcStoreSpec> parse_dmarc_store_url(std::string_view url, bool bare_paths = false);

struct DmarcStoreTuning {
    std::chrono::milliseconds timeout{500};                 // Redis connect/command timeout
    std::chrono::seconds ttl{std::chrono::hours(40 * 24)};  // Redis: keys expire this long after the last write
    std::chrono::milliseconds busy_timeout{2000};           // SQLite: wait this long for a lock
    bool synchronous_full = false;                          // SQLite: fsync every commit
};

/// Opens the store. nullptr for Kind::none. Throws StoreError when a SQLite file cannot be opened or
/// created; a Redis store opens lazily (an unreachable server is a tempfail of each call).
[[nodiscard]] std::shared_ptr<DmarcFullStore> open_dmarc_store(const DmarcStoreSpec& spec,
                                                               const DmarcStoreTuning& tuning = {});

}  // namespace mailmoat::store
