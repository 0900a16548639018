// common/milter/milter_client.cpp - milter protocol v6 client: packet codec and a blocking MTA-side session.
#include "common/milter/milter_client.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace mailmoat::milter {
namespace wire {
namespace {

using proto::get32;
using proto::put32;

void put_str(std::string& s, std::string_view v) {
    s.append(v);
    s += '\0';
}

std::string args_data(const std::vector<std::string>& args) {
    std::string d;
    for (const auto& a : args) put_str(d, a);
    return d;
}

/// Splits NUL-terminated strings; false if the data does not end in NUL.
bool split_strings(std::string_view data, std::vector<std::string>& out) {
    while (!data.empty()) {
        const auto nul = data.find('\0');
        if (nul == std::string_view::npos) return false;
        out.emplace_back(data.substr(0, nul));
        data.remove_prefix(nul + 1);
    }
    return true;
}

}  // namespace

std::string packet(char command, std::string_view data) {
    std::string p;
    p.reserve(5 + data.size());
    proto::append_packet(p, command, data);
    return p;
}

std::string optneg(std::uint32_t version, std::uint32_t actions, std::uint32_t protocol) {
    std::string d;
    put32(d, version);
    put32(d, actions);
    put32(d, protocol);
    return packet('O', d);
}

std::string macros(char stage, const Macros& list) {
    std::string d(1, stage);
    for (const auto& [name, value] : list) {
        put_str(d, name);
        put_str(d, value);
    }
    return packet('D', d);
}

std::string connect(std::string_view host, char family, std::uint16_t port, std::string_view address) {
    std::string d;
    put_str(d, host);
    d += family;
    if (family != 'U') {
        d += static_cast<char>((port >> 8) & 0xff);
        d += static_cast<char>(port & 0xff);
        put_str(d, address);
    }
    return packet('C', d);
}

std::string helo(std::string_view name) {
    std::string d;
    put_str(d, name);
    return packet('H', d);
}

std::string mail(const std::vector<std::string>& args) { return packet('M', args_data(args)); }
std::string rcpt(const std::vector<std::string>& args) { return packet('R', args_data(args)); }

std::string header(std::string_view name, std::string_view value) {
    std::string d;
    put_str(d, name);
    put_str(d, value);
    return packet('L', d);
}

std::string body(std::string_view chunk) {
    if (chunk.size() > max_chunk) throw std::invalid_argument("milter body chunk larger than 65535 bytes");
    return packet('B', chunk);
}

std::string unknown(std::string_view command) {
    std::string d;
    put_str(d, command);
    return packet('U', d);
}

std::string simple(char command) { return packet(command, {}); }

Decode decode(std::string_view buf, std::size_t max_len, Packet* out, std::size_t* consumed) {
    if (buf.size() < 4) return Decode::incomplete;
    const std::uint32_t len = get32(buf);
    if (len == 0 || len > max_len) return Decode::malformed;
    if (buf.size() < 4 + static_cast<std::size_t>(len)) return Decode::incomplete;
    out->command = buf[4];
    out->data.assign(buf.substr(5, len - 1));
    *consumed = 4 + len;
    return Decode::ok;
}

std::optional<Negotiation> parse_optneg(const Packet& p) {
    if (p.command != 'O' || p.data.size() < 12) return std::nullopt;
    Negotiation n;
    std::string_view d(p.data);
    n.version = get32(d);
    n.actions = get32(d.substr(4));
    n.protocol = get32(d.substr(8));
    d.remove_prefix(12);
    while (!d.empty()) {  // macro lists: stage(4) names NUL
        if (d.size() < 5) return std::nullopt;
        const auto stage = static_cast<int>(get32(d));
        d.remove_prefix(4);
        const auto nul = d.find('\0');
        if (nul == std::string_view::npos || stage < 0 || stage > 6) return std::nullopt;
        std::vector<std::string> names;
        std::string_view list = d.substr(0, nul);
        while (!list.empty()) {
            const auto sp = list.find_first_of(" ,");
            if (sp != 0) names.emplace_back(list.substr(0, sp));
            if (sp == std::string_view::npos) break;
            list.remove_prefix(sp + 1);
        }
        n.macro_lists[stage] = std::move(names);
        d.remove_prefix(nul + 1);
    }
    return n;
}

}  // namespace wire

