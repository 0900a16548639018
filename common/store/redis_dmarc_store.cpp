// common/store/redis_dmarc_store.cpp - Redis DMARC store: per-domain per-day record lists, pipelined group
// commit, Lua/SET NX for the steps two report runs must not both take.
#include "common/store/redis_dmarc_store.hpp"

#include <algorithm>
#include <exception>
#include <map>
#include <set>

#include "common/store/record_text.hpp"

namespace mailmoat::store {
namespace {

constexpr std::int64_t day_seconds = 86400;

std::int64_t day_of(std::int64_t t) {
    return t >= 0 ? t / day_seconds : -((-t + day_seconds - 1) / day_seconds);
}

// KEYS[1] claim; ARGV owner, lease seconds, stale owner (may be empty). Returns {claimed 0/1, holder}.
constexpr const char* claim_lua =
    "local v = redis.call('GET', KEYS[1])\n"
    "if (not v) or v == ARGV[1] or (ARGV[3] ~= '' and v == ARGV[3]) then\n"
    "  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])\n"
    "  return {1, ARGV[1]}\n"
    "end\n"
    "return {0, v}\n";

// KEYS[1] claim; ARGV owner. 1 when released.
constexpr const char* release_lua =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

// KEYS[1] pe:DOMAIN, KEYS[2] period:DOMAIN:BEGIN; ARGV end, id, messages, now, ttl.
constexpr const char* close_lua =
    "redis.call('HSET', KEYS[2], 'end', ARGV[1], 'id', ARGV[2], 'messages', ARGV[3], 'time', ARGV[4])\n"
    "redis.call('EXPIRE', KEYS[2], ARGV[5])\n"
    "local cur = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1]) end\n"
    "return 1\n";

// KEYS[1] report, KEYS[2] reps:DOMAIN, KEYS[3] reps; ARGV text, end. 1 added, 0 duplicate.
constexpr const char* add_report_lua =
    "if redis.call('SET', KEYS[1], ARGV[1], 'NX') then\n"
    "  redis.call('ZADD', KEYS[2], ARGV[2], KEYS[1])\n"
    "  redis.call('ZADD', KEYS[3], ARGV[2], KEYS[1])\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

template <class R, class Fn>
R guarded(Fn&& body, R failed) {
    try {
        return body();
    } catch (const RedisFailure& f) {
        failed.error = f.message;
        return failed;
    }
}

Status guarded_status(const auto& body) {
    try {
        return body();
    } catch (const RedisFailure&) {
        return Status::tempfail;
    }
}

std::vector<std::string> strings_of(const redisReply* r) {
    std::vector<std::string> out;
    if (r == nullptr || r->type != REDIS_REPLY_ARRAY) return out;
    for (std::size_t i = 0; i < r->elements; ++i) out.push_back(redis_string(r->element[i]));
    return out;
}

std::vector<std::int64_t> days_in(RedisConnection& c, const std::string& zset, std::int64_t first, std::int64_t last) {
    auto r = c.command({"ZRANGEBYSCORE", zset, std::to_string(first), std::to_string(last)});
    std::vector<std::int64_t> out;
    for (const auto& s : strings_of(r.get())) {
        std::int64_t d = 0;
        try {
            d = std::stoll(s);
        } catch (const std::exception&) {
            continue;
        }
        out.push_back(d);
    }
    std::sort(out.begin(), out.end());
    return out;
}

/// Every element of a list, read in chunks.
std::vector<std::string> whole_list(RedisConnection& c, const std::string& key) {
    std::vector<std::string> out;
    constexpr long long chunk = 10000;
    for (long long start = 0;; start += chunk) {
        auto r = c.command({"LRANGE", key, std::to_string(start), std::to_string(start + chunk - 1)});
        auto part = strings_of(r.get());
        const auto n = part.size();
        for (auto& s : part) out.push_back(std::move(s));
        if (n < static_cast<std::size_t>(chunk)) break;
    }
    return out;
}

}  // namespace

RedisDmarcStore::RedisDmarcStore(RedisDmarcOptions options, const util::Clock& clock)
    : options_(options), pool_(std::move(options), clock), commit_(options_.max_batch, options_.max_pending) {}

RedisDmarcStore::~RedisDmarcStore() = default;

std::string RedisDmarcStore::key(std::string_view kind, std::string_view rest) const {
    std::string k = options_.prefix;
    k += kind;
    k += rest;
    return k;
}

RecordResult RedisDmarcStore::add(const dmarc::ReportRecord& r) {
    std::vector<GroupCommit::Entry> mine(1);
    mine.front().record = &r;
    std::size_t waiting = 0;
    if (!commit_.commit(mine, [this](const std::vector<GroupCommit::Entry*>& batch) { write_batch(batch); }, waiting))
        return {Status::tempfail, "redis: " + describe() + ": " + std::to_string(waiting) + " records waiting"};
    return std::move(mine.front().result);
}

void RedisDmarcStore::write_batch(const std::vector<GroupCommit::Entry*>& batch) {
    // One RPUSH per (domain, day) and the index updates, in one MULTI/EXEC: all of the batch or none.
    std::map<std::pair<std::string, std::int64_t>, std::vector<std::string>> groups;
    for (auto* p : batch)
        groups[{p->record->policy.domain, day_of(p->record->time)}].push_back(text::encode_record(*p->record));
    try {
        RedisLease c(pool_);
        const auto ttl = std::to_string(options_.ttl.count());
        std::size_t queued = 0;
        c->append({"MULTI"});
        for (auto& [g, encoded] : groups) {
            const auto& [domain, day] = g;
            const auto d = std::to_string(day);
            std::vector<std::string> push{"RPUSH", key("r:", domain + ":" + d)};
            for (auto& e : encoded) push.push_back(std::move(e));
            c->append(push);
            c->append({"EXPIRE", key("r:", domain + ":" + d), ttl});
            c->append({"ZADD", key("rd:", domain), d, d});
            c->append({"EXPIRE", key("rd:", domain), ttl});
            c->append({"SADD", key("dd:", d), domain});
            c->append({"EXPIRE", key("dd:", d), ttl});
            c->append({"ZADD", key("days", ""), d, d});
            queued += 7;
        }
        c->append({"EXEC"});
        // Every reply is read, also after an error one: a connection with replies left unread must
        // never go back to the pool. An error for MULTI (NOAUTH) or a queued command (a wrong-type key)
        // makes Redis refuse the EXEC too.
        std::string first_error;
        RedisReply exec;
        for (std::size_t i = 0; i < queued + 2; ++i) {
            try {
                auto r = c->reply();
                if (i == queued + 1) exec = std::move(r);
            } catch (const RedisFailure& f) {
                if (c->broken) throw;
                if (first_error.empty()) first_error = f.message;
            }
        }
        if (!first_error.empty()) throw RedisFailure{first_error};
        if (!exec || exec->type != REDIS_REPLY_ARRAY) throw RedisFailure{"redis: transaction aborted"};
        for (std::size_t i = 0; i < exec->elements; ++i)
            if (exec->element[i]->type == REDIS_REPLY_ERROR)
                throw RedisFailure{"redis: " + std::string(exec->element[i]->str, exec->element[i]->len)};
    } catch (const RedisFailure& f) {
        for (auto* p : batch) p->result = {Status::tempfail, f.message};
    }
}

RecordsResult RedisDmarcStore::records(const std::string& policy_domain, std::int64_t from, std::int64_t until,
                                       std::size_t limit) {
    return guarded(
        [&] {
            RecordsResult out;
            if (until <= from || limit == 0) return out;
            RedisLease c(pool_);
            const auto first = day_of(from);
            const auto last = day_of(until - 1);
            const bool all = policy_domain.empty();
            const auto days = days_in(*c, all ? key("days", "") : key("rd:", policy_domain), first, last);
            for (const auto day : days) {
                std::vector<std::string> domains{policy_domain};
                if (all) {
                    auto m = c->command({"SMEMBERS", key("dd:", std::to_string(day))});
                    domains = strings_of(m.get());
                    std::sort(domains.begin(), domains.end());
                }
                std::vector<dmarc::ReportRecord> got;
                for (const auto& d : domains) {
                    for (const auto& e : whole_list(*c, key("r:", d + ":" + std::to_string(day)))) {
                        dmarc::ReportRecord r;
                        if (!text::decode_record(e, r)) continue;  // not ours: skipped, never fatal
                        if (r.time < from || r.time >= until) continue;
                        got.push_back(std::move(r));
                    }
                }
                std::stable_sort(
                    got.begin(), got.end(),
                    [](const dmarc::ReportRecord& a, const dmarc::ReportRecord& b) { return a.time < b.time; });
                for (auto& r : got) {
                    if (out.records.size() >= limit) break;
                    out.records.push_back(std::move(r));
                }
                if (out.records.size() >= limit) break;
            }
            return out;
        },
        RecordsResult{Status::tempfail, {}, {}});
}

DomainsResult RedisDmarcStore::record_domains(std::int64_t from, std::int64_t until) {
    auto out = guarded(
        [&] {
            DomainsResult res;
            if (until <= from) return res;
            std::set<std::string> sure, maybe;
            {
                RedisLease c(pool_);
                for (const auto day : days_in(*c, key("days", ""), day_of(from), day_of(until - 1))) {
                    auto m = c->command({"SMEMBERS", key("dd:", std::to_string(day))});
                    // A day wholly inside [from, until) surely has records in range; a boundary day only may.
                    const bool whole = day * day_seconds >= from && (day + 1) * day_seconds <= until;
                    for (auto& d : strings_of(m.get()))
                        if (!d.empty()) (whole ? sure : maybe).insert(std::move(d));
                }
            }
            for (const auto& d : maybe) {
                if (sure.count(d)) continue;
                const auto r = records(d, from, until, 1);
                if (r.status == Status::tempfail) throw RedisFailure{r.error};
                if (!r.records.empty()) sure.insert(d);
            }
            res.domains.assign(sure.begin(), sure.end());
            return res;
        },
        DomainsResult{Status::tempfail, {}, {}});
    return out;
}

TimeResult RedisDmarcStore::last_period_end(const std::string& domain) {
    return guarded(
        [&] {
            RedisLease c(pool_);
            auto r = c->command({"GET", key("pe:", domain)});
            if (r->type == REDIS_REPLY_NIL) return TimeResult{Status::not_found, {}, 0};
            return TimeResult{Status::ok, {}, redis_int(r.get())};
        },
        TimeResult{Status::tempfail, {}, 0});
}

Status RedisDmarcStore::destination_settled(const std::string& domain, std::int64_t begin,
                                            const std::string& destination) {
    return guarded_status([&] {
        RedisLease c(pool_);
        auto r = c->command({"EXISTS", key("sent:", domain + ":" + std::to_string(begin) + ":" + destination)});
        return redis_int(r.get()) > 0 ? Status::ok : Status::not_found;
    });
}

ClaimResult RedisDmarcStore::claim_destination(const std::string& domain, std::int64_t begin,
                                               const std::string& destination, const std::string& owner, std::int64_t,
                                               std::int64_t lease, const std::string& stale_owner) {
    return guarded(
        [&] {
            RedisLease c(pool_);
            auto r = c->command({"EVAL", claim_lua, "1",
                                 key("claim:", domain + ":" + std::to_string(begin) + ":" + destination), owner,
                                 std::to_string(std::max<std::int64_t>(lease, 1)), stale_owner});
            if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) throw RedisFailure{"redis: unexpected script reply"};
            return ClaimResult{redis_int(r->element[0]) == 1 ? ClaimOutcome::claimed : ClaimOutcome::taken,
                               redis_string(r->element[1]),
                               {}};
        },
        ClaimResult{ClaimOutcome::tempfail, {}, {}});
}

