// common/milter/runner.cpp - libmilter glue: registration, negotiation, sockets, noexcept trampolines.
#include "common/milter/runner.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <grp.h>
#include <libmilter/mfapi.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <exception>
#include <set>

#include "common/log/logger.hpp"

// libmilter's signal thread would turn SIGHUP into "stop"; see Runner's class comment.
extern "C" int sigwait(const sigset_t* set, int* sig) {
    using Fn = int (*)(const sigset_t*, int*);
    static const Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "sigwait"));
    Dl_info info{};
    const char* base = nullptr;
    if (dladdr(__builtin_return_address(0), &info) != 0 && info.dli_fname != nullptr)
        base = std::strrchr(info.dli_fname, '/') != nullptr ? std::strrchr(info.dli_fname, '/') + 1 : info.dli_fname;
    if (base != nullptr && std::strncmp(base, "libmilter.so", 12) == 0) {
        for (;;) pause();  // the daemon's own signal loop handles HUP/TERM/INT
    }
    if (real == nullptr) return ENOSYS;
    return real(set, sig);
}

namespace mailmoat::milter {
namespace {

std::atomic<Runner*> g_runner{nullptr};
std::atomic<unsigned long> g_last_protocol{0};  // for connections reused after QUIT_NC

constexpr std::size_t max_args = 64;   // ESMTP arguments per MAIL/RCPT looked at
constexpr std::size_t max_header_name = 256;

std::uint32_t stage_no_flag(Stage s) {
    switch (s) {
    case Stage::connect: return SMFIP_NOCONNECT;
    case Stage::helo: return SMFIP_NOHELO;
    case Stage::envfrom: return SMFIP_NOMAIL;
    case Stage::envrcpt: return SMFIP_NORCPT;
    case Stage::data: return SMFIP_NODATA;
    case Stage::header: return SMFIP_NOHDRS;
    case Stage::eoh: return SMFIP_NOEOH;
    case Stage::body: return SMFIP_NOBODY;
    case Stage::unknown: return SMFIP_NOUNKNOWN;
    case Stage::eom: return 0;
    }
    return 0;
}

std::uint32_t stage_nr_flag(Stage s) {
    switch (s) {
    case Stage::connect: return SMFIP_NR_CONN;
    case Stage::helo: return SMFIP_NR_HELO;
    case Stage::envfrom: return SMFIP_NR_MAIL;
    case Stage::envrcpt: return SMFIP_NR_RCPT;
    case Stage::data: return SMFIP_NR_DATA;
    case Stage::header: return SMFIP_NR_HDR;
    case Stage::eoh: return SMFIP_NR_EOH;
    case Stage::body: return SMFIP_NR_BODY;
    case Stage::unknown: return SMFIP_NR_UNKN;
    case Stage::eom: return 0;
    }
    return 0;
}

const char* stage_name(Stage s) {
    switch (s) {
    case Stage::connect: return "connect";
    case Stage::helo: return "helo";
    case Stage::envfrom: return "mail";
    case Stage::envrcpt: return "rcpt";
    case Stage::data: return "data";
    case Stage::header: return "header";
    case Stage::eoh: return "eoh";
    case Stage::body: return "body";
    case Stage::eom: return "eom";
    case Stage::unknown: return "unknown";
    }
    return "?";
}

unsigned long action_flags(const Actions& a) {
    unsigned long f = 0;
    if (a.add_headers) f |= SMFIF_ADDHDRS;
    if (a.change_headers) f |= SMFIF_CHGHDRS;
    if (a.change_body) f |= SMFIF_CHGBODY;
    if (a.add_rcpt) f |= SMFIF_ADDRCPT | SMFIF_ADDRCPT_PAR;
    if (a.del_rcpt) f |= SMFIF_DELRCPT;
    if (a.change_from) f |= SMFIF_CHGFROM;
    if (a.quarantine) f |= SMFIF_QUARANTINE;
    return f;
}

bool valid_header_name(std::string_view name) {
    if (name.empty() || name.size() > max_header_name) return false;
    for (char c : name)  // RFC 5322 §3.6.8 ftext
        if (c < 33 || c > 126 || c == ':') return false;
    return true;
}

bool valid_header_value(std::string_view value) { return value.find('\0') == std::string_view::npos; }

bool valid_mailbox_arg(std::string_view text) {
    return !text.empty() && text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

Outcome mi(int r) { return r == MI_SUCCESS ? Outcome::ok : Outcome::failed; }

/// Context over one libmilter connection.
class LibmilterContext final : public Context {
public:
    LibmilterContext(SMFICTX* ctx, const Actions& actions) : ctx_(ctx), actions_(actions) {}

    std::optional<std::string> macro(std::string_view name) const override {
        std::string n(name);
        const char* v = smfi_getsymval(ctx_, n.data());
        if (v == nullptr) return std::nullopt;
        return std::string(v);
    }

    Outcome set_reply(std::string_view rcode, std::string_view xcode, const std::vector<std::string>& lines) override {
        if (!valid_reply(rcode, xcode, lines)) return Outcome::invalid;
        std::string r(rcode), x(xcode);
        char* xp = x.empty() ? nullptr : x.data();
        if (lines.size() == 1) {
            std::string l = lines[0];
            return mi(smfi_setreply(ctx_, r.data(), xp, l.data()));
        }
        std::array<const char*, 33> p{};
        for (std::size_t i = 0; i < lines.size(); ++i) p[i] = lines[i].c_str();
        return mi(smfi_setmlreply(ctx_, r.c_str(), xp, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9],
                                  p[10], p[11], p[12], p[13], p[14], p[15], p[16], p[17], p[18], p[19], p[20],
                                  p[21], p[22], p[23], p[24], p[25], p[26], p[27], p[28], p[29], p[30], p[31],
                                  static_cast<const char*>(nullptr)));
    }

    Outcome add_header(std::string_view name, std::string_view value) override {
        if (!actions_.add_headers || !valid_header_name(name) || !valid_header_value(value)) return Outcome::invalid;
        std::string n(name), v(value);
        return mi(smfi_addheader(ctx_, n.data(), v.data()));
    }
    Outcome insert_header(int index, std::string_view name, std::string_view value) override {
        if (!actions_.add_headers || index < 0 || !valid_header_name(name) || !valid_header_value(value))
            return Outcome::invalid;
        std::string n(name), v(value);
        return mi(smfi_insheader(ctx_, index, n.data(), v.data()));
    }
    Outcome change_header(std::string_view name, int index, std::string_view value) override {
        if (!actions_.change_headers || index < 1 || !valid_header_name(name) || !valid_header_value(value))
            return Outcome::invalid;
        std::string n(name), v(value);
        return mi(smfi_chgheader(ctx_, n.data(), index, value.empty() ? nullptr : v.data()));
    }
    Outcome add_rcpt(std::string_view rcpt, std::string_view args) override {
        if (!actions_.add_rcpt || !valid_mailbox_arg(rcpt)) return Outcome::invalid;
        std::string r(rcpt), a(args);
        if (args.empty()) return mi(smfi_addrcpt(ctx_, r.data()));
        if (!valid_mailbox_arg(args)) return Outcome::invalid;
        return mi(smfi_addrcpt_par(ctx_, r.data(), a.data()));
    }
    Outcome del_rcpt(std::string_view rcpt) override {
        if (!actions_.del_rcpt || !valid_mailbox_arg(rcpt)) return Outcome::invalid;
        std::string r(rcpt);
        return mi(smfi_delrcpt(ctx_, r.data()));
    }
    Outcome change_from(std::string_view sender, std::string_view args) override {
        if (!actions_.change_from || !valid_mailbox_arg(sender)) return Outcome::invalid;
        if (!args.empty() && !valid_mailbox_arg(args)) return Outcome::invalid;
        std::string s(sender), a(args);
        return mi(smfi_chgfrom(ctx_, s.data(), args.empty() ? nullptr : a.data()));
    }
    Outcome quarantine(std::string_view reason) override {
        if (!actions_.quarantine || !valid_mailbox_arg(reason)) return Outcome::invalid;
        std::string r(reason);
        return mi(smfi_quarantine(ctx_, r.data()));
    }
    Outcome replace_body_chunk(std::string_view chunk) override {
        if (!actions_.change_body || chunk.size() > 65535) return Outcome::invalid;
        std::string c(chunk);
        return mi(smfi_replacebody(ctx_, reinterpret_cast<unsigned char*>(c.data()), static_cast<int>(c.size())));
    }

private:
    SMFICTX* ctx_;
    const Actions& actions_;
};

/// Everything kept per MTA connection, owned through libmilter's private-data pointer.
struct Connection {
    Connection(SMFICTX* ctx, const Actions& actions, unsigned long proto) : context(ctx, actions), protocol(proto) {}
    LibmilterContext context;
    std::unique_ptr<Session> session;  // created at the first callback that needs it
    unsigned long protocol;            // negotiated SMFIP_* flags
    std::optional<Status> pending;     // verdict returned at a no-reply stage, given at the next reply
    std::string queue_id;              // for log lines
};

}  // namespace

struct Runner::Internals {
    static Runner* runner() noexcept { return g_runner.load(); }