std::optional<Modification> parse_modification(const wire::Packet& p) {
    using K = Modification::Kind;
    Modification m;
    std::vector<std::string> s;
    std::string_view d(p.data);
    auto strings = [&](std::string_view data, std::size_t min, std::size_t max) {
        s.clear();
        return wire::split_strings(data, s) && s.size() >= min && s.size() <= max;
    };
    switch (p.command) {
    case 'h':
        if (!strings(d, 2, 2)) return std::nullopt;
        m.kind = K::add_header;
        break;
    case 'i':
    case 'm':
        if (d.size() < 4) return std::nullopt;
        m.index = wire::get32(d);
        if (!strings(d.substr(4), 2, 2)) return std::nullopt;
        m.kind = p.command == 'i' ? K::insert_header : K::change_header;
        break;
    case '+':
        if (!strings(d, 1, 1)) return std::nullopt;
        m.kind = K::add_rcpt;
        break;
    case '2':
        if (!strings(d, 1, 2)) return std::nullopt;
        m.kind = K::add_rcpt_par;
        break;
    case '-':
        if (!strings(d, 1, 1)) return std::nullopt;
        m.kind = K::del_rcpt;
        break;
    case 'e':
        if (!strings(d, 1, 2)) return std::nullopt;
        m.kind = K::change_from;
        break;
    case 'q':
        if (!strings(d, 1, 1)) return std::nullopt;
        m.kind = K::quarantine;
        break;
    case 'b':
        m.kind = K::replace_body;
        m.value = p.data;
        return m;
    default:
        return std::nullopt;
    }
    m.name = s[0];
    if (s.size() > 1) m.value = s[1];
    return m;
}

const char* verdict_name(StepReply::Verdict v) noexcept {
    using V = StepReply::Verdict;
    switch (v) {
    case V::continue_: return "continue";
    case V::accept: return "accept";
    case V::reject: return "reject";
    case V::tempfail: return "tempfail";
    case V::discard: return "discard";
    case V::skip: return "skip";
    case V::reply_code: return "reply_code";
    case V::shutdown: return "shutdown";
    case V::conn_fail: return "conn_fail";
    case V::no_reply: return "no_reply";
    case V::skipped: return "skipped";
    case V::error: return "error";
    }
    return "?";
}

namespace {

std::string strip_braces(std::string_view n) {
    if (n.size() >= 2 && n.front() == '{' && n.back() == '}') n = n.substr(1, n.size() - 2);
    return std::string(n);
}

}  // namespace

MilterClient::MilterClient(ClientOptions options) : options_(options) {}
MilterClient::~MilterClient() { close(); }

void MilterClient::close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    out_.clear();
    in_.clear();
}

StepReply MilterClient::fail(std::string text) {
    close();
    StepReply r;
    r.verdict = StepReply::Verdict::error;
    r.text = std::move(text);
    return r;
}

StepReply MilterClient::open(const util::SocketSpec& spec) {
    close();
    if (spec.family == util::SocketSpec::Family::unix_path) {
        sockaddr_un un{};
        un.sun_family = AF_UNIX;
        if (spec.path.size() >= sizeof un.sun_path) return fail("socket path too long");
        std::memcpy(un.sun_path, spec.path.data(), spec.path.size());
        fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&un), sizeof un) != 0)
            return fail(std::string("connect ") + spec.path + ": " + std::strerror(errno));
    } else {
        addrinfo hints{};
        hints.ai_family = spec.family == util::SocketSpec::Family::inet6 ? AF_INET6 : AF_INET;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICSERV;
        addrinfo* res = nullptr;
        const std::string port = std::to_string(spec.port);
        if (getaddrinfo(spec.host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr)
            return fail("cannot resolve " + spec.host);
        fd_ = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const int r = fd_ >= 0 ? ::connect(fd_, res->ai_addr, res->ai_addrlen) : -1;
        const int e = errno;
        freeaddrinfo(res);
        if (r != 0) return fail("connect " + spec.to_postfix() + ": " + std::strerror(e));
    }
    out_ += wire::optneg(wire::protocol_version, options_.actions, options_.protocol);
    if (!flush()) return fail("write: " + std::string(std::strerror(errno)));
    wire::Packet p;
    std::string error;
    if (!read_packet(p, error)) return fail("negotiation: " + error);
    auto n = wire::parse_optneg(p);
    if (!n) return fail("negotiation: malformed reply");
    if (n->version < 2 || n->version > wire::protocol_version) return fail("negotiation: unsupported version");
    if ((n->actions & ~options_.actions) != 0 || (n->protocol & ~options_.protocol) != 0)
        return fail("negotiation: milter asks for more than offered");
    neg_ = std::move(*n);
    skip_body_ = false;
    StepReply ok;
    ok.verdict = StepReply::Verdict::continue_;
    return ok;
}

