// common/store/redis_connection.cpp - Redis URL parsing, hiredis commands and pipelining, the backoff pool.
#include "common/store/redis_connection.hpp"

#include <signal.h>
#include <sys/time.h>

#include <algorithm>
#include <charconv>

namespace mailmoat::store {
namespace {

bool parse_unsigned(std::string_view s, unsigned& out) {
    if (s.empty()) return false;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

timeval to_timeval(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

/// "USER:PASSWORD@" or ":PASSWORD@" at the start of `rest`: fills and strips it.
void take_userinfo(std::string_view& rest, RedisEndpoint& e) {
    const auto at = rest.rfind('@');
    if (at == std::string_view::npos) return;
    const auto info = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = info.find(':');
    if (colon == std::string_view::npos) {
        e.password = std::string(info);  // "PASSWORD@": the old requirepass form
    } else {
        e.username = std::string(info.substr(0, colon));
        e.password = std::string(info.substr(colon + 1));
    }
}

}  // namespace

bool is_redis_url(std::string_view url) noexcept {
    return url.starts_with("redis://") || url.starts_with("unix:") || url.starts_with("redis+unix:");
}

std::optional<RedisEndpoint> parse_redis_url(std::string_view t) {
    RedisEndpoint e;
    if (t.starts_with("redis://")) {
        auto rest = t.substr(8);
        const auto slash = rest.find('/');
        if (slash != std::string_view::npos) {
            if (!parse_unsigned(rest.substr(slash + 1), e.db) || e.db > 15) return std::nullopt;
            rest = rest.substr(0, slash);
        }
        take_userinfo(rest, e);
        if (rest.starts_with("[")) {
            const auto close = rest.find(']');
            if (close == std::string_view::npos) return std::nullopt;
            e.host = std::string(rest.substr(1, close - 1));
            rest = rest.substr(close + 1);
            if (rest.starts_with(":")) {
                if (!parse_unsigned(rest.substr(1), e.port) || e.port == 0 || e.port > 65535) return std::nullopt;
            } else if (!rest.empty()) {
                return std::nullopt;
            }
        } else {
            const auto colon = rest.rfind(':');
            if (colon != std::string_view::npos) {
                if (!parse_unsigned(rest.substr(colon + 1), e.port) || e.port == 0 || e.port > 65535)
                    return std::nullopt;
                rest = rest.substr(0, colon);
            }
            e.host = std::string(rest);
        }
        if (e.host.empty()) return std::nullopt;
        return e;
    }
    std::string_view rest;
    if (t.starts_with("redis+unix:")) {
        rest = t.substr(11);
    } else if (t.starts_with("unix:")) {
        rest = t.substr(5);
    } else {
        return std::nullopt;
    }
    if (rest.starts_with("//")) {
        rest = rest.substr(2);
        const auto at = rest.find('@');
        if (at != std::string_view::npos && (rest.find('/') == std::string_view::npos || at < rest.find('/')))
            take_userinfo(rest, e);
    }
    const auto q = rest.find('?');
    auto path = rest.substr(0, q);
    if (path.empty() || path.front() != '/') return std::nullopt;
    e.unix_path = std::string(path);
    if (q != std::string_view::npos) {
        auto query = rest.substr(q + 1);
        while (!query.empty()) {
            const auto amp = query.find('&');
            const auto item = query.substr(0, amp);
            query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
            const auto eq = item.find('=');
            if (eq == std::string_view::npos) return std::nullopt;
            const auto key = item.substr(0, eq);
            const auto value = item.substr(eq + 1);
            if (key == "db") {
                if (!parse_unsigned(value, e.db) || e.db > 15) return std::nullopt;
            } else if (key == "password") {
                e.password = std::string(value);
            } else if (key == "username" || key == "user") {
                e.username = std::string(value);
            } else {
                return std::nullopt;
            }
        }
    }
    return e;
}

std::string RedisEndpoint::to_string() const {
    if (!unix_path.empty()) return "unix:" + unix_path + "?db=" + std::to_string(db);
    const bool v6 = host.find(':') != std::string::npos;
    return "redis://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" + std::to_string(db);
}

RedisReply RedisConnection::command(const std::vector<std::string>& args) {
    append(args);
    return reply();
}

void RedisConnection::append(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(ctx.get(), static_cast<int>(argv.size()), argv.data(), lens.data()) != REDIS_OK) {
        broken = true;
        throw RedisFailure{"redis: cannot queue a command (out of memory)"};
    }
}

RedisReply RedisConnection::reply() {
    void* raw = nullptr;
    if (redisGetReply(ctx.get(), &raw) != REDIS_OK || raw == nullptr) {
        broken = true;
        throw RedisFailure{std::string("redis: ") + (ctx->errstr[0] != '\0' ? ctx->errstr : "connection lost")};
    }
    RedisReply r(static_cast<redisReply*>(raw));
    if (r->type == REDIS_REPLY_ERROR) throw RedisFailure{"redis: " + std::string(r->str, r->len)};
    return r;
}

RedisPool::RedisPool(RedisOptions options, const util::Clock& clock) : options_(std::move(options)), clock_(clock) {
    // hiredis writes with write(2): a server that went away would kill the process with SIGPIPE
    // instead of failing the call. The daemons ignore SIGPIPE already; the command-line tool and
    // tests may not.
    struct sigaction old {};
    if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);
}

std::unique_ptr<RedisConnection> RedisPool::acquire(std::string& error) {
    const auto now = clock_.steady_now();
    bool may_connect = false;
    auto pooled = state_.with_lock([&](State& p) -> std::unique_ptr<RedisConnection> {
        if (!p.idle.empty()) {
            auto c = std::move(p.idle.back());
            p.idle.pop_back();
            return c;
        }
        may_connect = now >= p.retry_after;
        return nullptr;
    });
    if (pooled) return pooled;
    if (!may_connect) {
        error = "redis: " + describe() + " unreachable (waiting before reconnecting)";
        return nullptr;
    }
    auto c = std::make_unique<RedisConnection>();
    const auto tv = to_timeval(options_.timeout);
    c->ctx.reset(options_.unix_path.empty()
                     ? redisConnectWithTimeout(options_.host.c_str(), static_cast<int>(options_.port), tv)
                     : redisConnectUnixWithTimeout(options_.unix_path.c_str(), tv));
    try {
        if (!c->ctx) throw RedisFailure{"redis: out of memory"};
        if (c->ctx->err != 0) throw RedisFailure{"redis: " + describe() + ": " + c->ctx->errstr};
        if (redisSetTimeout(c->ctx.get(), tv) != REDIS_OK) throw RedisFailure{"redis: cannot set timeout"};
        if (!options_.password.empty()) {
            if (options_.username.empty())
                (void)c->command({"AUTH", options_.password});
            else
                (void)c->command({"AUTH", options_.username, options_.password});
        }
        if (options_.db != 0) (void)c->command({"SELECT", std::to_string(options_.db)});
    } catch (const RedisFailure& f) {
        state_.with_lock([&](State& p) {
            p.backoff = std::clamp(p.backoff * 2, options_.min_backoff, options_.max_backoff);
            p.retry_after = clock_.steady_now() + p.backoff;
        });
        error = f.message;
        return nullptr;
    }
    state_.with_lock([&](State& p) { p.backoff = std::chrono::milliseconds(0); });
    return c;
}

void RedisPool::release(std::unique_ptr<RedisConnection> c) {
    if (!c) return;
    if (c->broken) {
        // The server went away: drop every idle connection too (they are as dead) and back off.
        state_.with_lock([&](State& p) {
            p.idle.clear();
            p.backoff = std::clamp(p.backoff * 2, options_.min_backoff, options_.max_backoff);
            p.retry_after = clock_.steady_now() + p.backoff;
        });
        return;
    }
    state_.with_lock([&](State& p) {
        if (p.idle.size() < options_.max_idle_connections) p.idle.push_back(std::move(c));
    });
}

RedisLease::RedisLease(RedisPool& pool) : pool_(pool) {
    std::string error;
    c_ = pool.acquire(error);
    if (!c_) throw RedisFailure{error};
}

long long redis_int(const redisReply* r) noexcept {
    if (r == nullptr) return 0;
    if (r->type == REDIS_REPLY_INTEGER) return r->integer;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
        long long v = 0;
        std::from_chars(r->str, r->str + r->len, v);
        return v;
    }
    return 0;
}

std::string redis_string(const redisReply* r) {
    if (r == nullptr || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)) return {};
    return std::string(r->str, r->len);
}

}  // namespace mailmoat::store