Status RedisDmarcStore::release_destination(const std::string& domain, std::int64_t begin,
                                            const std::string& destination, const std::string& owner) {
    return guarded_status([&] {
        RedisLease c(pool_);
        auto r = c->command(
            {"EVAL", release_lua, "1", key("claim:", domain + ":" + std::to_string(begin) + ":" + destination), owner});
        return redis_int(r.get()) > 0 ? Status::ok : Status::not_found;
    });
}

Status RedisDmarcStore::settle_destination(const std::string& domain, std::int64_t begin, std::int64_t end,
                                           const std::string& destination, DeliveryState state,
                                           const std::string& report_id, std::int64_t now) {
    return guarded_status([&] {
        RedisLease c(pool_);
        const auto k = key("sent:", domain + ":" + std::to_string(begin) + ":" + destination);
        c->append({"MULTI"});
        c->append({"HSET", k, "state", delivery_state_name(state), "id", report_id, "end", std::to_string(end), "time",
                   std::to_string(now)});
        c->append({"EXPIRE", k, std::to_string(options_.ttl.count())});
        c->append({"EXEC"});
        bool failed = false;
        for (int i = 0; i < 4; ++i) {
            try {
                auto r = c->reply();
                if (i == 3 && r->type != REDIS_REPLY_ARRAY) failed = true;
            } catch (const RedisFailure&) {
                if (c->broken) throw;
                failed = true;  // keep reading: no reply may be left on the connection
            }
        }
        return failed ? Status::tempfail : Status::ok;
    });
}