bool MilterClient::flush() {
    std::size_t off = 0;
    while (off < out_.size()) {
        pollfd pfd{fd_, POLLOUT, 0};
        const int pr = poll(&pfd, 1, static_cast<int>(options_.timeout.count()));
        if (pr == 0) { errno = ETIMEDOUT; return false; }
        if (pr < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        const ssize_t n = ::send(fd_, out_.data() + off, out_.size() - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return false;
        }
        off += static_cast<std::size_t>(n);
    }
    out_.clear();
    return true;
}

bool MilterClient::read_packet(wire::Packet& p, std::string& error) {
    for (;;) {
        std::size_t used = 0;
        switch (wire::decode(in_, options_.max_packet, &p, &used)) {
        case wire::Decode::ok: in_.erase(0, used); return true;
        case wire::Decode::malformed: error = "malformed packet length"; return false;
        case wire::Decode::incomplete: break;
        }
        pollfd pfd{fd_, POLLIN, 0};
        const int pr = poll(&pfd, 1, static_cast<int>(options_.timeout.count()));
        if (pr == 0) { error = "timeout"; return false; }
        if (pr < 0) {
            if (errno == EINTR) continue;
            error = std::strerror(errno);
            return false;
        }
        if (options_.delayed_ack) {
            const int zero = 0;  // re-armed each time: the delayed-ACK timer ends the mode
            (void)setsockopt(fd_, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof zero);
        }
        char buf[65536];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n == 0) { error = "connection closed by milter"; return false; }
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            error = std::strerror(errno);
            return false;
        }
        in_.append(buf, static_cast<std::size_t>(n));
    }
}

StepReply MilterClient::read_reply(Event ev) {
    using V = StepReply::Verdict;
    StepReply r;
    if (!flush()) return fail("write: " + std::string(std::strerror(errno)));
    for (;;) {
        wire::Packet p;
        std::string error;
        if (!read_packet(p, error)) return fail(error);
        auto final_verdict = [&](V v) {
            if (!p.data.empty() && v != V::reply_code) return false;
            r.verdict = v;
            return true;
        };
        switch (p.command) {
        case 'c': if (final_verdict(V::continue_)) return r; break;
        case 'a': if (final_verdict(V::accept)) return r; break;
        case 'r': if (final_verdict(V::reject)) return r; break;
        case 't': if (final_verdict(V::tempfail)) return r; break;
        case 'd': if (final_verdict(V::discard)) return r; break;
        case '4': if (final_verdict(V::shutdown)) return r; break;
        case 'f': if (final_verdict(V::conn_fail)) return r; break;
        case 's':
            if (final_verdict(V::skip)) {
                if (ev == Event::body) skip_body_ = true;
                return r;
            }
            break;
        case 'y': {
            std::string text = p.data;
            if (!text.empty() && text.back() == '\0') text.pop_back();
            if (text.size() < 4 || (text[0] != '4' && text[0] != '5')) return fail("malformed reply code: " + text);
            r.verdict = V::reply_code;
            r.text = std::move(text);
            return r;
        }
        case 'p': continue;  // progress: keep waiting
        default:
            if (ev == Event::eom) {
                auto m = parse_modification(p);
                if (!m) return fail(std::string("malformed modification '") + p.command + "'");
                if (r.modifications.size() >= options_.max_modifications) return fail("too many modifications");
                r.modifications.push_back(std::move(*m));
                continue;
            }
            return fail(std::string("unexpected reply '") + p.command + "'");
        }
        return fail(std::string("reply '") + p.command + "' with unexpected data");
    }
}

