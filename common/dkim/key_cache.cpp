// common/dkim/key_cache.cpp - bounded cache of parsed DKIM public keys.
#include "common/dkim/key_cache.hpp"

namespace mailmoat::dkim {

crypto::PublicKeyResult PublicKeyCache::get(crypto::KeyType type, std::string_view der, unsigned min_bits) {
    std::string id;
    id.reserve(der.size() + 8);
    id += type == crypto::KeyType::rsa ? 'r' : 'e';
    id += std::to_string(min_bits);
    id += ':';
    id += der;
    auto cached = state_.with_lock([&](State& s) -> std::shared_ptr<const crypto::PublicKey> {
        const auto it = s.keys.find(id);
        if (it == s.keys.end()) return nullptr;
        ++s.hits;
        return it->second;
    });
    if (cached) return {crypto::PublicKeyStatus::ok, {}, std::move(cached)};
    auto parsed = crypto::PublicKey::from_dkim(type, der, min_bits);  // outside the lock: it is slow
    if (parsed.status == crypto::PublicKeyStatus::ok) {
        state_.with_lock([&](State& s) {
            if (s.keys.size() >= capacity_) s.keys.clear();
            s.keys.emplace(std::move(id), parsed.key);
        });
    }
    return parsed;
}

std::size_t PublicKeyCache::size() const {
    return state_.with_lock([](const State& s) { return s.keys.size(); });
}

std::uint64_t PublicKeyCache::hits() const {
    return state_.with_lock([](const State& s) { return s.hits; });
}

}  // namespace mailmoat::dkim
