// policyd/spf/result_cache.cpp - bounded, TTL-honouring SPF result cache.
#include "policyd/spf/result_cache.hpp"

#include <algorithm>
#include <cctype>

namespace mailmoat::spfd {

ResultCache::ResultCache(std::size_t max_entries, const util::Clock& clock, std::chrono::seconds max_ttl)
    : max_entries_(max_entries), clock_(clock), max_ttl_(max_ttl) {}

std::string ResultCache::key(const util::IpAddress& ip, spf::Identity identity, std::string_view sender,
                             std::string_view helo) {
    std::string k = ip.to_string();
    k += identity == spf::Identity::helo ? "|h|" : "|m|";
    k.append(sender);
    k += '|';
    k.append(helo);
    std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return k;
}

std::optional<spf::Result> ResultCache::find(const std::string& key) {
    if (max_entries_ == 0) return std::nullopt;
    const auto now = clock_.steady_now();
    return state_.with_lock([&](State& s) -> std::optional<spf::Result> {
        const auto it = s.map.find(key);
        if (it == s.map.end() || it->second.expires <= now) {
            ++s.misses;
            return std::nullopt;
        }
        ++s.hits;
        return it->second.result;
    });
}

void ResultCache::store(const std::string& key, const spf::Result& result) {
    if (max_entries_ == 0 || result.code == spf::Code::temperror || result.ttl == 0) return;
    const auto ttl = std::min<std::chrono::seconds>(std::chrono::seconds(result.ttl), max_ttl_);
    const auto expires = clock_.steady_now() + ttl;
    state_.with_lock([&](State& s) {
        auto [it, inserted] = s.map.insert_or_assign(key, Entry{result, expires});
        (void)it;
        if (inserted) s.order.push_back(key);
        while (s.map.size() > max_entries_ && !s.order.empty()) {
            s.map.erase(s.order.front());
            s.order.pop_front();
        }
        // Keys re-stored after eviction of their twin can leave stale order entries; keep it bounded.
        if (s.order.size() > 2 * max_entries_ + 16) {
            std::deque<std::string> fresh;
            for (auto& k : s.order)
                if (s.map.count(k) != 0U) fresh.push_back(std::move(k));
            s.order = std::move(fresh);
        }
    });
}

ResultCache::Stats ResultCache::stats() const {
    return state_.with_lock([](const State& s) { return Stats{s.hits, s.misses, s.map.size()}; });
}

}  // namespace mailmoat::spfd
