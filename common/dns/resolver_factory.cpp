// common/dns/resolver_factory.cpp - assembles LdnsResolver and CachingResolver for daemons.
#include "common/dns/resolver_factory.hpp"

#include "common/dns/caching_resolver.hpp"
#include "common/dns/ldns_resolver.hpp"

namespace mailmoat::dns {

std::shared_ptr<Resolver> make_resolver(const std::string& server, std::chrono::milliseconds timeout, unsigned retries,
                                        std::size_t cache_entries) {
    LdnsResolver::Options options;
    options.server = server;
    options.timeout = timeout;
    options.retries = retries;
    auto resolver = std::make_shared<LdnsResolver>(options);
    if (cache_entries == 0) return resolver;
    CachingResolver::Options cache;
    cache.max_entries = cache_entries;
    return std::make_shared<CachingResolver>(std::move(resolver), cache, util::SystemClock::instance());
}

}  // namespace mailmoat::dns
