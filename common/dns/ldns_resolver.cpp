// common/dns/ldns_resolver.cpp - UDP/TCP stub resolver: ldns builds and decodes messages, we own the sockets.
#include "common/dns/ldns_resolver.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <stdexcept>
#include <utility>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/dns/ldns_handles.hpp"

namespace mailmoat::dns {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t max_servers = 8;
constexpr std::size_t max_message = 65535;

/// A file descriptor closed on scope exit.
class UniqueFd {
public:
    explicit UniqueFd(int fd) noexcept : fd_(fd) {}
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() {
        if (fd_ >= 0) ::close(fd_);
    }
    [[nodiscard]] int get() const noexcept { return fd_; }

private:
    int fd_;
};

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

ServerAddress parse_one_server(std::string_view entry) {
    auto bad = [&](const char* why) {
        return std::invalid_argument("bad DNS server \"" + std::string(entry) + "\": " + why);
    };
    std::string_view host = entry;
    std::string_view port_text;
    if (!entry.empty() && entry.front() == '[') {
        auto close = entry.find(']');
        if (close == std::string_view::npos) throw bad("missing ']'");
        host = entry.substr(1, close - 1);
        auto rest = entry.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') throw bad("expected ':PORT' after ']'");
            port_text = rest.substr(1);
            if (port_text.empty()) throw bad("empty port");
        }
    } else if (std::count(entry.begin(), entry.end(), ':') == 1) {
        auto colon = entry.find(':');
        host = entry.substr(0, colon);
        port_text = entry.substr(colon + 1);
        if (port_text.empty()) throw bad("empty port");
    }
    // More than one colon without brackets: a bare IPv6 address on port 53.
    auto address = util::IpAddress::parse(host);
    if (!address || host.empty() || host.front() == '[' || host.starts_with("IPv6:") || host.starts_with("ipv6:"))
        throw bad("not a numeric IPv4 or IPv6 address");
    ServerAddress server{*address, 53};
    if (!port_text.empty()) {
        if (port_text.size() > 5 ||
            !std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; }))
            throw bad("port is not a number");
        unsigned long port = std::stoul(std::string(port_text));
        if (port == 0 || port > 65535) throw bad("port outside 1..65535");
        server.port = static_cast<std::uint16_t>(port);
    }
    return server;
}

std::vector<ServerAddress> servers_from_resolv_conf() {
    ldns_resolver* raw = nullptr;
    if (ldns_resolver_new_frm_file(&raw, nullptr) != LDNS_STATUS_OK || raw == nullptr)
        throw std::invalid_argument("cannot read nameservers from /etc/resolv.conf");
    LdnsResolverHandle res(raw);
    std::vector<ServerAddress> servers;
    ldns_rdf** ns = ldns_resolver_nameservers(res.get());
    for (std::size_t i = 0; i < ldns_resolver_nameserver_count(res.get()) && servers.size() < max_servers; ++i) {
        const ldns_rdf* rdf = ns[i];
        bool v4 = ldns_rdf_get_type(rdf) == LDNS_RDF_TYPE_A && ldns_rdf_size(rdf) == 4;
        bool v6 = ldns_rdf_get_type(rdf) == LDNS_RDF_TYPE_AAAA && ldns_rdf_size(rdf) == 16;
        if (!v4 && !v6) continue;
        servers.push_back({util::IpAddress::from_bytes(ldns_rdf_data(rdf), v4), ldns_resolver_port(res.get())});
    }
    if (servers.empty()) throw std::invalid_argument("/etc/resolv.conf names no nameserver");
    return servers;
}

std::uint16_t random_id() {
    std::uint16_t id = 0;
    if (::getrandom(&id, sizeof id, 0) == static_cast<ssize_t>(sizeof id)) return id;
    thread_local std::mt19937 fallback{std::random_device{}()};
    return static_cast<std::uint16_t>(fallback());
}

socklen_t to_sockaddr(const ServerAddress& server, sockaddr_storage& ss) {
    std::memset(&ss, 0, sizeof ss);
    if (server.address.is_v4()) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(server.port);
        std::memcpy(&sin->sin_addr, server.address.bytes().data(), 4);
        return sizeof(sockaddr_in);
    }
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(server.port);
    std::memcpy(&sin6->sin6_addr, server.address.bytes().data(), 16);
    return sizeof(sockaddr_in6);
}