StepReply MilterClient::step(Event ev, char macro_stage, int symlist_stage, const wire::Macros& macros,
                             const std::string& pkt) {
    using V = StepReply::Verdict;
    if (fd_ < 0) return fail("not connected");
    static constexpr struct { std::uint32_t no, nr; } flags[] = {
        {proto::p_noconnect, proto::p_nr_conn}, {proto::p_nohelo, proto::p_nr_helo},
        {proto::p_nomail, proto::p_nr_mail},    {proto::p_norcpt, proto::p_nr_rcpt},
        {proto::p_nodata, proto::p_nr_data},    {proto::p_nohdrs, proto::p_nr_hdr},
        {proto::p_noeoh, proto::p_nr_eoh},      {proto::p_nobody, proto::p_nr_body}, {0, 0},
        {proto::p_nounknown, proto::p_nr_unkn}};
    const auto f = flags[static_cast<int>(ev)];
    if (macro_stage != 0 && !macros.empty()) {
        wire::Macros send;
        auto wanted = symlist_stage >= 0 ? neg_.macro_lists.find(symlist_stage) : neg_.macro_lists.end();
        for (const auto& m : macros) {
            if (wanted != neg_.macro_lists.end()) {
                bool found = false;
                for (const auto& w : wanted->second) found = found || strip_braces(w) == strip_braces(m.first);
                if (!found) continue;
            }
            send.push_back(m);
        }
        if (!send.empty()) out_ += wire::macros(macro_stage, send);
    }
    StepReply r;
    if ((neg_.protocol & f.no) != 0 || (ev == Event::body && skip_body_)) {
        r.verdict = V::skipped;
        return r;
    }
    out_ += pkt;
    if ((neg_.protocol & f.nr) != 0) {
        if (out_.size() >= 65536 && !flush()) return fail("write: " + std::string(std::strerror(errno)));
        r.verdict = V::no_reply;
        return r;
    }
    return read_reply(ev);
}

StepReply MilterClient::connect(std::string_view host, char family, std::uint16_t port, std::string_view address,
                                const wire::Macros& macros) {
    return step(Event::connect, 'C', 0, macros, wire::connect(host, family, port, address));
}
StepReply MilterClient::helo(std::string_view name, const wire::Macros& macros) {
    return step(Event::helo, 'H', 1, macros, wire::helo(name));
}
StepReply MilterClient::mail(const std::vector<std::string>& args, const wire::Macros& macros) {
    skip_body_ = false;
    return step(Event::mail, 'M', 2, macros, wire::mail(args));
}
StepReply MilterClient::rcpt(const std::vector<std::string>& args, const wire::Macros& macros) {
    return step(Event::rcpt, 'R', 3, macros, wire::rcpt(args));
}
StepReply MilterClient::data(const wire::Macros& macros) { return step(Event::data, 'T', 4, macros, wire::simple('T')); }
StepReply MilterClient::header(std::string_view name, std::string_view value) {
    return step(Event::header, 0, -1, {}, wire::header(name, value));
}
StepReply MilterClient::eoh(const wire::Macros& macros) { return step(Event::eoh, 'N', 6, macros, wire::simple('N')); }

StepReply MilterClient::body(std::string_view data) {
    using V = StepReply::Verdict;
    StepReply last;
    last.verdict = V::continue_;
    do {
        const auto n = std::min(data.size(), wire::max_chunk);
        last = step(Event::body, 0, -1, {}, wire::body(data.substr(0, n)));
        data.remove_prefix(n);
        if (last.verdict != V::continue_ && last.verdict != V::no_reply) return last;
    } while (!data.empty());
    return last;
}

StepReply MilterClient::eom(const wire::Macros& macros) {
    auto r = step(Event::eom, 'E', 5, macros, wire::simple('E'));
    skip_body_ = false;
    return r;
}

StepReply MilterClient::unknown(std::string_view command) {
    return step(Event::unknown, 0, -1, {}, wire::unknown(command));
}

bool MilterClient::abort() {
    if (fd_ < 0) return false;
    skip_body_ = false;
    out_ += wire::simple('A');
    return flush();
}

void MilterClient::quit() noexcept {
    if (fd_ >= 0) {
        try {
            out_ += wire::simple('Q');
            (void)flush();
        } catch (...) {
        }
    }
    close();
}

bool MilterClient::send_raw(std::string_view bytes) {
    if (fd_ < 0) return false;
    out_.append(bytes);
    return flush();
}

}  // namespace mailmoat::milter
