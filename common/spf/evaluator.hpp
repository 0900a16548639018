// common/spf/evaluator.hpp - RFC 7208 check_host() over dns::Resolver: typed results, bounded work.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/dns/resolver.hpp"
#include "common/util/clock.hpp"
#include "common/util/ip_address.hpp"

namespace mailmoat::spf {

/// §2.6 results.
enum class Code { none, neutral, pass, fail, softfail, temperror, permerror };

[[nodiscard]] const char* code_name(Code c) noexcept;

/// Which identity was checked (§2.3, §2.4): the HELO name or the MAIL FROM address.
enum class Identity { helo, mailfrom };

[[nodiscard]] const char* identity_name(Identity i) noexcept;

struct Options {
    unsigned max_dns_terms = 10;    // §4.6.4: include a mx ptr exists redirect, across include/redirect
    unsigned max_void_lookups = 2;  // §4.6.4: queries answered NXDOMAIN or with no records
    unsigned max_mx_names = 10;     // §4.6.4: more MX names than this: permerror
    unsigned max_ptr_names = 10;    // §4.6.4: PTR names beyond this are ignored
    /// Hard cap on DNS queries per check, exp= and %{p} included. The limits above allow at most
    /// about 125 (10 mx terms of 1 + 10 queries, record fetches, exp, one PTR walk), so the default
    /// never binds for RFC-conforming evaluation; hitting it is a permerror.
    unsigned max_queries = 150;
    std::chrono::milliseconds time_budget{10000};  // spent: temperror, checked before every query
    std::string receiver;                          // %{r}: this host's domain name (explanations only)
    std::string default_explanation;               // macro-string used for fail when the domain has no exp=
};

/// The outcome of one check. `mechanism` names what decided it: a term as written ("-all",
/// "include:_spf.example.com"), "default" (no term matched, §4.7), or empty for none/errors before
/// evaluation. `problem` says why for none/temperror/permerror.
struct [[nodiscard]] Result {
    Code code = Code::none;
    Identity identity = Identity::mailfrom;
    std::string domain;  // the identity's domain (the initial <domain>)
    std::string mechanism;
    std::string explanation;  // fail only: expanded exp= text, else the default explanation
    std::string problem;
    unsigned dns_terms = 0;  // terms counted against max_dns_terms
    unsigned void_lookups = 0;
    unsigned queries = 0;   // DNS queries made
    std::uint32_t ttl = 0;  // smallest TTL of the answers used (0 when none): cache lifetime
    /// True when a macro used the local-part or the HELO name (%{s} %{l} %{h}): the result is then
    /// specific to this sender/HELO, not only to (client address, domain).
    bool sender_specific = false;
};

/// The MAIL FROM identity split per §4.3: local-part ("postmaster" when missing) and domain (the
/// HELO name for a null sender; the whole sender when it has no "@"), trailing dot removed.
struct SenderParts {
    std::string local_part;
    std::string domain;
};

[[nodiscard]] SenderParts split_sender(std::string_view sender, std::string_view helo);

/// Evaluates SPF for one client. The resolver and clock must outlive the evaluator; one evaluator
/// may serve many threads when the resolver is thread-safe (it keeps no per-check state).
class Evaluator {
public:
    Evaluator(dns::Resolver& resolver, const util::Clock& clock, Options options = {});

    /// The MAIL FROM identity (§2.4): sender "local@domain"; an empty sender checks
    /// "postmaster@<helo>"; a sender without "@" or with an empty local-part uses "postmaster".
    /// Returns none for a malformed or single-label domain (§4.3).
    Result check_mail_from(const util::IpAddress& ip, std::string_view sender, std::string_view helo) const;

    /// The HELO identity (§2.3): checks "postmaster@<helo>". Returns none when helo is not a
    /// multi-label domain name (address literals included).
    Result check_helo(const util::IpAddress& ip, std::string_view helo) const;

    /// check_host() of §4 with explicit arguments: domain is the initial <domain>, sender the full
    /// "local@domain" used for %{s} %{l} %{o}.
    Result check_host(const util::IpAddress& ip, std::string_view domain, std::string_view sender,
                      std::string_view helo, Identity identity = Identity::mailfrom) const;

    [[nodiscard]] const Options& options() const noexcept { return options_; }

private:
    dns::Resolver& resolver_;
    const util::Clock& clock_;
    Options options_;
};

/// True for an identity domain check_host() starts from (§4.3): 2+ labels of 1-63 octets (letters,
/// digits, '-', '_'), at most 253 octets without the optional trailing dot. Address literals
/// ("[192.0.2.1]") and single labels are not.
[[nodiscard]] bool valid_identity_domain(std::string_view domain) noexcept;

/// The structural part of §4.3 for include/redirect targets (names made by macro expansion may hold
/// any visible characters): 2+ labels of 1-63 octets, at most 253 octets.
[[nodiscard]] bool well_formed_domain(std::string_view domain) noexcept;

}  // namespace mailmoat::spf