    static Connection* make_connection(Runner& r, SMFICTX* ctx, unsigned long protocol) {
        auto c = std::make_unique<Connection>(ctx, r.options_.actions, protocol);
        if (smfi_setpriv(ctx, c.get()) != MI_SUCCESS) return nullptr;
        ++r.live_;
        return c.release();
    }

    static void free_connection(Runner* r, SMFICTX* ctx) noexcept {
        auto* c = static_cast<Connection*>(smfi_getpriv(ctx));
        if (c == nullptr) return;
        (void)smfi_setpriv(ctx, nullptr);
        delete c;
        if (r != nullptr) --r->live_;
    }

    /// The connection and its session; creates them on first use. Throws when the factory does.
    static Connection& connection(Runner& r, SMFICTX* ctx) {
        auto* c = static_cast<Connection*>(smfi_getpriv(ctx));
        if (c == nullptr) {
            c = make_connection(r, ctx, g_last_protocol.load());
            if (c == nullptr) throw std::runtime_error("smfi_setpriv failed");
        }
        if (!c->session) {
            auto factory = r.factory_.with_lock([](auto& f) { return f; });
            if (!factory || !*factory) throw std::runtime_error("no session factory");
            c->session = (*factory)();
            if (!c->session) throw std::runtime_error("session factory returned no session");
            c->session->attach(&c->context);
        }
        return *c;
    }

