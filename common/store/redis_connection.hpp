// common/store/redis_connection.hpp - what every Redis-backed store shares: the URL syntax, a hiredis
// connection with per-command timeout, and a small pool that backs off while the server is down.
#pragma once
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/store/redis_handles.hpp"
#include "common/util/clock.hpp"
#include "common/util/lock_guarded.hpp"

namespace mailmoat::store {

/// Where a Redis server is: TCP host:port or a unix socket, database number, optional AUTH.
struct RedisEndpoint {
    std::string host = "127.0.0.1";
    unsigned port = 6379;
    std::string unix_path;  // non-empty: connect to this socket instead of host:port
    unsigned db = 0;
    std::string username;  // Redis 6 ACL user; empty: AUTH with the password alone
    std::string password;  // empty: no AUTH
    /// The URL without the password ("redis://h:p/db", "unix:/path?db=N"), for logs and describe().
    [[nodiscard]] std::string to_string() const;
};

/// Parses the Redis URL forms every mailmoat store accepts:
///   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]     (HOST may be [IPv6])
///   unix:/PATH[?db=N][&password=P]                 (also unix:///PATH and redis+unix:/PATH)
/// DB is 0..15. Returns nullopt for anything else (empty host, port 0 or > 65535, a relative socket
/// path, an unknown query parameter). Percent escapes are not decoded (passwords with '@' or '/' do
/// not fit in a URL: use requirepass without them).
[[nodiscard]] std::optional<RedisEndpoint> parse_redis_url(std::string_view url);

/// Whether `url` starts with one of the Redis schemes (redis://, unix:, redis+unix:).
[[nodiscard]] bool is_redis_url(std::string_view url) noexcept;

struct RedisOptions : RedisEndpoint {
    std::string prefix = "mmgrey:";               // key namespace, so one Redis can serve others too
    std::chrono::seconds ttl{35 * 24 * 3600};     // every write sets this TTL: Redis expires old entries
    std::chrono::milliseconds timeout{500};       // connect and per-command timeout
    std::chrono::milliseconds min_backoff{100};   // after a failure, no new connection attempt before this
    std::chrono::milliseconds max_backoff{5000};  // doubling up to this
    std::size_t max_idle_connections = 8;
};

/// A failure inside a store call (lost connection, error reply, unexpected reply): the store turns it
/// into Status::tempfail with this message.
struct RedisFailure {
    std::string message;
};

/// One hiredis connection.
struct RedisConnection {
    RedisContext ctx;
    bool broken = false;

    /// Runs one command; throws RedisFailure on a lost connection (marking it broken) or an error reply.
    RedisReply command(const std::vector<std::string>& args);
    /// Pipelining: queues a command without waiting (throws RedisFailure when out of memory) ...
    void append(const std::vector<std::string>& args);
    /// ... and reads the next reply (throws like command()).
    RedisReply reply();
};

/// Connections to one server. acquire() hands out an idle connection or opens one (connect, AUTH,
/// SELECT, all bounded by the timeout); after a failure no connection is attempted before the backoff
/// has passed, so while the server is down every call fails at once. Constructing one makes the
/// process ignore SIGPIPE when it had the default action (a lost server must fail a call, not kill).
class RedisPool {
public:
    explicit RedisPool(RedisOptions options, const util::Clock& clock = util::SystemClock::instance());
    RedisPool(const RedisPool&) = delete;
    RedisPool& operator=(const RedisPool&) = delete;

    /// A connection, or nullptr with `error` set.
    std::unique_ptr<RedisConnection> acquire(std::string& error);
    /// Returns a connection; a broken one is dropped with every idle one, and the backoff starts.
    void release(std::unique_ptr<RedisConnection> c);
    [[nodiscard]] const RedisOptions& options() const noexcept { return options_; }
    [[nodiscard]] std::string describe() const { return options_.to_string(); }

private:
    RedisOptions options_;
    const util::Clock& clock_;
    struct State {
        std::vector<std::unique_ptr<RedisConnection>> idle;
        std::chrono::steady_clock::time_point retry_after{};
        std::chrono::milliseconds backoff{0};
    };
    util::LockGuarded<State> state_;
};

/// A connection borrowed from a pool for one call; throws RedisFailure when none can be had.
class RedisLease {
public:
    explicit RedisLease(RedisPool& pool);
    RedisLease(const RedisLease&) = delete;
    RedisLease& operator=(const RedisLease&) = delete;
    ~RedisLease() { pool_.release(std::move(c_)); }
    RedisConnection& operator*() const noexcept { return *c_; }
    RedisConnection* operator->() const noexcept { return c_.get(); }

private:
    RedisPool& pool_;
    std::unique_ptr<RedisConnection> c_;
};

/// An integer from an integer or numeric string reply; 0 for anything else.
[[nodiscard]] long long redis_int(const redisReply* r) noexcept;
/// A string reply's text; empty for anything else.
[[nodiscard]] std::string redis_string(const redisReply* r);

}  // namespace mailmoat::store
