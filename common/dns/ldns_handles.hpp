// common/dns/ldns_handles.hpp - RAII aliases for every ldns handle the suite holds (no *_free elsewhere).
#pragma once
#include <cstdint>
#include <cstdlib>

#include <ldns/ldns.h>

#include "common/util/c_handle.hpp"

namespace mailmoat::dns {

namespace detail {
// ldns hands out malloc()ed buffers (ldns_pkt2wire, ldns_rdf2str); a named function keeps the
// deleter's template argument unambiguous.
inline void ldns_free_malloced(void* p) noexcept {
    std::free(p);
}
}  // namespace detail

/// A resolver configuration (only read for /etc/resolv.conf nameservers; never shared between threads).
using LdnsResolverHandle = util::CHandle<ldns_resolver, ldns_resolver_deep_free>;
/// A parsed or to-be-sent DNS message; owns its RR lists and rdfs.
using LdnsPkt = util::CHandle<ldns_pkt, ldns_pkt_free>;
/// A standalone rdf (e.g. a domain name before ldns_pkt_query_new takes it over).
using LdnsRdf = util::CHandle<ldns_rdf, ldns_rdf_deep_free>;
/// An RR list owning its RRs.
using LdnsRrList = util::CHandle<ldns_rr_list, ldns_rr_list_deep_free>;
/// Wire bytes from ldns_pkt2wire.
using LdnsWire = util::CHandle<std::uint8_t, detail::ldns_free_malloced>;
/// Presentation text from ldns_rdf2str and friends.
using LdnsString = util::CHandle<char, detail::ldns_free_malloced>;

}  // namespace mailmoat::dns