int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::clamp<long long>(left, 0, std::numeric_limits<int>::max()));
}

/// Waits until fd is ready for events or the deadline passes. Returns false on timeout.
bool wait_fd(int fd, short events, Clock::time_point deadline) {
    for (;;) {
        int ms = remaining_ms(deadline);
        if (ms <= 0) return false;
        pollfd p{fd, events, 0};
        int rc = ::poll(&p, 1, ms);
        if (rc > 0) return true;
        if (rc == 0) continue;  // re-check the clock; poll may wake early
        if (errno != EINTR) return false;
    }
}

/// Outcome of one exchange with one server.
struct Exchange {
    enum class Kind { reply, failed } kind = Kind::failed;
    LdnsPkt pkt;
    std::string error;  // failed: "timeout", "garbled reply", "network: ..."
};

/// The query as sent, for matching replies.
struct Query {
    std::vector<std::uint8_t> wire;
    std::uint16_t id = 0;
    const ldns_rdf* qname = nullptr;
    ldns_rr_type qtype = LDNS_RR_TYPE_A;
};

/// Decodes a reply and checks it belongs to the query (RFC 5452 §4.2). Returns the packet, or null
/// with *why set ("mismatched reply" for someone else's message, "garbled reply" for ours undecodable).
LdnsPkt match_reply(const Query& q, const std::uint8_t* data, std::size_t len, std::string* why) {
    if (len < 12 || ((data[0] << 8) | data[1]) != q.id || (data[2] & 0x80) == 0) {
        *why = "mismatched reply";
        return nullptr;
    }
    ldns_pkt* raw = nullptr;
    if (ldns_wire2pkt(&raw, data, len) != LDNS_STATUS_OK || raw == nullptr) {
        *why = "garbled reply";
        return nullptr;
    }
    LdnsPkt pkt(raw);
    // Some servers leave the question out of a truncated reply; TCP then brings the checked answer.
    if (ldns_pkt_tc(pkt.get()) && ldns_pkt_qdcount(pkt.get()) == 0) return pkt;
    const ldns_rr_list* question = ldns_pkt_question(pkt.get());
    if (ldns_pkt_qdcount(pkt.get()) != 1 || question == nullptr || ldns_rr_list_rr_count(question) != 1) {
        *why = "mismatched reply";
        return nullptr;
    }
    const ldns_rr* qrr = ldns_rr_list_rr(question, 0);
    if (ldns_rr_get_type(qrr) != q.qtype || ldns_rr_get_class(qrr) != LDNS_RR_CLASS_IN ||
        ldns_dname_compare(ldns_rr_owner(qrr), q.qname) != 0) {
        *why = "mismatched reply";
        return nullptr;
    }
    return pkt;
}

std::string errno_text(const char* what) {
    return std::string("network: ") + what + ": " + std::strerror(errno);
}

Exchange exchange_udp(const ServerAddress& server, const Query& q, Clock::time_point deadline) {
    Exchange ex;
    sockaddr_storage ss{};
    socklen_t sslen = to_sockaddr(server, ss);
    UniqueFd fd(::socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return {Exchange::Kind::failed, nullptr, errno_text("socket")};
    // connect(): the kernel then drops datagrams from anyone but the server.
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&ss), sslen) != 0)
        return {Exchange::Kind::failed, nullptr, errno_text("connect")};
    if (::send(fd.get(), q.wire.data(), q.wire.size(), 0) != static_cast<ssize_t>(q.wire.size()))
        return {Exchange::Kind::failed, nullptr, errno_text("send")};
    auto buf = std::make_unique_for_overwrite<std::uint8_t[]>(max_message);  // no 64 KiB memset per query
    std::string last = "timeout";
    while (wait_fd(fd.get(), POLLIN, deadline)) {
        ssize_t n = ::recv(fd.get(), buf.get(), max_message, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
            return {Exchange::Kind::failed, nullptr, errno_text("recv")};
        }
        std::string why;
        LdnsPkt pkt = match_reply(q, buf.get(), static_cast<std::size_t>(n), &why);
        if (pkt) return {Exchange::Kind::reply, std::move(pkt), {}};
        if (why == "garbled reply") return {Exchange::Kind::failed, nullptr, why};
        last = "timeout after " + why;  // someone else's datagram: keep waiting for ours
    }
    return {Exchange::Kind::failed, nullptr, last};
}

