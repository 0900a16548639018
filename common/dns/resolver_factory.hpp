// common/dns/resolver_factory.hpp - the resolver stack a daemon uses: LdnsResolver, optionally cached.
#pragma once
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "common/dns/resolver.hpp"

namespace mailmoat::dns {

/// Builds an LdnsResolver for server ("HOST[:PORT]", "[v6]:PORT", a comma-separated list of them, or
/// empty for /etc/resolv.conf) with the given whole-query timeout and retries, wrapped in a
/// CachingResolver of cache_entries entries on the system clock (0 = no cache).
/// Throws std::invalid_argument on a bad server spec or a zero timeout (config time).
[[nodiscard]] std::shared_ptr<Resolver> make_resolver(const std::string& server, std::chrono::milliseconds timeout,
                                                      unsigned retries, std::size_t cache_entries);

}  // namespace mailmoat::dns