    static sfsistat to_smfis(Status s, Stage stage, unsigned long protocol) {
        switch (s) {
        case Status::continue_: return SMFIS_CONTINUE;
        case Status::accept: return SMFIS_ACCEPT;
        case Status::reject: return SMFIS_REJECT;
        case Status::tempfail: return SMFIS_TEMPFAIL;
        case Status::discard: return SMFIS_DISCARD;
        case Status::skip:
            return stage == Stage::body && (protocol & SMFIP_SKIP) != 0 ? SMFIS_SKIP : SMFIS_CONTINUE;
        }
        return SMFIS_TEMPFAIL;
    }

    /// Turns a session verdict into libmilter's answer, honouring no-reply stages.
    static sfsistat answer(Connection& c, Stage stage, Status s) {
        const auto nr = stage_nr_flag(stage);
        if (nr != 0 && (c.protocol & nr) != 0) {
            if (s != Status::continue_ && s != Status::skip && !c.pending) {
                log::warning().queue_id(c.queue_id).kv("stage", stage_name(stage))
                    .msg("verdict at a no-reply stage; given at the next reply");
                c.pending = s;
            }
            return SMFIS_NOREPLY;
        }
        if (c.pending && s == Status::continue_) {
            s = *c.pending;
            c.pending.reset();
        }
        if (ends_message(stage, s)) end_message(c);
        return to_smfis(s, stage, c.protocol);
    }

