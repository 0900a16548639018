// common/dns/caching_resolver.hpp - TTL-honouring answer cache (RFC 1035 §7.4, RFC 2308 §5) in front of a Resolver.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/dns/resolver.hpp"
#include "common/util/clock.hpp"
#include "common/util/lock_guarded.hpp"

namespace mailmoat::dns {

/// Decorates another Resolver with a bounded, thread-safe cache keyed by (lower-case name without
/// trailing dot, type). Positive answers live min(TTL, max_ttl) seconds, NXDOMAIN/NODATA
/// min(TTL, max_negative_ttl) (the upstream reports the SOA-derived negative TTL), tempfail
/// tempfail_ttl seconds (0: never cached). A TTL of 0 is never cached. Answers from the cache carry
/// the remaining TTL (whole seconds, rounded down). The least recently used entry of a shard is
/// evicted when the shard is full; expired entries are dropped when met.
///
/// Concurrent misses for the same key each ask the upstream (no request coalescing).
class CachingResolver final : public Resolver {
public:
    struct Options {
        std::size_t max_entries = 10000;
        std::uint32_t max_ttl = 86400;
        std::uint32_t max_negative_ttl = 3600;
        std::uint32_t tempfail_ttl = 0;
    };
    struct Stats {
        std::uint64_t hits = 0;
        std::uint64_t misses = 0;
        std::uint64_t evictions = 0;  // entries pushed out by the size bound (not expiry)
        std::uint64_t entries = 0;
    };

    /// Throws std::invalid_argument when upstream is null or max_entries is 0. clock must outlive this.
    CachingResolver(std::shared_ptr<Resolver> upstream, const Options& options, const util::Clock& clock);

    /// See Resolver::query. Impossible names are passed to the upstream (which answers without a
    /// query) and, having no TTL, never cached.
    [[nodiscard]] Answer query(std::string_view name, RrType type) override;

    [[nodiscard]] Stats stats() const;
    /// Drops every entry (e.g. on SIGHUP); counters are kept.
    void clear();

private:
    struct Key {
        std::string name;
        RrType type;
        friend bool operator==(const Key&, const Key&) = default;
    };
    struct KeyHash {
        std::size_t operator()(const Key& k) const noexcept;
    };
    struct Entry {
        Key key;
        Answer answer;
        std::chrono::steady_clock::time_point expires;
    };
    struct Shard {
        std::list<Entry> lru;  // front = most recently used
        std::unordered_map<Key, std::list<Entry>::iterator, KeyHash> index;
    };

    [[nodiscard]] util::LockGuarded<Shard>& shard_for(const Key& key);
    [[nodiscard]] std::uint32_t cache_ttl(const Answer& answer) const noexcept;

    std::shared_ptr<Resolver> upstream_;
    Options options_;
    const util::Clock& clock_;
    std::size_t shard_capacity_;
    std::vector<util::LockGuarded<Shard>> shards_;
    std::atomic<std::uint64_t> hits_{0};
    std::atomic<std::uint64_t> misses_{0};
    std::atomic<std::uint64_t> evictions_{0};
};

}  // namespace mailmoat::dns