Status RedisDmarcStore::close_period(const std::string& domain, std::int64_t begin, std::int64_t end,
                                     const std::string& report_id, std::uint64_t messages, std::int64_t now) {
    return guarded_status([&] {
        RedisLease c(pool_);
        (void)c->command({"EVAL", close_lua, "2", key("pe:", domain),
                          key("period:", domain + ":" + std::to_string(begin)), std::to_string(end), report_id,
                          std::to_string(messages), std::to_string(now), std::to_string(options_.ttl.count())});
        return Status::ok;
    });
}

CountResult64 RedisDmarcStore::prune(std::int64_t before) {
    return guarded(
        [&] {
            CountResult64 out;
            RedisLease c(pool_);
            std::map<std::string, std::int64_t> closed;  // domain -> end of its last closed period
            for (const auto day : days_in(*c, key("days", ""), INT32_MIN, INT32_MAX)) {
                const auto d = std::to_string(day);
                if ((day + 1) * day_seconds > before) break;
                auto m = c->command({"SMEMBERS", key("dd:", d)});
                for (const auto& domain : strings_of(m.get())) {
                    if (domain.empty()) continue;  // no policy, never reported: left to the TTL
                    auto it = closed.find(domain);
                    if (it == closed.end()) {
                        auto pe = c->command({"GET", key("pe:", domain)});
                        it = closed.emplace(domain, pe->type == REDIS_REPLY_NIL ? 0 : redis_int(pe.get())).first;
                    }
                    // Only a day wholly covered by a closed period goes: an unreported record is never lost.
                    if ((day + 1) * day_seconds > it->second) continue;
                    const auto list = key("r:", domain + ":" + d);
                    auto n = c->command({"LLEN", list});
                    out.count += static_cast<std::uint64_t>(std::max(0LL, redis_int(n.get())));
                    (void)c->command({"DEL", list});
                    (void)c->command({"ZREM", key("rd:", domain), d});
                    (void)c->command({"SREM", key("dd:", d), domain});
                }
                auto left = c->command({"SCARD", key("dd:", d)});
                if (redis_int(left.get()) == 0) (void)c->command({"ZREM", key("days", ""), d});
            }
            return out;
        },
        CountResult64{Status::tempfail, {}, 0});
}