bool send_all(int fd, const std::uint8_t* data, std::size_t len, Clock::time_point deadline) {
    while (len > 0) {
        ssize_t n = ::send(fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
        if (!wait_fd(fd, POLLOUT, deadline)) return false;
    }
    return true;
}

/// Reads exactly len bytes. Returns 1 done, 0 timeout, -1 error/EOF.
int recv_all(int fd, std::uint8_t* data, std::size_t len, Clock::time_point deadline) {
    while (len > 0) {
        ssize_t n = ::recv(fd, data, len, 0);
        if (n > 0) {
            data += n;
            len -= static_cast<std::size_t>(n);
            continue;
        }
        if (n == 0) return -1;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
        if (!wait_fd(fd, POLLIN, deadline)) return 0;
    }
    return 1;
}

Exchange exchange_tcp(const ServerAddress& server, const Query& q, Clock::time_point deadline) {
    sockaddr_storage ss{};
    socklen_t sslen = to_sockaddr(server, ss);
    UniqueFd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return {Exchange::Kind::failed, nullptr, errno_text("socket")};
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&ss), sslen) != 0) {
        if (errno != EINPROGRESS) return {Exchange::Kind::failed, nullptr, errno_text("tcp connect")};
        if (!wait_fd(fd.get(), POLLOUT, deadline)) return {Exchange::Kind::failed, nullptr, "timeout (tcp connect)"};
        int err = 0;
        socklen_t errlen = sizeof err;
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &errlen) != 0 || err != 0) {
            errno = err;
            return {Exchange::Kind::failed, nullptr, errno_text("tcp connect")};
        }
    }
    // RFC 1035 §4.2.2: a two-octet length prefix. Queries are far below 64 KiB (name <= 255 octets).
    std::vector<std::uint8_t> out;
    out.reserve(q.wire.size() + 2);
    out.push_back(static_cast<std::uint8_t>((q.wire.size() >> 8) & 0xff));
    out.push_back(static_cast<std::uint8_t>(q.wire.size() & 0xff));
    out.insert(out.end(), q.wire.begin(), q.wire.end());
    if (!send_all(fd.get(), out.data(), out.size(), deadline))
        return {Exchange::Kind::failed, nullptr, "timeout or error (tcp send)"};
    std::array<std::uint8_t, 2> len_bytes{};
    int rc = recv_all(fd.get(), len_bytes.data(), 2, deadline);
    if (rc <= 0) return {Exchange::Kind::failed, nullptr, rc == 0 ? "timeout (tcp)" : "network: tcp connection closed"};
    std::size_t len = (static_cast<std::size_t>(len_bytes[0]) << 8) | len_bytes[1];
    std::vector<std::uint8_t> buf(len);
    rc = recv_all(fd.get(), buf.data(), len, deadline);
    if (rc <= 0) return {Exchange::Kind::failed, nullptr, rc == 0 ? "timeout (tcp)" : "network: tcp connection closed"};
    std::string why;
    LdnsPkt pkt = match_reply(q, buf.data(), len, &why);
    if (!pkt) return {Exchange::Kind::failed, nullptr, why + " (tcp)"};
    return {Exchange::Kind::reply, std::move(pkt), {}};
}

/// RFC 2181 §8: a TTL with the top bit set is treated as zero.
std::uint32_t rr_ttl(const ldns_rr* rr) {
    std::uint32_t ttl = ldns_rr_ttl(rr);
    return ttl > 0x7fffffffU ? 0 : ttl;
}

bool is_dname(const ldns_rdf* rdf) {
    return rdf != nullptr && ldns_rdf_get_type(rdf) == LDNS_RDF_TYPE_DNAME;
}

/// Presentation form, lower-case, no trailing dot; the root becomes "" (RFC 7505 null MX).
std::string dname_text(const ldns_rdf* rdf) {
    LdnsString text(ldns_rdf2str(rdf));
    if (!text) return {};
    std::string s = lower(text.get());
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
}

Answer tempfail(std::string why) {
    Answer a;
    a.status = Status::tempfail;
    a.error = std::move(why);
    return a;
}