    /// True when libmilter ends the mail transaction on this answer without an abort callback:
    /// a final verdict inside a message (a rejected recipient ends only that recipient).
    static bool ends_message(Stage stage, Status s) {
        if (s == Status::continue_ || s == Status::skip) return false;
        switch (stage) {
        case Stage::envfrom:
        case Stage::data:
        case Stage::header:
        case Stage::eoh:
        case Stage::body: return true;
        case Stage::envrcpt: return s == Status::accept || s == Status::discard;
        default: return false;  // connection stages; eom resets itself; unknown commands
        }
    }

    static void log_exception(SMFICTX* ctx, const char* where, const char* what) noexcept {
        try {
            auto* c = static_cast<Connection*>(smfi_getpriv(ctx));
            log::error().queue_id(c != nullptr ? c->queue_id : std::string()).kv("stage", where)
                .kv("error", what).kv("action", "tempfail");
        } catch (...) {
        }
    }

    /// Runs one callback; never lets an exception reach libmilter.
    template <class Fn>
    static sfsistat guarded(SMFICTX* ctx, Stage stage, Fn&& fn) noexcept {
        try {
            Runner* r = runner();
            if (r == nullptr) return SMFIS_TEMPFAIL;
            Connection& c = connection(*r, ctx);
            if (c.queue_id.empty()) {
                if (const char* q = smfi_getsymval(ctx, const_cast<char*>("i")); q != nullptr) c.queue_id = q;
            }
            return answer(c, stage, fn(c));
        } catch (const std::exception& e) {
            log_exception(ctx, stage_name(stage), e.what());
        } catch (...) {
            log_exception(ctx, stage_name(stage), "unknown exception");
        }
        try {
            auto* c = static_cast<Connection*>(smfi_getpriv(ctx));
            const auto nr = stage_nr_flag(stage);
            if (c != nullptr && nr != 0 && (c->protocol & nr) != 0) {
                c->pending = Status::tempfail;
                return SMFIS_NOREPLY;
            }
            if (c != nullptr && ends_message(stage, Status::tempfail)) end_message(*c);
        } catch (...) {
        }
        return SMFIS_TEMPFAIL;
    }

    static void end_message(Connection& c) noexcept {
        c.pending.reset();
        c.queue_id.clear();
        try {
            if (c.session) c.session->reset();
        } catch (const std::exception& e) {
            log::error().kv("stage", "reset").kv("error", e.what());
        } catch (...) {
            log::error().kv("stage", "reset").kv("error", "unknown exception");
        }
    }

    static std::vector<std::string_view> args(char** argv) {
        std::vector<std::string_view> out;
        for (std::size_t i = 0; argv != nullptr && argv[i] != nullptr && i < max_args; ++i) out.emplace_back(argv[i]);
        return out;
    }