IngestResult RedisDmarcStore::add_report(const dmarc_report::AggregateReport& r, std::int64_t) {
    try {
        RedisLease c(pool_);
        const auto& m = r.metadata;
        const auto k = key("rep:", std::to_string(m.org_name.size()) + ":" + m.org_name + ":" + m.report_id);
        auto res = c->command({"EVAL", add_report_lua, "3", k, key("reps:", r.policy.domain), key("reps", ""),
                               text::encode_report(r), std::to_string(m.end)});
        return {redis_int(res.get()) == 1 ? IngestOutcome::added : IngestOutcome::duplicate, {}};
    } catch (const RedisFailure& f) {
        return {IngestOutcome::tempfail, f.message};
    }
}

ReportsResult RedisDmarcStore::reports(const std::string& domain, std::int64_t since, std::size_t limit) {
    return guarded(
        [&] {
            ReportsResult out;
            RedisLease c(pool_);
            auto idx = c->command({"ZRANGEBYSCORE", domain.empty() ? key("reps", "") : key("reps:", domain),
                                   "(" + std::to_string(since), "+inf"});
            const auto keys = strings_of(idx.get());
            constexpr std::size_t chunk = 200;
            for (std::size_t i = 0; i < keys.size(); i += chunk) {
                std::vector<std::string> mget{"MGET"};
                for (std::size_t j = i; j < std::min(keys.size(), i + chunk); ++j) mget.push_back(keys[j]);
                auto got = c->command(mget);
                for (const auto& t : strings_of(got.get())) {
                    dmarc_report::AggregateReport rep;
                    if (text::decode_report(t, rep)) out.reports.push_back(std::move(rep));
                }
            }
            std::stable_sort(out.reports.begin(), out.reports.end(),
                             [](const auto& a, const auto& b) { return a.metadata.begin < b.metadata.begin; });
            if (out.reports.size() > limit) out.reports.resize(limit);
            return out;
        },
        ReportsResult{Status::tempfail, {}, {}});
}

}  // namespace mailmoat::store
