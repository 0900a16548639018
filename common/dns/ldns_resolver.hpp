// common/dns/ldns_resolver.hpp - stub resolver (RFC 1035, RFC 6891 EDNS0) sending queries to configured servers.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/dns/resolver.hpp"
#include "common/util/ip_address.hpp"

namespace mailmoat::dns {

/// A recursive server to ask.
struct ServerAddress {
    util::IpAddress address;
    std::uint16_t port = 53;
    friend bool operator==(const ServerAddress&, const ServerAddress&) = default;
};

/// Parses a server list: entries "HOST", "HOST:PORT", "[V6]", "[V6]:PORT" or a bare IPv6 address,
/// separated by commas or blanks (at most 8). HOST must be a numeric address (a name would need DNS to
/// find DNS). Returns the servers; throws std::invalid_argument with the offending entry on bad syntax,
/// a port outside 1..65535, an empty list or more than 8 entries.
[[nodiscard]] std::vector<ServerAddress> parse_server_list(std::string_view text);

/// Asks recursive servers over UDP (falling back to TCP when the answer is truncated) and parses the
/// answer into dns::Answer. Every query() is independent: it opens its own socket, so one instance
/// serves any number of threads without locking.
///
/// Query: RD=1, AD=1 (RFC 6840 §5.7: asks a validating resolver to report AD without DO), EDNS0 with
/// DO=0 and a 1232-byte UDP payload (unless Options::edns is false), a random ID from getrandom(2),
/// a connected UDP socket on a kernel-chosen random port (RFC 5452 §9.2).
///
/// Replies are accepted only from the server asked, with QR set, the query's ID and the same
/// question (RFC 5452 §4.2); other datagrams are ignored and the wait goes on. TC set: the same server
/// is asked over TCP (RFC 1035 §4.2.2 framing, RFC 7766).
///
/// Answer mapping (RFC 2308, RFC 6604): NOERROR with records of the type at the end of the CNAME chain
/// -> ok; NOERROR without -> nodata; NXDOMAIN -> nxdomain; SERVFAIL/REFUSED/FORMERR/NOTIMP/other
/// rcodes, EDNS extended rcodes, undecodable replies, malformed records, CNAME chains longer than 8,
/// timeouts -> tempfail with Answer::error set. An rcode failure makes query() move on to the next
/// server (not retry the same one); a timeout retries.
class LdnsResolver final : public Resolver {
public:
    struct Options {
        /// "HOST[:PORT]", "[v6]:PORT", a list of them, or empty = the nameservers of /etc/resolv.conf.
        std::string server;
        /// Upper bound on one whole query() including retries and TCP fallback; split evenly
        /// between the attempts.
        std::chrono::milliseconds timeout{5000};
        /// Further rounds over the server list after the first one times out.
        unsigned retries = 1;
        /// Send an EDNS0 OPT record (RFC 6891); off only for servers that answer it with FORMERR.
        bool edns = true;
    };

    static constexpr std::size_t max_records = 64;                        // RRs kept per answer; more are dropped
    static constexpr std::size_t max_txt_bytes = std::size_t{64} * 1024;  // TXT bytes kept per answer; more RRs dropped
    static constexpr unsigned max_cname_chain = 8;
    static constexpr std::uint16_t edns_udp_size = 1232;

    /// Throws std::invalid_argument on a bad Options::server (see parse_server_list), a zero timeout,
    /// or when Options::server is empty and /etc/resolv.conf names no usable nameserver.
    explicit LdnsResolver(const Options& options);

    /// See Resolver::query. Names are sent as given (labels are octet strings: no escapes are
    /// interpreted), compared case-insensitively.
    [[nodiscard]] Answer query(std::string_view name, RrType type) override;

    [[nodiscard]] const std::vector<ServerAddress>& servers() const noexcept { return servers_; }

private:
    std::vector<ServerAddress> servers_;
    std::chrono::milliseconds timeout_;
    unsigned retries_;
    bool edns_;
};

/// Turns a presentation-form query name into DNS wire form (RFC 1035 §3.1): strips one trailing dot.
/// Returns an empty vector for an impossible name: empty, an empty label, a label over 63 octets or a
/// name over 253 octets (255 in wire form). The root name "." is refused too (never a mail domain).
[[nodiscard]] std::vector<std::uint8_t> name_to_wire(std::string_view name);

/// Decodes one DNS reply message to the question (name, type) as LdnsResolver::query() would, taking
/// the message's own ID as the expected one (for tests and fuzzing; the resolver itself also checks
/// the ID it sent). Returns tempfail with error "mismatched reply" for a message that is not a reply
/// to that question, "garbled reply" for one that does not decode, "truncated" when TC is set, and
/// otherwise the mapping documented at LdnsResolver. An impossible name gives nxdomain.
[[nodiscard]] Answer parse_answer(const std::uint8_t* message, std::size_t size, std::string_view name, RrType type);

/// Lower-case, one trailing dot removed (the form Answer uses and caches key on).
[[nodiscard]] std::string normalize_name(std::string_view name);

}  // namespace mailmoat::dns