    // ---- trampolines ----
    static sfsistat negotiate(SMFICTX* ctx, unsigned long f0, unsigned long f1, unsigned long, unsigned long,
                              unsigned long* pf0, unsigned long* pf1, unsigned long* pf2, unsigned long* pf3) noexcept {
        try {
            Runner* r = runner();
            if (r == nullptr) return SMFIS_REJECT;
            const auto& o = r->options_;
            unsigned long actions = action_flags(o.actions);
            if ((f0 & actions) != actions) {
                log::error().kv("offered_actions", static_cast<std::uint64_t>(f0))
                    .kv("needed_actions", static_cast<std::uint64_t>(actions))
                    .msg("MTA does not allow the modifications this milter needs");
                return SMFIS_REJECT;
            }
            unsigned long proto = 0;
            for (auto s : {Stage::connect, Stage::helo, Stage::envfrom, Stage::envrcpt, Stage::data, Stage::header,
                           Stage::eoh, Stage::body, Stage::unknown}) {
                if (!o.stages.has(s)) proto |= stage_no_flag(s) | stage_nr_flag(s);
                else if (o.no_reply.has(s)) proto |= stage_nr_flag(s);
            }
            proto |= SMFIP_SKIP;
            proto &= f1;  // ask only for what the MTA offers; the rest is handled per connection
            const bool want_macros = !o.macros.empty() && (f0 & SMFIF_SETSYMLIST) != 0;
            if (want_macros) actions |= SMFIF_SETSYMLIST;
            *pf0 = actions;
            *pf1 = proto;
            *pf2 = 0;
            *pf3 = 0;
            if (want_macros) {
                for (const auto& [stage, list] : o.macros) {
                    if (list.empty()) continue;
                    std::string l = list;
                    if (smfi_setsymlist(ctx, static_cast<int>(stage), l.data()) != MI_SUCCESS)
                        log::warning().kv("macro_stage", static_cast<int>(stage)).kv("macros", list)
                            .msg("smfi_setsymlist failed");
                }
            }
            g_last_protocol.store(proto);
            // A connection negotiated here; a stale one (never expected) is freed first.
            free_connection(r, ctx);
            if (make_connection(*r, ctx, proto) == nullptr) return SMFIS_REJECT;
            return SMFIS_CONTINUE;
        } catch (const std::exception& e) {
            log_exception(ctx, "negotiate", e.what());
        } catch (...) {
            log_exception(ctx, "negotiate", "unknown exception");
        }
        free_connection(runner(), ctx);
        return SMFIS_REJECT;
    }

