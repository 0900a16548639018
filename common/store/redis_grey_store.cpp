// common/store/redis_grey_store.cpp - Redis greylist store: Lua scripts for atomic updates, TTL expiry, backoff.
#include "common/store/redis_grey_store.hpp"

#include <algorithm>
#include <tuple>

namespace mailmoat::store {
namespace {

// KEYS[1] entry; ARGV now, max_age, ttl. Returns {created, first, last, count, passed}.
constexpr const char* seen_lua =
    "local v = redis.call('HMGET', KEYS[1], 'f', 'l', 'c', 'p')\n"
    "if v[1] and tonumber(v[2]) >= tonumber(ARGV[1]) - tonumber(ARGV[2]) then\n"
    "  redis.call('HSET', KEYS[1], 'l', ARGV[1])\n"
    "  redis.call('HINCRBY', KEYS[1], 'c', 1)\n"
    "  redis.call('EXPIRE', KEYS[1], ARGV[3])\n"
    "  return {0, tonumber(v[1]), tonumber(v[2]), tonumber(v[3]), tonumber(v[4])}\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'f', ARGV[1], 'l', ARGV[1], 'c', 1, 'p', 0)\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[3])\n"
    "return {1, tonumber(ARGV[1]), tonumber(ARGV[1]), 1, 0}\n";

// KEYS[1] entry; ARGV now, passed (0/1), ttl. nil when absent.
constexpr const char* touch_lua =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return false end\n"
    "redis.call('HSET', KEYS[1], 'l', ARGV[1])\n"
    "redis.call('HINCRBY', KEYS[1], 'c', 1)\n"
    "if ARGV[2] == '1' then redis.call('HSET', KEYS[1], 'p', 1) end\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[3])\n"
    "local v = redis.call('HMGET', KEYS[1], 'f', 'l', 'c', 'p')\n"
    "return {0, tonumber(v[1]), tonumber(v[2]), tonumber(v[3]), tonumber(v[4])}\n";

// KEYS[1] entry. nil when absent.
constexpr const char* pass_lua =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return false end\n"
    "redis.call('HSET', KEYS[1], 'p', 1)\n"
    "local v = redis.call('HMGET', KEYS[1], 'f', 'l', 'c', 'p')\n"
    "return {0, tonumber(v[1]), tonumber(v[2]), tonumber(v[3]), tonumber(v[4])}\n";

// KEYS[1] entry; ARGV now, ttl. nil when absent.
constexpr const char* restart_lua =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return false end\n"
    "redis.call('HSET', KEYS[1], 'f', ARGV[1], 'l', ARGV[1], 'c', 1, 'p', 0)\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[2])\n"
    "return {0, tonumber(ARGV[1]), tonumber(ARGV[1]), 1, 0}\n";

// KEYS[1] client; ARGV now, at_least, ttl. Returns {last, count}.
constexpr const char* add_client_lua =
    "local c = redis.call('HINCRBY', KEYS[1], 'c', 1)\n"
    "local m = tonumber(ARGV[2])\n"
    "if c < m then redis.call('HSET', KEYS[1], 'c', m); c = m end\n"
    "redis.call('HSET', KEYS[1], 'l', ARGV[1])\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[3])\n"
    "return {tonumber(ARGV[1]), c}\n";


}  // namespace

RedisGreyStore::RedisGreyStore(RedisOptions options, const util::Clock& clock)
    : options_(options), pool_(std::move(options), clock) {}
RedisGreyStore::~RedisGreyStore() = default;

std::string RedisGreyStore::describe() const { return pool_.describe(); }

namespace {

template <class R, class Fn>
R guarded(Fn&& body) {
    try {
        return body();
    } catch (const RedisFailure& f) {
        R r;
        r.status = Status::tempfail;
        r.error = f.message;
        return r;
    }
}

/// An entry from its four stored fields: first, last, count, passed (an HMGET or a script's reply).
Entry entry_from_fields(std::string_view key, redisReply* const* f) {
    Entry e;
    e.key = std::string(key);
    e.first_seen = from_unix(redis_int(f[0]));
    e.last_seen = from_unix(redis_int(f[1]));
    e.count = static_cast<std::uint64_t>(redis_int(f[2]));
    e.passed = redis_int(f[3]) != 0;
    return e;
}

/// A client counter from its two stored fields: last, count.
ClientEntry client_from_fields(std::string_view client, redisReply* const* f) {
    ClientEntry e;
    e.client = std::string(client);
    e.last_seen = from_unix(redis_int(f[0]));
    e.count = static_cast<std::uint64_t>(redis_int(f[1]));
    return e;
}

EntryResult entry_from(const redisReply* r, std::string_view key) {
    EntryResult out;
    if (r->type == REDIS_REPLY_NIL) {
        out.status = Status::not_found;
        return out;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 5) throw RedisFailure{"redis: unexpected script reply"};
    out.status = Status::ok;
    out.created = redis_int(r->element[0]) == 1;
    out.entry = entry_from_fields(key, r->element + 1);
    return out;
}

}  // namespace

EntryResult RedisGreyStore::seen(std::string_view key, TimePoint now, std::chrono::seconds max_age) {
    return guarded<EntryResult>([&] {
        RedisLease lease(pool_);
        auto r = (*lease).command({"EVAL", seen_lua, "1", options_.prefix + "e:" + std::string(key),
                                   std::to_string(to_unix(now)), std::to_string(max_age.count()),
                                   std::to_string(options_.ttl.count())});
        return entry_from(r.get(), key);
    });
}

EntryResult RedisGreyStore::touch(std::string_view key, TimePoint now, bool passed) {
    return guarded<EntryResult>([&] {
        RedisLease lease(pool_);
        auto r =
            (*lease).command({"EVAL", touch_lua, "1", options_.prefix + "e:" + std::string(key),
                              std::to_string(to_unix(now)), passed ? "1" : "0", std::to_string(options_.ttl.count())});
        return entry_from(r.get(), key);
    });
}

EntryResult RedisGreyStore::set_passed(std::string_view key) {
    return guarded<EntryResult>([&] {
        RedisLease lease(pool_);
        auto r = (*lease).command({"EVAL", pass_lua, "1", options_.prefix + "e:" + std::string(key)});
        return entry_from(r.get(), key);
    });
}

EntryResult RedisGreyStore::restart(std::string_view key, TimePoint now) {
    return guarded<EntryResult>([&] {
        RedisLease lease(pool_);
        auto r = (*lease).command({"EVAL", restart_lua, "1", options_.prefix + "e:" + std::string(key),
                                   std::to_string(to_unix(now)), std::to_string(options_.ttl.count())});
        return entry_from(r.get(), key);
    });
}

ClientResult RedisGreyStore::client(std::string_view client, TimePoint now, std::chrono::seconds max_age) {
    return guarded<ClientResult>([&] {
        RedisLease lease(pool_);
        auto r = (*lease).command({"HMGET", options_.prefix + "c:" + std::string(client), "l", "c"});
        ClientResult out;
        out.status = Status::not_found;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type != REDIS_REPLY_NIL) {
            if (redis_int(r->element[0]) >= to_unix(now) - max_age.count()) {
                out.status = Status::ok;
                out.client = client_from_fields(client, r->element);
            }
        }
        return out;
    });
}

