// common/policy/server.cpp - policy server: listener setup, accept loop, per-connection request loop.
#include "common/policy/server.hpp"

#include <arpa/inet.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "common/log/logger.hpp"
#include "common/policy/io.hpp"
#include "common/util/ip_address.hpp"
#include "common/util/lock_guarded.hpp"

namespace mailmoat::policy {

using io::Clock;
using io::Fd;

struct Server::State {
    explicit State(ServerOptions o, std::shared_ptr<const Handler> h)
        : options(std::move(o)), handler(std::in_place, std::move(h)) {}

    const ServerOptions options;
    // The current handler; a connection copies the pointer under the lock (again only after a reload)
    // and runs requests without it.
    util::LockGuarded<std::shared_ptr<const Handler>> handler;
    // Bumped by set_handler(): connections keep their own copy of the handler pointer and take the
    // lock (and touch the shared reference count) only when this changed.
    std::atomic<std::uint64_t> handler_generation{1};
    // Connections open now, for the spin decision (mirrors `running`, read without the mutex).
    std::atomic<std::size_t> active{0};
    // CPUs besides one: connection threads spin only while active <= spin_cpus.
    const std::size_t spin_cpus = std::thread::hardware_concurrency() > 1 ? std::thread::hardware_concurrency() - 1 : 0;
    Fd stop_fd;  // eventfd, readable once stop() ran
    std::atomic<bool> stopping{false};
    Fd listen_fd;
    std::uint16_t port = 0;
    std::optional<std::pair<dev_t, ino_t>> unix_inode;  // the socket file we created
    bool stopped = false;

    std::atomic<std::uint64_t> connections_accepted{0};
    std::atomic<std::uint64_t> connections_refused{0};
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> malformed{0};
    std::atomic<std::uint64_t> handler_errors{0};
    std::atomic<std::uint64_t> timeouts{0};
    std::atomic<std::uint64_t> spins{0};
    std::atomic<std::uint64_t> spin_hits{0};

    std::mutex mutex;  // guards the members below
    std::condition_variable all_done;
    std::map<std::uint64_t, std::thread> threads;
    std::map<std::uint64_t, int> fds;  // open connection sockets, for stop() to wake their readers
    std::vector<std::uint64_t> finished;
    std::size_t running = 0;
    std::uint64_t next_id = 1;
};

namespace {

using State = Server::State;

std::string join_reason(std::string_view what, int err) { return std::string(what) + ": " + io::errno_text(err); }

// "user[:group]" -> uid, gid (gid -1 keeps the group unless the user's primary group applies).
std::pair<uid_t, gid_t> resolve_owner(const std::string& owner) {
    const auto colon = owner.find(':');
    const std::string user = owner.substr(0, colon);
    const std::string group = colon == std::string::npos ? std::string() : owner.substr(colon + 1);
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    std::vector<char> buf(16384);
    if (!user.empty()) {
        passwd pw{};
        passwd* found = nullptr;
        if (::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr)
            throw ServerError("socket owner: unknown user '" + user + "'");
        uid = pw.pw_uid;
        if (group.empty()) gid = pw.pw_gid;
    }
    if (!group.empty()) {
        struct group gr{};
        struct group* found = nullptr;
        if (::getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr)
            throw ServerError("socket owner: unknown group '" + group + "'");
        gid = gr.gr_gid;
    }
    return {uid, gid};
}

Fd listen_unix(State& st) {
    const auto& o = st.options;
    const std::string& path = o.socket.path;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path) throw ServerError("socket path '" + path + "' is empty or too long");
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