    static sfsistat connect(SMFICTX* ctx, char* host, _SOCK_ADDR* addr) noexcept {
        return guarded(ctx, Stage::connect, [&](Connection& c) {
            ConnectInfo info;
            if (host != nullptr) info.host_name = host;
            if (addr != nullptr) {
                if (addr->sa_family == AF_INET) {
                    sockaddr_in in{};
                    std::memcpy(&in, addr, sizeof in);
                    info.family = ConnectInfo::Family::inet;
                    info.address = util::IpAddress::from_bytes(reinterpret_cast<const std::uint8_t*>(&in.sin_addr), true);
                    info.port = ntohs(in.sin_port);
                } else if (addr->sa_family == AF_INET6) {
                    sockaddr_in6 in6{};
                    std::memcpy(&in6, addr, sizeof in6);
                    info.family = ConnectInfo::Family::inet6;
                    info.address = util::IpAddress::from_bytes(in6.sin6_addr.s6_addr, false);
                    info.port = ntohs(in6.sin6_port);
                } else if (addr->sa_family == AF_UNIX) {
                    info.family = ConnectInfo::Family::unix_path;
                    const auto* un = reinterpret_cast<const sockaddr_un*>(addr);
                    info.unix_path.assign(un->sun_path, strnlen(un->sun_path, sizeof un->sun_path));
                }
            }
            return c.session->on_connect(info);
        });
    }
    static sfsistat helo(SMFICTX* ctx, char* name) noexcept {
        return guarded(ctx, Stage::helo, [&](Connection& c) { return c.session->on_helo(name != nullptr ? name : ""); });
    }
    static sfsistat envfrom(SMFICTX* ctx, char** argv) noexcept {
        return guarded(ctx, Stage::envfrom, [&](Connection& c) { return c.session->on_envfrom(args(argv)); });
    }
    static sfsistat envrcpt(SMFICTX* ctx, char** argv) noexcept {
        return guarded(ctx, Stage::envrcpt, [&](Connection& c) { return c.session->on_envrcpt(args(argv)); });
    }
    static sfsistat data(SMFICTX* ctx) noexcept {
        return guarded(ctx, Stage::data, [&](Connection& c) { return c.session->on_data(); });
    }
    static sfsistat header(SMFICTX* ctx, char* name, char* value) noexcept {
        return guarded(ctx, Stage::header, [&](Connection& c) {
            return c.session->on_header(name != nullptr ? name : "", value != nullptr ? value : "");
        });
    }
    static sfsistat eoh(SMFICTX* ctx) noexcept {
        return guarded(ctx, Stage::eoh, [&](Connection& c) { return c.session->on_eoh(); });
    }
    static sfsistat body(SMFICTX* ctx, unsigned char* chunk, size_t len) noexcept {
        return guarded(ctx, Stage::body, [&](Connection& c) {
            return c.session->on_body(std::string_view(reinterpret_cast<const char*>(chunk), chunk != nullptr ? len : 0));
        });
    }
    static sfsistat eom(SMFICTX* ctx) noexcept {
        const sfsistat r = guarded(ctx, Stage::eom, [&](Connection& c) {
            if (c.pending) return Status::continue_;  // answer() substitutes the kept verdict
            Modifier m(c.context);
            return c.session->on_eom(m);
        });
        if (auto* c = static_cast<Connection*>(smfi_getpriv(ctx)); c != nullptr) end_message(*c);
        return r;
    }
    static sfsistat abort(SMFICTX* ctx) noexcept {
        auto* c = static_cast<Connection*>(smfi_getpriv(ctx));
        if (c == nullptr) return SMFIS_CONTINUE;
        try {
            if (c->session) c->session->on_abort();
        } catch (const std::exception& e) {
            log_exception(ctx, "abort", e.what());
        } catch (...) {
            log_exception(ctx, "abort", "unknown exception");
        }
        end_message(*c);
        return SMFIS_CONTINUE;
    }
    static sfsistat close(SMFICTX* ctx) noexcept {
        auto* c = static_cast<Connection*>(smfi_getpriv(ctx));
        if (c == nullptr) return SMFIS_CONTINUE;
        try {
            if (c->session) c->session->on_close();
        } catch (const std::exception& e) {
            log_exception(ctx, "close", e.what());
        } catch (...) {
            log_exception(ctx, "close", "unknown exception");
        }
        free_connection(runner(), ctx);
        return SMFIS_CONTINUE;
    }
    static sfsistat unknown(SMFICTX* ctx, const char* cmd) noexcept {
        return guarded(ctx, Stage::unknown, [&](Connection& c) { return c.session->on_unknown(cmd != nullptr ? cmd : ""); });
    }
};

namespace {

OpenResult fail(OpenResult::Code code, std::string message) { return {code, std::move(message)}; }

std::string errno_text(int e) { return std::strerror(e); }

std::set<int> open_fds() {
    std::set<int> fds;
    if (DIR* d = opendir("/proc/self/fd"); d != nullptr) {
        const int own = dirfd(d);
        while (dirent* e = readdir(d)) {
            if (e->d_name[0] == '.') continue;
            if (const int fd = std::atoi(e->d_name); fd != own) fds.insert(fd);
        }
        closedir(d);
    }
    return fds;
}

/// The listening socket libmilter opened: a new fd, listening, on our port (any UNIX socket for port 0).
int find_listener(const std::set<int>& before, std::uint16_t port) {
    for (int fd : open_fds()) {
        if (before.count(fd) != 0) continue;
        int listening = 0;
        socklen_t len = sizeof listening;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || listening == 0) continue;
        sockaddr_storage ss{};
        socklen_t sl = sizeof ss;
        if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl) != 0) continue;
        std::uint16_t p = 0;
        if (ss.ss_family == AF_INET) p = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
        else if (ss.ss_family == AF_INET6) p = ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
        else if (ss.ss_family != AF_UNIX) continue;
        if (p == port) return fd;
    }
    return -1;
}

/// connect() to a UNIX socket path: 1 someone accepts, 0 nobody, -1 error.
int unix_alive(const std::string& path) {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    if (path.size() >= sizeof un.sun_path) return -1;
    std::memcpy(un.sun_path, path.data(), path.size());
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    const int r = ::connect(fd, reinterpret_cast<sockaddr*>(&un), sizeof un);
    const int e = errno;
    ::close(fd);
    if (r == 0) return 1;
    return (e == ECONNREFUSED || e == ENOENT) ? 0 : -1;
}

