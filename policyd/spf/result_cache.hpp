// policyd/spf/result_cache.hpp - bounded SPF result cache keyed by (client IP, identity, sender, HELO).
#pragma once
#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/spf/evaluator.hpp"
#include "common/util/clock.hpp"
#include "common/util/lock_guarded.hpp"

namespace mailmoat::spfd {

/// Caches check_host() results for the smallest TTL of the DNS answers they used (capped at max_ttl).
/// The key holds the full sender and HELO, not only the domain, because macros (%{l}, %{s}, %{h})
/// can make a record's result depend on them. temperror is never cached. Thread-safe; at most
/// max_entries entries (oldest insertions evicted first).
class ResultCache {
public:
    struct Stats {
        std::uint64_t hits = 0;
        std::uint64_t misses = 0;
        std::size_t entries = 0;
    };

    ResultCache(std::size_t max_entries, const util::Clock& clock, std::chrono::seconds max_ttl = std::chrono::hours(1));

    [[nodiscard]] static std::string key(const util::IpAddress& ip, spf::Identity identity, std::string_view sender,
                                         std::string_view helo);
    /// The cached result if present and not expired; nullopt otherwise (counted as a miss).
    [[nodiscard]] std::optional<spf::Result> find(const std::string& key);
    /// Stores result unless it is a temperror or its TTL is 0 or the cache is disabled (max_entries 0).
    void store(const std::string& key, const spf::Result& result);
    [[nodiscard]] Stats stats() const;

private:
    struct Entry {
        spf::Result result;
        std::chrono::steady_clock::time_point expires;
    };
    struct State {
        std::unordered_map<std::string, Entry> map;
        std::deque<std::string> order;  // insertion order, for eviction
        std::uint64_t hits = 0;
        std::uint64_t misses = 0;
    };
    std::size_t max_entries_;
    const util::Clock& clock_;
    std::chrono::seconds max_ttl_;
    util::LockGuarded<State> state_;
};

}  // namespace mailmoat::spfd