    struct stat sb {};
    if (::lstat(path.c_str(), &sb) == 0) {
        if (!S_ISSOCK(sb.st_mode))
            throw ServerError("socket path '" + path + "' exists and is not a socket; refusing to replace it");
        Fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (probe.valid() && ::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
            throw ServerError("socket path '" + path + "' is in use by a running server");
        if (::unlink(path.c_str()) != 0 && errno != ENOENT)
            throw ServerError(join_reason("cannot remove stale socket '" + path + "'", errno));
        log::notice().msg("removed stale socket").kv("path", path);
    }
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd.valid()) throw ServerError(join_reason("socket", errno));
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        throw ServerError(join_reason("bind " + path, errno));
    auto fail_unlink = [&](const std::string& why) {
        ::unlink(path.c_str());
        throw ServerError(why);
    };
    if (::chmod(path.c_str(), o.socket_mode & 07777) != 0) fail_unlink(join_reason("chmod " + path, errno));
    if (!o.socket_owner.empty()) {
        std::pair<uid_t, gid_t> ids;
        try {
            ids = resolve_owner(o.socket_owner);
        } catch (const ServerError& e) {
            fail_unlink(e.what());
        }
        if (::chown(path.c_str(), ids.first, ids.second) != 0) fail_unlink(join_reason("chown " + path, errno));
    }
    if (::lstat(path.c_str(), &sb) == 0) st.unix_inode = std::make_pair(sb.st_dev, sb.st_ino);
    if (::listen(fd.get(), o.listen_backlog) != 0) fail_unlink(join_reason("listen " + path, errno));
    return fd;
}

Fd listen_inet(State& st) {
    const auto& o = st.options;
    addrinfo hints{};
    hints.ai_family = o.socket.family == util::SocketSpec::Family::inet6 ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const std::string port = std::to_string(o.socket.port);
    const char* host = o.socket.host.empty() ? nullptr : o.socket.host.c_str();
    if (const int rc = ::getaddrinfo(host, port.c_str(), &hints, &res); rc != 0 || res == nullptr)
        throw ServerError("cannot resolve listen address '" + o.socket.host + "': " + ::gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(res, &::freeaddrinfo);
    Fd fd(::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd.valid()) throw ServerError(join_reason("socket", errno));
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (res->ai_family == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (::bind(fd.get(), res->ai_addr, res->ai_addrlen) != 0)
        throw ServerError(join_reason("bind " + o.socket.to_postfix(), errno));
    if (::listen(fd.get(), o.listen_backlog) != 0) throw ServerError(join_reason("listen " + o.socket.to_postfix(), errno));
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
        if (bound.ss_family == AF_INET) st.port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
        if (bound.ss_family == AF_INET6) st.port = ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
    }
    return fd;
}

Peer make_peer(std::uint64_t id, const sockaddr_storage& ss) {
    Peer peer;
    peer.connection_id = id;
    char text[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
        ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
        peer.port = ntohs(in->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
        ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
        peer.port = ntohs(in6->sin6_port);
    } else {
        peer.address = "unix";
        return peer;
    }
    const auto ip = util::IpAddress::parse(text);  // normalises ::ffff:a.b.c.d
    peer.address = ip ? ip->to_string() : std::string(text);
    return peer;
}

log::Line& peer_kv(log::Line& line, const Peer& peer) {
    line.kv("conn", peer.connection_id).kv("peer", peer.address);
    if (peer.port != 0) line.kv("port", static_cast<unsigned>(peer.port));
    return line;
}

// A connection's copy of the current handler; refreshed when set_handler() ran since the last look.
struct HandlerSnapshot {
    std::shared_ptr<const Handler> handler;
    std::uint64_t generation = 0;

    const std::shared_ptr<const Handler>& current(State& st) {
        const auto g = st.handler_generation.load(std::memory_order_acquire);
        if (g != generation) {
            handler = st.handler.with_lock([](const std::shared_ptr<const Handler>& h) { return h; });
            generation = g;
        }
        return handler;
    }
    // An idle connection lets go of a replaced handler (its store, its tables) when its read wakes.
    void release_if_stale(State& st) {
        if (generation != 0 && st.handler_generation.load(std::memory_order_acquire) != generation) {
            handler.reset();
            generation = 0;
        }
    }
};

Action call_handler(State& st, HandlerSnapshot& snapshot, const Request& request, const Peer& peer) {
    const std::shared_ptr<const Handler>& handler = snapshot.current(st);  // this request's snapshot
    try {
        if (!handler) throw std::logic_error("no handler installed");
        Action action = handler->handle(request, peer);
        st.requests.fetch_add(1, std::memory_order_relaxed);
        return action;
    } catch (const std::exception& e) {
        st.handler_errors.fetch_add(1, std::memory_order_relaxed);
        auto line = log::error();
        peer_kv(line.queue_id(request.queue_id).msg("policy handler failed"), peer)
            .kv("state", request.protocol_state)
            .kv("reason", e.what())
            .kv("action", st.options.tempfail_action.text());
    } catch (...) {
        st.handler_errors.fetch_add(1, std::memory_order_relaxed);
        auto line = log::error();
        peer_kv(line.queue_id(request.queue_id).msg("policy handler failed"), peer)
            .kv("reason", "unknown exception")
            .kv("action", st.options.tempfail_action.text());
    }
    return st.options.tempfail_action;
}

// How often a blocked read wakes to check its deadline and stop(): a quarter of the shortest timeout,
// between 10 ms and 1 s. stop() also wakes readers at once with shutdown(SHUT_RD).
std::chrono::milliseconds read_tick(const ServerOptions& o) {
    const auto shortest = std::min(o.idle_timeout, o.read_timeout);
    return std::clamp<std::chrono::milliseconds>(shortest / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
}

// Polls fd without sleeping for up to budget; recv's result, or -1 with errno EAGAIN when nothing came.
ssize_t spin_recv(int fd, char* buf, std::size_t size, std::chrono::microseconds budget) {
    const auto until = Clock::now() + budget;
    for (unsigned i = 0;; ++i) {
        const ssize_t n = ::recv(fd, buf, size, MSG_DONTWAIT);
        if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return n;
        if ((i & 3) == 3 && Clock::now() >= until) {
            errno = EAGAIN;
            return -1;
        }
    }
}

void set_timeout(int fd, int option, std::chrono::milliseconds t) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(t.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv);
}

// The request loop of one connection; returns when it should be closed. The socket is blocking with
// SO_RCVTIMEO/SO_SNDTIMEO, so a request costs one recv and one send (no poll) on the common path.
void serve_connection(State& st, int fd, const Peer& peer) {
    const auto& o = st.options;
    set_timeout(fd, SO_RCVTIMEO, read_tick(o));
    set_timeout(fd, SO_SNDTIMEO, o.write_timeout);
    RequestParser parser(o.limits);
    char buf[4096];
    Clock::time_point request_started{};
    Clock::time_point last_answer = Clock::now();
    bool in_request = false;  // bytes of a request have arrived: the read timeout runs
    std::uint64_t answered = 0;
    HandlerSnapshot snapshot;
    bool just_answered = false;  // the next read may spin
    unsigned spin_skip = 0;      // answers to go before the next spin
    unsigned spin_backoff = 1;   // doubled by each spin that found nothing, up to 64
    while (true) {
        ParseResult r = parser.next();
        if (r.status == ParseResult::Status::complete) {
            Action action = call_handler(st, snapshot, r.request, peer);
            parser.recycle(std::move(r.request));
            ++answered;
            just_answered = true;
            const auto wrote = io::write_all(fd, action.wire(), Clock::now() + o.write_timeout, st.stop_fd.get());
            if (wrote != io::IoStatus::ok) {
                if (wrote == io::IoStatus::timeout) st.timeouts.fetch_add(1, std::memory_order_relaxed);
                auto line = log::warning();
                peer_kv(line.msg("policy answer not written"), peer)
                    .kv("reason", wrote == io::IoStatus::timeout ? "write timeout" : "connection lost");
                return;
            }
            last_answer = Clock::now();
            in_request = parser.bytes_in_request() > 0;
            if (in_request) request_started = last_answer;
            continue;
        }
        if (r.status == ParseResult::Status::error) {
            st.malformed.fetch_add(1, std::memory_order_relaxed);
            {
                auto line = log::warning();
                peer_kv(line.msg("malformed policy request"), peer)
                    .kv("reason", r.reason)
                    .kv("data", log::escape(r.excerpt, 64))
                    .kv("action", o.safe_action.text());
            }
            (void)io::write_all(fd, o.safe_action.wire(), Clock::now() + o.write_timeout, st.stop_fd.get());
            return;
        }
        if (st.stopping.load(std::memory_order_relaxed)) return;
        ssize_t n = -1;
        errno = EAGAIN;
        if (just_answered && o.spin.count() > 0 && st.active.load(std::memory_order_relaxed) <= st.spin_cpus) {
            if (spin_skip > 0) {
                --spin_skip;
            } else {
                n = spin_recv(fd, buf, sizeof buf, o.spin);
                st.spins.fetch_add(1, std::memory_order_relaxed);
                if (n > 0) {
                    st.spin_hits.fetch_add(1, std::memory_order_relaxed);
                    spin_backoff = 1;
                } else {
                    spin_skip = spin_backoff;
                    spin_backoff = std::min(spin_backoff * 2, 64U);
                }
            }
        }
        just_answered = false;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) n = ::recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            if (!in_request) {
                in_request = true;
                request_started = Clock::now();
            }
            parser.feed(std::string_view(buf, static_cast<std::size_t>(n)));
            continue;
        }
        if (n == 0) {
            if (parser.bytes_in_request() > 0 && !st.stopping.load()) {
                auto line = log::info();
                peer_kv(line.msg("policy connection closed inside a request"), peer).kv("requests", answered);
            }
            return;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            snapshot.release_if_stale(st);
            // The idle timeout runs between requests, the read timeout from a request's first byte.
            const auto now = Clock::now();
            if (in_request ? now - request_started < o.read_timeout : now - last_answer < o.idle_timeout) continue;
            st.timeouts.fetch_add(1, std::memory_order_relaxed);
            auto line = log::info();
            peer_kv(line.msg("policy connection timed out"), peer)
                .kv("reason", in_request ? "read timeout inside a request" : "idle timeout")
                .kv("requests", answered);
            return;
        }
        auto line = log::info();
        peer_kv(line.msg("policy connection read failed"), peer).kv("reason", io::errno_text(errno));
        return;
    }
}

void connection_main(std::shared_ptr<State> st, Fd fd, Peer peer) {
    try {
        log::debug().kv("conn", peer.connection_id).kv("peer", peer.address).msg("policy connection opened");
        serve_connection(*st, fd.get(), peer);
    } catch (const std::exception& e) {  // the fourth wall: this connection ends, the daemon does not
        auto line = log::error();
        peer_kv(line.msg("policy connection failed"), peer).kv("reason", e.what());
    } catch (...) {
        auto line = log::error();
        peer_kv(line.msg("policy connection failed"), peer).kv("reason", "unknown exception");
    }
    std::lock_guard<std::mutex> lock(st->mutex);
    st->active.fetch_sub(1, std::memory_order_relaxed);
    st->fds.erase(peer.connection_id);  // before close: stop() must never shut down a reused fd number
    fd.reset();
    st->finished.push_back(peer.connection_id);
    --st->running;
    st->all_done.notify_all();
}

void reap(State& st) {
    std::vector<std::thread> done;
    {
        std::lock_guard<std::mutex> lock(st.mutex);
        for (const auto id : st.finished) {
            if (auto it = st.threads.find(id); it != st.threads.end()) {
                done.push_back(std::move(it->second));
                st.threads.erase(it);
            }
        }
        st.finished.clear();
    }
    for (auto& t : done) t.join();
}

void accept_loop(const std::shared_ptr<State>& stp) {
    State& st = *stp;
    Clock::time_point last_refusal_log{};
    std::uint64_t refusals_unlogged = 0;
    while (!st.stopping.load()) {
        pollfd fds[2] = {{st.listen_fd.get(), POLLIN, 0}, {st.stop_fd.get(), POLLIN, 0}};
        const int ready = ::poll(fds, 2, 1000);
        if (ready < 0 && errno != EINTR) {
            log::error().msg("policy listener poll failed").kv("reason", io::errno_text(errno));
            return;
        }
        reap(st);
        if ((fds[1].revents & POLLIN) != 0) return;
        if (ready <= 0 || (fds[0].revents & POLLIN) == 0) continue;
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        Fd fd(::accept4(st.listen_fd.get(), reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC));
        if (!fd.valid()) {
            const int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ECONNABORTED) continue;
            log::error().msg("policy accept failed").kv("reason", io::errno_text(err));
            pollfd wait{st.stop_fd.get(), POLLIN, 0};
            (void)::poll(&wait, 1, 100);  // EMFILE and friends: do not spin
            continue;
        }
        std::unique_lock<std::mutex> lock(st.mutex);
        if (st.running >= st.options.max_connections) {
            lock.unlock();
            st.connections_refused.fetch_add(1, std::memory_order_relaxed);
            const auto now = Clock::now();
            ++refusals_unlogged;
            if (now - last_refusal_log >= std::chrono::seconds(1)) {
                const Peer peer = make_peer(0, ss);
                log::warning()
                    .msg("policy connection refused: connection limit reached")
                    .kv("peer", peer.address)
                    .kv("limit", static_cast<std::uint64_t>(st.options.max_connections))
                    .kv("refused", refusals_unlogged);
                refusals_unlogged = 0;
                last_refusal_log = now;
            }
            continue;  // fd closes here: the client sees EOF at once, never a hang
        }
        const std::uint64_t id = st.next_id++;
        const Peer peer = make_peer(id, ss);
        if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
            const int one = 1;
            ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        st.fds[id] = fd.get();
        ++st.running;
        st.active.fetch_add(1, std::memory_order_relaxed);
        st.connections_accepted.fetch_add(1, std::memory_order_relaxed);
        try {
            st.threads.emplace(id, std::thread(connection_main, stp, std::move(fd), peer));
        } catch (const std::system_error& e) {  // thread creation failed: drop this connection only
            --st.running;
            st.active.fetch_sub(1, std::memory_order_relaxed);
            st.fds.erase(id);
            log::error().msg("policy connection thread not started").kv("reason", e.what());
        }
    }
}

}  // namespace