const char* rcode_name(ldns_pkt_rcode rcode) {
    switch (rcode) {
        case LDNS_RCODE_FORMERR:
            return "FORMERR";
        case LDNS_RCODE_SERVFAIL:
            return "SERVFAIL";
        case LDNS_RCODE_NOTIMPL:
            return "NOTIMP";
        case LDNS_RCODE_REFUSED:
            return "REFUSED";
        default:
            return nullptr;
    }
}

/// Adds one RR's data to the answer. Returns false when the rdata is not what the type requires.
bool add_record(Answer& a, const ldns_rr* rr, RrType type, std::size_t& txt_bytes) {
    const ldns_rdf* r0 = ldns_rr_rdf(rr, 0);
    switch (type) {
        case RrType::a:
        case RrType::aaaa: {
            std::size_t want = type == RrType::a ? 4 : 16;
            if (r0 == nullptr || ldns_rdf_size(r0) != want) return false;
            a.addresses.push_back(util::IpAddress::from_bytes(ldns_rdf_data(r0), type == RrType::a));
            return true;
        }
        case RrType::mx: {
            const ldns_rdf* r1 = ldns_rr_rdf(rr, 1);
            if (r0 == nullptr || ldns_rdf_size(r0) != 2 || !is_dname(r1)) return false;
            a.mx.push_back({ldns_rdf2native_int16(r0), dname_text(r1)});
            return true;
        }
        case RrType::txt: {
            // RFC 7208 §3.3 / RFC 6376 §3.6.2.2: the character-strings of one RR are joined without spaces.
            std::string joined;
            for (std::size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
                const ldns_rdf* s = ldns_rr_rdf(rr, i);
                std::size_t size = s == nullptr ? 0 : ldns_rdf_size(s);
                const std::uint8_t* d = size == 0 ? nullptr : ldns_rdf_data(s);
                if (d == nullptr || d[0] != size - 1) return false;
                joined.append(reinterpret_cast<const char*>(d + 1), size - 1);
            }
            if (txt_bytes + joined.size() > LdnsResolver::max_txt_bytes) return true;  // bound: drop the RR
            txt_bytes += joined.size();
            a.txt.push_back(std::move(joined));
            return true;
        }
        case RrType::ptr:
        case RrType::ns:
        case RrType::cname:
        case RrType::soa:  // names holds the SOA MNAME
            if (!is_dname(r0)) return false;
            a.names.push_back(dname_text(r0));
            return true;
    }
    return false;
}

