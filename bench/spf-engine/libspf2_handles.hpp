// bench/spf-engine/libspf2_handles.hpp - util::CHandle aliases for the libspf2 objects the benchmark uses.
#pragma once
// libspf2's headers expect these system headers first (struct in_addr, ns_type).
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

extern "C" {
#include <spf2/spf.h>
#include <spf2/spf_dns_zone.h>
}

#include "common/util/c_handle.hpp"

namespace mailmoat::bench::libspf2 {

using DnsServer = util::CHandle<SPF_dns_server_t, SPF_dns_free>;
using Server = util::CHandle<SPF_server_t, SPF_server_free>;
using Request = util::CHandle<SPF_request_t, SPF_request_free>;
using Response = util::CHandle<SPF_response_t, SPF_response_free>;

}  // namespace mailmoat::bench::libspf2