ClientResult RedisGreyStore::add_client_pass(std::string_view client, TimePoint now, std::uint64_t at_least) {
    return guarded<ClientResult>([&] {
        RedisLease lease(pool_);
        auto r = (*lease).command({"EVAL", add_client_lua, "1", options_.prefix + "c:" + std::string(client),
                                   std::to_string(to_unix(now)), std::to_string(at_least),
                                   std::to_string(options_.ttl.count())});
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) throw RedisFailure{"redis: unexpected script reply"};
        ClientResult out;
        out.status = Status::ok;
        out.client = client_from_fields(client, r->element);
        return out;
    });
}

CountResult RedisGreyStore::expire(TimePoint) {
    CountResult r;
    r.status = Status::ok;
    return r;
}

ListResult RedisGreyStore::list(std::string_view substring, std::size_t limit) {
    return guarded<ListResult>([&] {
        RedisLease lease(pool_);
        auto& c = *lease;
        ListResult out;
        out.status = Status::ok;
        for (const char* kind : {"e:", "c:"}) {
            const auto prefix = options_.prefix + kind;
            std::string cursor = "0";
            std::size_t found = 0;
            do {
                auto r = c.command({"SCAN", cursor, "MATCH", prefix + "*", "COUNT", "1000"});
                if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) throw RedisFailure{"redis: unexpected SCAN reply"};
                cursor = std::string(r->element[0]->str, r->element[0]->len);
                const auto* keys = r->element[1];
                for (std::size_t i = 0; i < keys->elements && found < limit; ++i) {
                    const std::string full(keys->element[i]->str, keys->element[i]->len);
                    const auto key = full.substr(prefix.size());
                    if (key.find(substring) == std::string::npos) continue;
                    if (kind[0] == 'e') {
                        auto v = c.command({"HMGET", full, "f", "l", "c", "p"});
                        if (v->type != REDIS_REPLY_ARRAY || v->elements != 4 || v->element[0]->type == REDIS_REPLY_NIL)
                            continue;
                        out.entries.push_back(entry_from_fields(key, v->element));
                    } else {
                        auto v = c.command({"HMGET", full, "l", "c"});
                        if (v->type != REDIS_REPLY_ARRAY || v->elements != 2 || v->element[0]->type == REDIS_REPLY_NIL)
                            continue;
                        out.clients.push_back(client_from_fields(key, v->element));
                    }
                    ++found;
                }
            } while (cursor != "0" && found < limit);
        }
        std::sort(out.entries.begin(), out.entries.end(),
                  [](const Entry& a, const Entry& b) { return a.first_seen < b.first_seen; });
        return out;
    });
}