/// Maps a matched reply to an Answer (RFC 1034 §3.6.2 CNAME chains, RFC 2308 negative TTLs, RFC 6604).
/// Sets *next_server for rcodes another server may answer better.
Answer parse_reply(const ldns_pkt* pkt, const Query& q, RrType type, bool* next_server) {
    *next_server = false;
    ldns_pkt_rcode rcode = ldns_pkt_get_rcode(pkt);
    if (ldns_pkt_edns_extended_rcode(pkt) != 0) {
        *next_server = true;
        return tempfail("extended rcode " + std::to_string(ldns_pkt_edns_extended_rcode(pkt)));
    }
    if (rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN) {
        *next_server = true;
        const char* name = rcode_name(rcode);
        return tempfail(name != nullptr ? name : "rcode " + std::to_string(static_cast<int>(rcode)));
    }
    const ldns_rr_list* answer = ldns_pkt_answer(pkt);
    std::size_t count = answer == nullptr ? 0 : ldns_rr_list_rr_count(answer);
    auto rr_at = [&](std::size_t i) { return ldns_rr_list_rr(answer, i); };
    auto owned_by = [](const ldns_rr* rr, const ldns_rdf* owner, ldns_rr_type t) {
        return ldns_rr_get_type(rr) == t && ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN &&
               ldns_dname_compare(ldns_rr_owner(rr), owner) == 0;
    };

    std::uint32_t ttl = std::numeric_limits<std::uint32_t>::max();
    const ldns_rdf* owner = q.qname;
    if (q.qtype != LDNS_RR_TYPE_CNAME) {
        for (unsigned hops = 0;; ++hops) {
            bool has_type = false;
            const ldns_rr* cname = nullptr;
            for (std::size_t i = 0; i < count && !has_type; ++i) {
                if (owned_by(rr_at(i), owner, q.qtype))
                    has_type = true;
                else if (cname == nullptr && owned_by(rr_at(i), owner, LDNS_RR_TYPE_CNAME))
                    cname = rr_at(i);
            }
            if (has_type || cname == nullptr) break;
            if (hops >= LdnsResolver::max_cname_chain) return tempfail("CNAME chain too long");
            const ldns_rdf* target = ldns_rr_rdf(cname, 0);
            if (!is_dname(target)) return tempfail("malformed CNAME record");
            ttl = std::min(ttl, rr_ttl(cname));
            owner = target;
        }
    }

    Answer a;
    a.authenticated = ldns_pkt_ad(pkt);
    std::size_t kept = 0;
    std::size_t txt_bytes = 0;
    std::uint32_t set_ttl = std::numeric_limits<std::uint32_t>::max();
    for (std::size_t i = 0; i < count && kept < LdnsResolver::max_records; ++i) {
        const ldns_rr* rr = rr_at(i);
        if (!owned_by(rr, owner, q.qtype)) continue;
        if (!add_record(a, rr, type, txt_bytes))
            return tempfail(std::string("malformed ") + type_name(type) + " record");
        set_ttl = std::min(set_ttl, rr_ttl(rr));
        ++kept;
    }
    if (kept > 0 && rcode == LDNS_RCODE_NOERROR) {
        a.status = Status::ok;
        a.ttl = std::min(ttl, set_ttl);
        return a;
    }
    Answer neg;
    neg.authenticated = a.authenticated;
    neg.status = rcode == LDNS_RCODE_NXDOMAIN ? Status::nxdomain : Status::nodata;
    // RFC 2308 §5: a negative answer lives for min(SOA TTL, SOA MINIMUM); without SOA it is not cached.
    std::uint32_t neg_ttl = 0;
    const ldns_rr_list* auth = ldns_pkt_authority(pkt);
    for (std::size_t i = 0; auth != nullptr && i < ldns_rr_list_rr_count(auth); ++i) {
        const ldns_rr* rr = ldns_rr_list_rr(auth, i);
        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA) continue;
        const ldns_rdf* minimum = ldns_rr_rdf(rr, 6);
        if (minimum == nullptr || ldns_rdf_size(minimum) != 4) break;
        std::uint32_t m = ldns_rdf2native_int32(minimum);
        neg_ttl = std::min(rr_ttl(rr), m > 0x7fffffffU ? 0U : m);
        break;
    }
    neg.ttl = std::min(ttl, neg_ttl);
    return neg;
}

}  // namespace

Answer parse_answer(const std::uint8_t* message, std::size_t size, std::string_view name, RrType type) {
    std::vector<std::uint8_t> wire_name = name_to_wire(name);
    if (wire_name.empty()) {
        Answer a;
        a.status = Status::nxdomain;
        return a;
    }
    LdnsRdf qname(ldns_dname_new_frm_data(static_cast<std::uint16_t>(wire_name.size()), wire_name.data()));
    if (!qname) return tempfail("out of memory");
    Query q;
    q.id = size >= 2 ? static_cast<std::uint16_t>((message[0] << 8) | message[1]) : 0;
    q.qname = qname.get();
    q.qtype = static_cast<ldns_rr_type>(type);
    std::string why;
    LdnsPkt pkt = match_reply(q, message, size, &why);
    if (!pkt) return tempfail(why);
    if (ldns_pkt_tc(pkt.get())) return tempfail("truncated");
    bool next_server = false;
    return parse_reply(pkt.get(), q, type, &next_server);
}

std::vector<ServerAddress> parse_server_list(std::string_view text) {
    std::vector<ServerAddress> servers;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto is_sep = [](char c) { return c == ',' || c == ' ' || c == '\t'; };
        while (pos < text.size() && is_sep(text[pos])) ++pos;
        std::size_t end = pos;
        while (end < text.size() && !is_sep(text[end])) ++end;
        if (end > pos) {
            if (servers.size() == max_servers)
                throw std::invalid_argument("more than " + std::to_string(max_servers) + " DNS servers");
            servers.push_back(parse_one_server(text.substr(pos, end - pos)));
        }
        pos = end;
    }
    if (servers.empty()) throw std::invalid_argument("empty DNS server list");
    return servers;
}

std::string normalize_name(std::string_view name) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    return lower(name);
}

