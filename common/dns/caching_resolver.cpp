// common/dns/caching_resolver.cpp - sharded LRU answer cache with TTL ageing on an injected clock.
#include "common/dns/caching_resolver.hpp"

#include <algorithm>
#include <functional>
#include <optional>
#include <stdexcept>
#include <utility>

#include "common/dns/ldns_resolver.hpp"

namespace mailmoat::dns {

namespace {

/// Small caches get one shard so the bound and LRU order are exact; large ones spread the lock.
std::size_t shard_count(std::size_t max_entries) {
    return std::clamp<std::size_t>(max_entries / 256, 1, 16);
}

}  // namespace

std::size_t CachingResolver::KeyHash::operator()(const Key& k) const noexcept {
    return std::hash<std::string>{}(k.name) * 31 + static_cast<std::size_t>(k.type);
}

CachingResolver::CachingResolver(std::shared_ptr<Resolver> upstream, const Options& options, const util::Clock& clock)
    : upstream_(std::move(upstream)),
      options_(options),
      clock_(clock),
      shard_capacity_(0),
      shards_(shard_count(options.max_entries)) {
    if (!upstream_) throw std::invalid_argument("CachingResolver needs an upstream resolver");
    if (options_.max_entries == 0) throw std::invalid_argument("CachingResolver needs max_entries > 0");
    shard_capacity_ = (options_.max_entries + shards_.size() - 1) / shards_.size();
}

util::LockGuarded<CachingResolver::Shard>& CachingResolver::shard_for(const Key& key) {
    // The high bits: the low ones of std::hash<std::string> also pick unordered_map buckets.
    std::size_t h = KeyHash{}(key);
    return shards_[(h >> 17) % shards_.size()];
}

std::uint32_t CachingResolver::cache_ttl(const Answer& answer) const noexcept {
    switch (answer.status) {
        case Status::ok:
            return std::min(answer.ttl, options_.max_ttl);
        case Status::nxdomain:
        case Status::nodata:
            return std::min(answer.ttl, options_.max_negative_ttl);
        case Status::tempfail:
            return options_.tempfail_ttl;
    }
    return 0;
}

Answer CachingResolver::query(std::string_view name, RrType type) {
    Key key{normalize_name(name), type};
    auto& shard = shard_for(key);
    auto now = clock_.steady_now();
    std::optional<Answer> cached = shard.with_lock([&](Shard& s) -> std::optional<Answer> {
        auto it = s.index.find(key);
        if (it == s.index.end()) return std::nullopt;
        auto entry = it->second;
        if (now >= entry->expires) {
            s.index.erase(it);
            s.lru.erase(entry);
            return std::nullopt;
        }
        s.lru.splice(s.lru.begin(), s.lru, entry);
        Answer a = entry->answer;
        a.ttl =
            static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(entry->expires - now).count());
        return a;
    });
    if (cached) {
        hits_.fetch_add(1, std::memory_order_relaxed);
        return std::move(*cached);
    }
    misses_.fetch_add(1, std::memory_order_relaxed);

    Answer answer = upstream_->query(name, type);
    std::uint32_t ttl = cache_ttl(answer);
    if (ttl == 0) return answer;
    answer.ttl = ttl;  // the capped TTL is what this answer may be relied on for
    auto expires = clock_.steady_now() + std::chrono::seconds(ttl);
    std::uint64_t evicted = shard.with_lock([&](Shard& s) -> std::uint64_t {
        auto it = s.index.find(key);
        if (it != s.index.end()) {  // another thread filled it meanwhile: take the newer answer
            it->second->answer = answer;
            it->second->expires = expires;
            s.lru.splice(s.lru.begin(), s.lru, it->second);
            return 0;
        }
        std::uint64_t n = 0;
        while (s.lru.size() >= shard_capacity_) {
            s.index.erase(s.lru.back().key);
            s.lru.pop_back();
            ++n;
        }
        s.lru.push_front(Entry{key, answer, expires});
        s.index.emplace(std::move(key), s.lru.begin());
        return n;
    });
    if (evicted > 0) evictions_.fetch_add(evicted, std::memory_order_relaxed);
    return answer;
}

CachingResolver::Stats CachingResolver::stats() const {
    Stats st;
    st.hits = hits_.load(std::memory_order_relaxed);
    st.misses = misses_.load(std::memory_order_relaxed);
    st.evictions = evictions_.load(std::memory_order_relaxed);
    for (const auto& shard : shards_) st.entries += shard.with_lock([](const Shard& s) { return s.lru.size(); });
    return st;
}

void CachingResolver::clear() {
    for (auto& shard : shards_) {
        shard.with_lock([](Shard& s) {
            s.index.clear();
            s.lru.clear();
        });
    }
}

}  // namespace mailmoat::dns
