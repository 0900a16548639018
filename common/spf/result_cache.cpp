// common/spf/result_cache.cpp - ResultCache: LRU list + hash index under one lock, steady-clock expiry.
#include "common/spf/result_cache.hpp"

#include <algorithm>

namespace mailmoat::spf {

ResultCache::ResultCache(const util::Clock& clock, CacheLimits limits) : clock_(clock), limits_(limits) {
    if (limits_.max_entries == 0) limits_.max_entries = 1;
}

std::string ResultCache::make_key(const util::IpAddress& ip, Identity identity, std::string_view domain) {
    std::string key = ip.to_string();
    key += identity == Identity::helo ? "|h|" : "|m|";
    for (char c : domain) key += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (!key.empty() && key.back() == '.') key.pop_back();
    return key;
}

CacheLookup ResultCache::find(const util::IpAddress& ip, Identity identity, std::string_view domain,
                              std::string_view local_part, std::string_view helo) {
    const auto key = make_key(ip, identity, domain);
    const auto now = clock_.steady_now();
    return state_.with_lock([&](State& s) {
        CacheLookup out;
        const auto it = s.index.find(key);
        if (it == s.index.end()) return out;
        const auto entry = it->second;
        if (now >= entry->expires) {
            s.lru.erase(entry);
            s.index.erase(it);
            out.status = CacheStatus::expired;
            return out;
        }
        if (entry->result.sender_specific && (entry->local_part != local_part || entry->helo != helo)) return out;
        s.lru.splice(s.lru.begin(), s.lru, entry);
        out.status = CacheStatus::hit;
        out.result = entry->result;
        return out;
    });
}

bool ResultCache::store(const util::IpAddress& ip, std::string_view local_part, std::string_view helo,
                        const Result& r) {
    if (r.code == Code::temperror || r.queries == 0 || r.ttl == 0) return false;
    const auto ttl = std::min<std::chrono::seconds>(std::chrono::seconds(r.ttl), limits_.max_ttl);
    Entry e;
    e.key = make_key(ip, r.identity, r.domain);
    e.result = r;
    if (r.sender_specific) {
        e.local_part = std::string(local_part);
        e.helo = std::string(helo);
    }
    e.expires = clock_.steady_now() + ttl;
    state_.with_lock([&](State& s) {
        if (const auto it = s.index.find(e.key); it != s.index.end()) {
            s.lru.erase(it->second);
            s.index.erase(it);
        }
        while (s.lru.size() >= limits_.max_entries) {
            s.index.erase(s.lru.back().key);
            s.lru.pop_back();
        }
        s.lru.push_front(std::move(e));
        s.index.emplace(s.lru.front().key, s.lru.begin());
    });
    return true;
}

std::size_t ResultCache::size() const {
    return state_.with_lock([](const State& s) { return s.lru.size(); });
}

void ResultCache::clear() {
    state_.with_lock([](State& s) {
        s.index.clear();
        s.lru.clear();
    });
}

Result check_mail_from_cached(const Evaluator& ev, ResultCache& cache, const util::IpAddress& ip,
                              std::string_view sender, std::string_view helo) {
    const auto parts = split_sender(sender, helo);
    auto hit = cache.find(ip, Identity::mailfrom, parts.domain, parts.local_part, helo);
    if (hit.status == CacheStatus::hit) return std::move(hit.result);
    auto r = ev.check_mail_from(ip, sender, helo);
    (void)cache.store(ip, parts.local_part, helo, r);
    return r;
}

Result check_helo_cached(const Evaluator& ev, ResultCache& cache, const util::IpAddress& ip, std::string_view helo) {
    auto hit = cache.find(ip, Identity::helo, helo, "postmaster", helo);
    if (hit.status == CacheStatus::hit) return std::move(hit.result);
    auto r = ev.check_helo(ip, helo);
    (void)cache.store(ip, "postmaster", helo, r);
    return r;
}

}  // namespace mailmoat::spf