std::vector<std::uint8_t> name_to_wire(std::string_view name) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty() || name.size() > 253) return {};
    std::vector<std::uint8_t> wire;
    wire.reserve(name.size() + 2);
    std::size_t pos = 0;
    for (;;) {
        std::size_t dot = name.find('.', pos);
        std::size_t end = dot == std::string_view::npos ? name.size() : dot;
        std::size_t len = end - pos;
        if (len == 0 || len > 63) return {};
        wire.push_back(static_cast<std::uint8_t>(len));
        wire.insert(wire.end(), name.begin() + static_cast<std::ptrdiff_t>(pos),
                    name.begin() + static_cast<std::ptrdiff_t>(end));
        if (dot == std::string_view::npos) break;
        pos = dot + 1;
    }
    wire.push_back(0);
    return wire;
}

LdnsResolver::LdnsResolver(const Options& options)
    : servers_(options.server.empty() ? servers_from_resolv_conf() : parse_server_list(options.server)),
      timeout_(options.timeout),
      retries_(options.retries),
      edns_(options.edns) {
    if (timeout_.count() <= 0) throw std::invalid_argument("DNS timeout must be positive");
    if (retries_ > 10) throw std::invalid_argument("DNS retries must be at most 10");
}

Answer LdnsResolver::query(std::string_view name, RrType type) {
    auto start = Clock::now();
    std::vector<std::uint8_t> wire_name = name_to_wire(name);
    if (wire_name.empty()) {
        Answer a;
        a.status = Status::nxdomain;
        return a;
    }
    LdnsRdf qname(ldns_dname_new_frm_data(static_cast<std::uint16_t>(wire_name.size()), wire_name.data()));
    if (!qname) return tempfail("out of memory");

    const std::size_t attempts = servers_.size() * (1 + static_cast<std::size_t>(retries_));
    std::vector<bool> server_done(servers_.size(), false);
    std::string last_error = "timeout";
    for (std::size_t attempt = 0; attempt < attempts; ++attempt) {
        std::size_t si = attempt % servers_.size();
        if (server_done[si]) continue;
        auto deadline = start + timeout_ * static_cast<long>(attempt + 1) / static_cast<long>(attempts);
        if (Clock::now() >= deadline) continue;

        // A fresh ID per attempt: a late reply to an earlier attempt went to its own closed socket.
        LdnsRdf name_copy(ldns_rdf_clone(qname.get()));
        if (!name_copy) return tempfail("out of memory");
        LdnsPkt pkt(ldns_pkt_query_new(name_copy.release(), static_cast<ldns_rr_type>(type), LDNS_RR_CLASS_IN,
                                       LDNS_RD | LDNS_AD));
        if (!pkt) return tempfail("out of memory");
        Query q;
        q.id = random_id();
        ldns_pkt_set_id(pkt.get(), q.id);
        if (edns_) {
            ldns_pkt_set_edns_udp_size(pkt.get(), edns_udp_size);
            ldns_pkt_set_edns_do(pkt.get(), false);
        }
        std::uint8_t* raw_wire = nullptr;
        std::size_t wire_size = 0;
        if (ldns_pkt2wire(&raw_wire, pkt.get(), &wire_size) != LDNS_STATUS_OK || raw_wire == nullptr)
            return tempfail("cannot encode query");
        LdnsWire wire(raw_wire);
        q.wire.assign(wire.get(), wire.get() + wire_size);
        q.qname = qname.get();
        q.qtype = static_cast<ldns_rr_type>(type);

        const ServerAddress& server = servers_[si];
        Exchange ex = exchange_udp(server, q, deadline);
        if (ex.kind == Exchange::Kind::reply && ldns_pkt_tc(ex.pkt.get())) ex = exchange_tcp(server, q, deadline);
        if (ex.kind != Exchange::Kind::reply) {
            last_error = std::move(ex.error);
            continue;
        }
        bool next_server = false;
        Answer a = parse_reply(ex.pkt.get(), q, type, &next_server);
        if (!next_server) return a;
        last_error = std::move(a.error);
        server_done[si] = true;
        if (std::all_of(server_done.begin(), server_done.end(), [](bool b) { return b; })) break;
    }
    return tempfail(last_error);
}

}  // namespace mailmoat::dns