/// Connects to the listening socket and closes at once, to wake libmilter's poll() after smfi_stop().
/// False when the connection could not be made (e.g. no permission on the UNIX socket any more).
bool poke(const util::SocketSpec& spec) noexcept {
    if (spec.family == util::SocketSpec::Family::unix_path) return unix_alive(spec.path) == 1;
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (spec.family == util::SocketSpec::Family::inet) {
        auto* in = reinterpret_cast<sockaddr_in*>(&ss);
        in->sin_family = AF_INET;
        in->sin_port = htons(spec.port);
        if (inet_pton(AF_INET, spec.host.c_str(), &in->sin_addr) != 1) in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (in->sin_addr.s_addr == htonl(INADDR_ANY)) in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *in;
    } else {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(spec.port);
        if (inet_pton(AF_INET6, spec.host.c_str(), &in6->sin6_addr) != 1 || IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
            in6->sin6_addr = in6addr_loopback;
        len = sizeof *in6;
    }
    const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const int r = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
    ::close(fd);
    return r == 0;
}

/// "user[:group]" to ids; false and *error on unknown names.
bool owner_ids(const std::string& owner, uid_t& uid, gid_t& gid, std::string& error) {
    const auto colon = owner.find(':');
    const std::string user = owner.substr(0, colon);
    uid = static_cast<uid_t>(-1);
    gid = static_cast<gid_t>(-1);
    if (!user.empty()) {
        const passwd* pw = getpwnam(user.c_str());
        if (pw == nullptr) { error = "unknown user '" + user + "'"; return false; }
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    if (colon != std::string::npos) {
        const std::string name = owner.substr(colon + 1);
        const struct group* gr = getgrnam(name.c_str());
        if (gr == nullptr) { error = "unknown group '" + name + "'"; return false; }
        gid = gr->gr_gid;
    }
    return true;
}

}  // namespace

Runner::Runner(RunnerOptions options, SessionFactory factory)
    : options_(std::move(options)),
      factory_(std::in_place, std::make_shared<const SessionFactory>(std::move(factory))) {}

Runner::~Runner() {
    stop();
    Runner* self = this;
    g_runner.compare_exchange_strong(self, nullptr);
}

void Runner::set_factory(SessionFactory factory) {
    auto f = std::make_shared<const SessionFactory>(std::move(factory));
    factory_.with_lock([&](auto& current) { current = std::move(f); });
}

OpenResult Runner::open() {
    Runner* expected = nullptr;
    if (opened_.load() || !g_runner.compare_exchange_strong(expected, this))
        return fail(OpenResult::Code::config_error, "a milter runner is already open in this process");
    opened_ = true;
    name_ = options_.name.empty() ? "mailmoat" : options_.name;
    conn_ = options_.socket.to_milter();

    smfiDesc desc{};
    desc.xxfi_name = name_.data();
    desc.xxfi_version = SMFI_VERSION;
    desc.xxfi_flags = action_flags(options_.actions);
    desc.xxfi_connect = &Internals::connect;
    desc.xxfi_helo = &Internals::helo;
    desc.xxfi_envfrom = &Internals::envfrom;
    desc.xxfi_envrcpt = &Internals::envrcpt;
    desc.xxfi_header = &Internals::header;
    desc.xxfi_eoh = &Internals::eoh;
    desc.xxfi_body = &Internals::body;
    desc.xxfi_eom = &Internals::eom;
    desc.xxfi_abort = &Internals::abort;
    desc.xxfi_close = &Internals::close;
    desc.xxfi_unknown = &Internals::unknown;
    desc.xxfi_data = &Internals::data;
    desc.xxfi_negotiate = &Internals::negotiate;
    if (smfi_register(desc) != MI_SUCCESS) return fail(OpenResult::Code::system_error, "smfi_register failed");
    if (smfi_setconn(conn_.data()) != MI_SUCCESS)
        return fail(OpenResult::Code::config_error, "smfi_setconn refused '" + conn_ + "'");
    if (smfi_settimeout(static_cast<int>(options_.timeout.count())) != MI_SUCCESS ||
        smfi_setbacklog(options_.backlog) != MI_SUCCESS)
        return fail(OpenResult::Code::config_error, "bad timeout or backlog");

    const bool is_unix = options_.socket.family == util::SocketSpec::Family::unix_path;
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    if (is_unix) {
        std::string error;
        if (!options_.socket_owner.empty() && !owner_ids(options_.socket_owner, uid, gid, error))
            return fail(OpenResult::Code::config_error, "socket-owner: " + error);
        struct stat st {};
        if (lstat(options_.socket.path.c_str(), &st) == 0) {
            if (!S_ISSOCK(st.st_mode))
                return fail(OpenResult::Code::system_error, options_.socket.path + " exists and is not a socket");
            const int alive = unix_alive(options_.socket.path);
            if (alive == 1)
                return fail(OpenResult::Code::system_error, "another process listens on " + options_.socket.path);
            if (unlink(options_.socket.path.c_str()) != 0)
                return fail(OpenResult::Code::system_error,
                            "cannot remove stale socket " + options_.socket.path + ": " + errno_text(errno));
            log::notice().kv("socket", options_.socket.path).msg("removed stale socket");
        }
    }
    const auto before = open_fds();
    if (smfi_opensocket(false) != MI_SUCCESS)
        return fail(OpenResult::Code::system_error, "cannot listen on " + options_.socket.to_postfix());
    listen_fd_ = find_listener(before, is_unix ? 0 : options_.socket.port);
    if (is_unix) {
        if ((uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1)) &&
            chown(options_.socket.path.c_str(), uid, gid) != 0)
            return fail(OpenResult::Code::system_error, "chown " + options_.socket.path + ": " + errno_text(errno));
        if (chmod(options_.socket.path.c_str(), options_.socket_mode & 07777) != 0)
            return fail(OpenResult::Code::system_error, "chmod " + options_.socket.path + ": " + errno_text(errno));
    } else if (options_.tcp_nodelay) {
        const int one = 1;
        if (listen_fd_ < 0 || setsockopt(listen_fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
            log::warning().kv("socket", options_.socket.to_postfix())
                .msg("could not set TCP_NODELAY on the listening socket; replies may stall ~40 ms");
    }
    return {};
}

bool Runner::start() {
    if (g_runner.load() != this || running_.load() || thread_.joinable() || stopped_.load()) return false;
    running_ = true;
    thread_ = std::thread([this] {
        const int r = smfi_main();
        main_result_ = r;
        if (r != MI_SUCCESS) log::error().msg("smfi_main failed");
        running_ = false;
    });
    return true;
}

void Runner::stop() noexcept {
    if (stopped_.exchange(true)) return;
    try {
        log::debug().msg("stopping the milter loop");
        if (thread_.joinable()) {
            std::thread stopper([] { (void)smfi_stop(); });
            // libmilter polls its listening socket holding a lock for up to 5 s; a connection wakes it.
            // When we may no longer connect (socket owned by root, privileges dropped), shutting the
            // listening socket down wakes it too, at the cost of libmilter's one-second accept-error pause.
            bool shut = false;
            for (int i = 0; i < 200 && running_.load(); ++i) {
                if (!poke(options_.socket) && !shut && i >= 10 && listen_fd_ >= 0) {
                    int listening = 0;
                    socklen_t len = sizeof listening;
                    if (getsockopt(listen_fd_, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening != 0)
                        (void)::shutdown(listen_fd_, SHUT_RDWR);
                    shut = true;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            stopper.join();
            thread_.join();
            log::debug().msg("milter loop ended");
        }
        const auto deadline = std::chrono::steady_clock::now() + options_.drain_timeout;
        while (live_.load() > 0 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (live_.load() > 0) log::warning().kv("connections", static_cast<std::uint64_t>(live_.load()))
            .msg("stopping with connections in flight");
        if (opened_.load() && options_.socket.family == util::SocketSpec::Family::unix_path &&
            unix_alive(options_.socket.path) != 1)
            (void)unlink(options_.socket.path.c_str());
    } catch (...) {
    }
}

}  // namespace mailmoat::milter