Server::Server(ServerOptions options, std::shared_ptr<const Handler> handler)
    : state_(std::make_shared<State>(std::move(options), std::move(handler))) {
    state_->stop_fd.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!state_->stop_fd.valid()) throw ServerError(join_reason("eventfd", errno));
}

Server::~Server() { stop(); }

void Server::listen() {
    if (state_->listen_fd.valid()) return;
    if (state_->options.socket.family == util::SocketSpec::Family::unix_path) {
        state_->listen_fd = listen_unix(*state_);
    } else {
        state_->listen_fd = listen_inet(*state_);
    }
}

void Server::start() {
    if (accept_thread_.joinable()) return;
    listen();
    accept_thread_ = std::thread(accept_loop, state_);
    log::info().msg("policy server listening").kv("socket", state_->options.socket.to_postfix()).kv("port", static_cast<unsigned>(state_->port));
}

void Server::stop(std::chrono::milliseconds bound) noexcept {
    State& st = *state_;
    if (st.stopped) return;
    st.stopped = true;
    st.stopping.store(true);
    const std::uint64_t one = 1;
    if (::write(st.stop_fd.get(), &one, sizeof one) < 0) {
        // An eventfd write only fails on counter overflow; stopping is set either way.
    }
    if (accept_thread_.joinable()) accept_thread_.join();
    st.listen_fd.reset();
    if (st.unix_inode) {
        struct stat sb {};
        const std::string& path = st.options.socket.path;
        if (::lstat(path.c_str(), &sb) == 0 && sb.st_dev == st.unix_inode->first && sb.st_ino == st.unix_inode->second)
            ::unlink(path.c_str());
    }
    std::map<std::uint64_t, std::thread> threads;
    std::size_t left = 0;
    {
        std::unique_lock<std::mutex> lock(st.mutex);
        // Wake blocked readers now; SHUT_RD leaves writing possible, so answers in flight still go out.
        for (const auto& [id, fd] : st.fds) ::shutdown(fd, SHUT_RD);
        st.all_done.wait_for(lock, bound, [&] { return st.running == 0; });
        left = st.running;
        threads.swap(st.threads);
        st.finished.clear();
    }
    for (auto& [id, t] : threads) {
        if (left == 0) {
            t.join();
        } else {
            t.detach();  // they hold the shared State, so finishing later is safe
        }
    }
    if (left > 0) {
        try {
            log::warning().msg("policy server stopped with handlers still running").kv("connections", static_cast<std::uint64_t>(left));
        } catch (...) {
        }
    }
}

void Server::set_handler(std::shared_ptr<const Handler> handler) {
    // The old handler is released outside the lock: its destructor may be slow.
    state_->handler.with_lock([&](std::shared_ptr<const Handler>& h) { h.swap(handler); });
    state_->handler_generation.fetch_add(1, std::memory_order_acq_rel);
}

std::shared_ptr<const Handler> Server::handler() const {
    return state_->handler.with_lock([](const std::shared_ptr<const Handler>& h) { return h; });
}

std::uint16_t Server::port() const noexcept { return state_->port; }

const ServerOptions& Server::options() const noexcept { return state_->options; }

ServerCounters Server::counters() const noexcept {
    State& st = *state_;
    ServerCounters c;
    c.connections_accepted = st.connections_accepted.load();
    c.connections_refused = st.connections_refused.load();
    c.requests = st.requests.load();
    c.malformed = st.malformed.load();
    c.handler_errors = st.handler_errors.load();
    c.timeouts = st.timeouts.load();
    c.spins = st.spins.load();
    c.spin_hits = st.spin_hits.load();
    {
        std::lock_guard<std::mutex> lock(st.mutex);
        c.connections_active = st.running;
    }
    return c;
}

}  // namespace mailmoat::policy
