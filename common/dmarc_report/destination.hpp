// common/dmarc_report/destination.hpp - where aggregate reports go: rua URIs with the legacy size limit
// (RFC 7489 §6.2 "mailto:x@y!10m") and external destination verification (RFC 7489 §7.1, RFC 9990 §4).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/dns/resolver.hpp"

namespace mailmoat::dmarc_report {

struct Destination {
    std::string uri;         // as published, trimmed
    std::string address;     // the mailto address, percent-decoded
    std::string domain;      // its domain, lower case
    std::uint64_t max_bytes = 0;  // size limit from "!10m" (0: none)
};

/// Parses one rua URI. Only mailto: is supported (the only scheme RFC 9990 defines); anything else,
/// an address without '@', or a bad size suffix → nullopt. Sizes: digits with k, m, g or t (powers
/// of 1024), none = bytes.
[[nodiscard]] std::optional<Destination> parse_rua(std::string_view uri);

enum class Authorization { internal, authorized, not_authorized, tempfail };
[[nodiscard]] const char* authorization_name(Authorization a) noexcept;

/// Whether reports about `policy_domain` (whose organizational domain is `org_domain`) may go to
/// `dest`: internal when dest's domain is the organizational domain or below it; otherwise a TXT
/// record at "<policy_domain>._report._dmarc.<dest domain>" beginning with "v=DMARC1" authorizes it;
/// NXDOMAIN, NODATA or no such record → not_authorized; a DNS failure → tempfail (try next run).
[[nodiscard]] Authorization verify_destination(dns::Resolver& resolver, const std::string& policy_domain,
                                               const std::string& org_domain, const Destination& dest);

}  // namespace mailmoat::dmarc_report