CountResult RedisGreyStore::remove(std::string_view key, bool client) {
    return guarded<CountResult>([&] {
        RedisLease lease(pool_);
        auto r = (*lease).command({"DEL", options_.prefix + (client ? "c:" : "e:") + std::string(key)});
        CountResult out;
        out.count = static_cast<std::uint64_t>(redis_int(r.get()));
        out.status = out.count > 0 ? Status::ok : Status::not_found;
        return out;
    });
}

CountResult RedisGreyStore::add_manual(std::string_view kind, std::string_view value, TimePoint now) {
    return guarded<CountResult>([&] {
        RedisLease lease(pool_);
        (void)(*lease).command(
            {"HSET", options_.prefix + "manual", std::string(kind) + ":" + std::string(value), std::to_string(to_unix(now))});
        CountResult out;
        out.status = Status::ok;
        out.count = 1;
        return out;
    });
}

CountResult RedisGreyStore::remove_manual(std::string_view kind, std::string_view value) {
    return guarded<CountResult>([&] {
        RedisLease lease(pool_);
        auto r = (*lease).command({"HDEL", options_.prefix + "manual", std::string(kind) + ":" + std::string(value)});
        CountResult out;
        out.count = static_cast<std::uint64_t>(redis_int(r.get()));
        out.status = out.count > 0 ? Status::ok : Status::not_found;
        return out;
    });
}

ManualResult RedisGreyStore::manual() {
    return guarded<ManualResult>([&] {
        RedisLease lease(pool_);
        auto r = (*lease).command({"HGETALL", options_.prefix + "manual"});
        if (r->type != REDIS_REPLY_ARRAY) throw RedisFailure{"redis: unexpected HGETALL reply"};
        ManualResult out;
        out.status = Status::ok;
        for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
            const std::string field(r->element[i]->str, r->element[i]->len);
            const auto colon = field.find(':');
            if (colon == std::string::npos) continue;
            out.entries.push_back(
                ManualEntry{field.substr(0, colon), field.substr(colon + 1), from_unix(redis_int(r->element[i + 1]))});
        }
        std::sort(out.entries.begin(), out.entries.end(), [](const ManualEntry& a, const ManualEntry& b) {
            return std::tie(a.kind, a.value) < std::tie(b.kind, b.value);
        });
        return out;
    });
}

}  // namespace mailmoat::store
