// common/dns/resolver.hpp - the DNS interface every engine uses (SPF, DKIM keys, DMARC, greylist).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/ip_address.hpp"

namespace mailmoat::dns {

/// Outcome of one query. NXDOMAIN (name does not exist), NODATA (name exists, no record of the type)
/// and a temporary failure (timeout, SERVFAIL, REFUSED, truncated/garbled answer) are kept apart,
/// because SPF/DKIM/DMARC treat them differently.
enum class Status { ok, nxdomain, nodata, tempfail };

[[nodiscard]] const char* status_name(Status s) noexcept;

enum class RrType : std::uint16_t { a = 1, ns = 2, cname = 5, soa = 6, ptr = 12, mx = 15, txt = 16, aaaa = 28 };

[[nodiscard]] const char* type_name(RrType t) noexcept;

struct Mx {
    std::uint16_t preference = 0;
    std::string exchange;  // lower-case, no trailing dot
    friend bool operator==(const Mx&, const Mx&) = default;
};

/// The answer RRset of one query, parsed. Only the records of the asked type at the end of any CNAME
/// chain are kept. Names are lower-case without the trailing dot.
struct Answer {
    Status status = Status::tempfail;
    bool authenticated = false;           // AD bit was set by the (trusted) resolver
    std::uint32_t ttl = 0;                // min TTL of the RRset; negative answers: SOA minimum/TTL
    std::vector<std::string> txt;         // TXT: one entry per RR, its character-strings concatenated
    std::vector<util::IpAddress> addresses;  // A / AAAA
    std::vector<Mx> mx;                   // MX, in answer order
    std::vector<std::string> names;       // PTR / NS / CNAME targets
    std::string error;                    // tempfail: short reason ("timeout", "SERVFAIL", ...)

    [[nodiscard]] bool ok() const noexcept { return status == Status::ok; }
};

/// A resolver. Implementations are thread-safe: one instance serves every connection thread.
class Resolver {
public:
    virtual ~Resolver() = default;
    /// Looks up name (with or without trailing dot, case-insensitive) for type. Never throws for
    /// network or answer problems: those are Status::tempfail with Answer::error set. A syntactically
    /// impossible name (label > 63, name > 253 octets, empty label) is Status::nxdomain without a query.
    [[nodiscard]] virtual Answer query(std::string_view name, RrType type) = 0;
};

}  // namespace mailmoat::dns
