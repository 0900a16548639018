// common/spf/result_cache.hpp - bounded LRU cache of SPF results per (client, identity, domain), TTL-aged.
#pragma once
#include <chrono>
#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/spf/evaluator.hpp"
#include "common/util/clock.hpp"
#include "common/util/lock_guarded.hpp"

namespace mailmoat::spf {

struct CacheLimits {
    std::size_t max_entries = 10000;
    std::chrono::seconds max_ttl{3600};  // an entry lives min(smallest DNS TTL used, max_ttl)
};

enum class CacheStatus { hit, miss, expired };

struct CacheLookup {
    CacheStatus status = CacheStatus::miss;
    Result result;  // hit only
};

/// Thread-safe. A result is stored for the smallest TTL of the DNS answers it used; temperror and
/// results that used no DNS are never stored. Results that expanded %{s} %{l} or %{h} only hit for
/// the same local-part and HELO name. When full, the least recently used entry goes.
class ResultCache {
public:
    ResultCache(const util::Clock& clock, CacheLimits limits = {});

    /// Looks up the result for ip and the identity domain (case-insensitive). Returns miss when
    /// absent or when a sender-specific entry was made for another local-part/HELO, expired (and
    /// drops the entry) when its TTL ran out.
    [[nodiscard]] CacheLookup find(const util::IpAddress& ip, Identity identity, std::string_view domain,
                                   std::string_view local_part, std::string_view helo);

    /// Stores r (see the class comment for what is not stored). Returns true when stored.
    bool store(const util::IpAddress& ip, std::string_view local_part, std::string_view helo, const Result& r);

    [[nodiscard]] std::size_t size() const;
    void clear();

private:
    struct Entry {
        std::string key;
        Result result;
        std::string local_part;  // sender-specific entries only
        std::string helo;
        std::chrono::steady_clock::time_point expires;
    };
    struct State {
        std::list<Entry> lru;  // front: most recently used
        std::unordered_map<std::string, std::list<Entry>::iterator> index;
    };
    static std::string make_key(const util::IpAddress& ip, Identity identity, std::string_view domain);

    const util::Clock& clock_;
    CacheLimits limits_;
    util::LockGuarded<State> state_;
};

/// MAIL FROM check through the cache: a hit costs no DNS; a miss evaluates and stores.
[[nodiscard]] Result check_mail_from_cached(const Evaluator& ev, ResultCache& cache, const util::IpAddress& ip,
                                            std::string_view sender, std::string_view helo);

/// HELO check through the cache.
[[nodiscard]] Result check_helo_cached(const Evaluator& ev, ResultCache& cache, const util::IpAddress& ip,
                                       std::string_view helo);

}  // namespace mailmoat::spf
