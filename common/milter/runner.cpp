// common/milter/runner.cpp - listening socket, accept thread, pooled worker threads (one per connection,
// blocking I/O, one buffered read for many packets, one write per reply), stop and drain.
#include "common/milter/runner.hpp"

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
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <map>
#include <set>
#include <vector>

#include "common/log/logger.hpp"
#include "common/milter/engine.hpp"

namespace mailmoat::milter {
namespace {

constexpr auto idle_worker_timeout = std::chrono::seconds(30);  // an idle worker thread then exits
constexpr std::size_t initial_buffer = 16384;  // a connection's read buffer; grows for larger packets
constexpr std::size_t min_read = 4096;         // free room wanted before each read

/// A served connection, as stop() sees it.
struct Entry {
    int fd = -1;
    std::atomic<bool> in_message{false};
};

std::string errno_text(int e) { return std::strerror(e); }

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

OpenResult fail(OpenResult::Code code, std::string message) { return {code, std::move(message)}; }

/// Writes all of data; false on error or timeout (SO_SNDTIMEO).
bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

}  // namespace

struct Runner::Shared {
    explicit Shared(RunnerOptions o, SessionFactory f)
        : options(std::move(o)), factory(std::make_shared<const SessionFactory>(std::move(f))) {}

    const RunnerOptions options;  // Conversations keep a reference

    std::mutex factory_mutex;
    std::shared_ptr<const SessionFactory> factory;

    std::mutex m;
    std::condition_variable work_cv;  // idle workers wait for a queued connection
    std::condition_variable done_cv;  // a connection or a worker ended
    std::deque<int> queue;            // accepted, waiting for an idle worker
    std::size_t idle = 0;             // workers waiting on work_cv
    std::size_t threads = 0;          // worker threads alive
    // Worker threads are joined, not detached: a thread's exit (its thread-local destructors, e.g.
    // OpenSSL's) must be over before stop() returns and the process exits.
    std::map<std::thread::id, std::thread> workers;  // running
    std::vector<std::thread> finished;                // returned from worker(), to be joined

    /// Joins the workers that have ended. Called without the lock held.
    void reap() {
        std::vector<std::thread> done;
        {
            std::lock_guard lk(m);
            done.swap(finished);
        }
        for (auto& t : done) t.join();
    }
    std::size_t connections = 0;      // accepted and not yet closed
    std::set<Entry*> entries;         // connections being served
    bool force_close = false;         // drain time is over: close every connection
    std::atomic<bool> stopping{false};
    std::atomic<std::size_t> live{0};  // == connections, readable without the lock

    std::unique_ptr<Session> make_session() {
        std::shared_ptr<const SessionFactory> f;
        {
            std::lock_guard lk(factory_mutex);
            f = factory;
        }
        if (!f || !*f) throw std::runtime_error("no session factory");
        return (*f)();
    }

    /// Serves one connection from start to end on the calling thread, then closes fd.
    void serve(int fd) {
        Entry entry;
        entry.fd = fd;
        {
            std::lock_guard lk(m);
            entries.insert(&entry);
            if (force_close || stopping.load()) (void)::shutdown(fd, SHUT_RDWR);
        }
        const auto secs = std::min<long long>(options.timeout.count(), 86400LL * 365);
        timeval tv{};
        tv.tv_sec = static_cast<time_t>(secs > 0 ? secs : 1);
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        try {
            Conversation conv(options, [this] { return make_session(); });
            std::string buf(initial_buffer, '\0');
            std::size_t start = 0, end = 0;
            std::string out;
            for (;;) {
                if (stopping.load() && !conv.in_message()) break;
                if (buf.size() - end < min_read) {  // compact, then grow (doubling: packets are <= 1 MiB)
                    if (start > 0) {
                        std::memmove(buf.data(), buf.data() + start, end - start);
                        end -= start;
                        start = 0;
                    }
                    if (buf.size() - end < min_read) buf.resize(buf.size() * 2);
                }
                const ssize_t n = ::read(fd, buf.data() + end, buf.size() - end);
                if (n < 0) {
                    if (errno == EINTR) continue;
                    if (errno == EAGAIN || errno == EWOULDBLOCK)
                        log::warning().kv("timeout", static_cast<std::int64_t>(options.timeout.count()))
                            .msg("MTA connection idle too long; closing it");
                    else if (!stopping.load())
                        log::warning().kv("error", errno_text(errno)).msg("read from MTA failed");
                    break;
                }
                if (n == 0) break;
                end += static_cast<std::size_t>(n);
                std::size_t used = 0;
                const auto r = conv.process(std::string_view(buf.data() + start, end - start), &used, out);
                start += used;
                if (start == end) {
                    start = end = 0;
                    if (buf.size() > 8 * initial_buffer) {  // after large packets: back to the usual size
                        buf.resize(initial_buffer);
                        buf.shrink_to_fit();
                    }
                }
                if (!out.empty()) {
                    if (!write_all(fd, out)) {
                        if (!stopping.load()) log::warning().kv("error", errno_text(errno)).msg("write to MTA failed");
                        break;
                    }
                    out.clear();
                    if (out.capacity() > (1U << 20)) out.shrink_to_fit();
                }
                entry.in_message.store(conv.in_message());
                if (r == Conversation::Result::close) break;
            }
            conv.finish();
        } catch (const std::exception& e) {
            log::error().kv("error", e.what()).msg("milter connection failed");
        } catch (...) {
            log::error().kv("error", "unknown exception").msg("milter connection failed");
        }
        {
            std::lock_guard lk(m);
            entries.erase(&entry);
        }
        ::close(fd);
        {
            std::lock_guard lk(m);
            --connections;
            live.store(connections);
            done_cv.notify_all();
        }
    }

    /// A worker thread: serves fd, then waits for queued connections until idle too long or stopping.
    static void worker(std::shared_ptr<Shared> self, int fd) {
        Shared& s = *self;
        for (;;) {
            s.serve(fd);
            std::unique_lock lk(s.m);
            ++s.idle;
            const bool got = s.work_cv.wait_for(lk, idle_worker_timeout,
                                                [&] { return !s.queue.empty() || s.stopping.load(); });
            --s.idle;
            if (!got || s.queue.empty()) {
                if (auto it = s.workers.find(std::this_thread::get_id()); it != s.workers.end()) {
                    s.finished.push_back(std::move(it->second));
                    s.workers.erase(it);
                }
                --s.threads;
                s.done_cv.notify_all();
                return;
            }
            fd = s.queue.front();
            s.queue.pop_front();
        }
    }

    /// Gives an accepted connection to an idle worker, or to a new one.
    static void hand_off(const std::shared_ptr<Shared>& self, int fd) {
        Shared& s = *self;
        s.reap();
        std::lock_guard lk(s.m);
        ++s.connections;
        s.live.store(s.connections);
        if (s.idle > s.queue.size()) {
            s.queue.push_back(fd);
            s.work_cv.notify_one();
            return;
        }
        try {
            // Started under the lock: the worker registers itself in `workers` before it can end.
            std::thread t(&Shared::worker, self, fd);
            const auto id = t.get_id();
            s.workers.emplace(id, std::move(t));
            ++s.threads;
        } catch (const std::exception& e) {
            log::error().kv("error", e.what()).msg("cannot start a worker thread; closing the connection");
            ::close(fd);
            --s.connections;
            s.live.store(s.connections);
            s.done_cv.notify_all();
        }
    }

    static void accept_loop(const std::shared_ptr<Shared>& self, int listen_fd, int wake_fd) {
        Shared& s = *self;
        bool full_logged = false;
        while (!s.stopping.load()) {
            {
                std::unique_lock lk(s.m);
                if (s.connections >= s.options.max_connections) {
                    if (!full_logged)
                        log::warning().kv("max_connections", static_cast<std::uint64_t>(s.options.max_connections))
                            .msg("connection limit reached; not accepting until a connection ends");
                    full_logged = true;
                    s.done_cv.wait(lk, [&] {
                        return s.stopping.load() || s.connections < s.options.max_connections;
                    });
                    continue;
                }
            }
            full_logged = false;
            s.reap();  // workers that ended after idling
            pollfd p[2] = {{listen_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
            const int pr = ::poll(p, 2, 60000);
            if (pr == 0) continue;
            if (pr < 0) {
                if (errno == EINTR) continue;
                log::error().kv("error", errno_text(errno)).msg("poll on the listening socket failed");
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                continue;
            }
            if ((p[1].revents & POLLIN) != 0) break;
            if ((p[0].revents & (POLLIN | POLLERR | POLLHUP)) == 0) continue;
            const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) {
                const int e = errno;
                if (e == EINTR || e == EAGAIN || e == EWOULDBLOCK || e == ECONNABORTED || e == EPROTO) continue;
                log::error().kv("error", errno_text(e)).msg("accept failed");
                std::this_thread::sleep_for(std::chrono::milliseconds(100));  // EMFILE & co: let others end
                continue;
            }
            hand_off(self, fd);
        }
    }
};

Runner::Runner(RunnerOptions options, SessionFactory factory)
    : shared_(std::make_shared<Shared>(std::move(options), std::move(factory))) {}

Runner::~Runner() { stop(); }

std::size_t Runner::active_connections() const noexcept { return shared_->live.load(); }

void Runner::set_factory(SessionFactory factory) {
    auto f = std::make_shared<const SessionFactory>(std::move(factory));
    std::lock_guard lk(shared_->factory_mutex);
    shared_->factory = std::move(f);
}

OpenResult Runner::open() {
    if (opened_.exchange(true)) return fail(OpenResult::Code::config_error, "the milter socket is already open");
    const auto& o = shared_->options;
    const auto& spec = o.socket;
    if (o.max_connections == 0) return fail(OpenResult::Code::config_error, "max_connections must be at least 1");
    if (spec.family == util::SocketSpec::Family::unix_path) {
        uid_t uid = static_cast<uid_t>(-1);
        gid_t gid = static_cast<gid_t>(-1);
        std::string error;
        if (!o.socket_owner.empty() && !owner_ids(o.socket_owner, uid, gid, error))
            return fail(OpenResult::Code::config_error, "socket-owner: " + error);
        sockaddr_un un{};
        un.sun_family = AF_UNIX;
        if (spec.path.empty() || spec.path.size() >= sizeof un.sun_path)
            return fail(OpenResult::Code::config_error, "socket path too long: " + spec.path);
        std::memcpy(un.sun_path, spec.path.data(), spec.path.size());
        struct stat st {};
        if (lstat(spec.path.c_str(), &st) == 0) {
            if (!S_ISSOCK(st.st_mode))
                return fail(OpenResult::Code::system_error, spec.path + " exists and is not a socket");
            if (unix_alive(spec.path) == 1)
                return fail(OpenResult::Code::system_error, "another process listens on " + spec.path);
            if (unlink(spec.path.c_str()) != 0)
                return fail(OpenResult::Code::system_error,
                            "cannot remove stale socket " + spec.path + ": " + errno_text(errno));
            log::notice().kv("socket", spec.path).msg("removed stale socket");
        }
        const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return fail(OpenResult::Code::system_error, "socket: " + errno_text(errno));
        if (bind(fd, reinterpret_cast<sockaddr*>(&un), sizeof un) != 0) {
            const int e = errno;
            ::close(fd);
            return fail(OpenResult::Code::system_error, "cannot listen on " + spec.to_postfix() + ": " + errno_text(e));
        }
        listen_fd_ = fd;
        if (lstat(spec.path.c_str(), &st) == 0) socket_inode_ = st.st_ino;
        if ((uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1)) && chown(spec.path.c_str(), uid, gid) != 0)
            return fail(OpenResult::Code::system_error, "chown " + spec.path + ": " + errno_text(errno));
        if (chmod(spec.path.c_str(), o.socket_mode & 07777) != 0)
            return fail(OpenResult::Code::system_error, "chmod " + spec.path + ": " + errno_text(errno));
    } else {
        addrinfo hints{};
        hints.ai_family = spec.family == util::SocketSpec::Family::inet6 ? AF_INET6 : AF_INET;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        addrinfo* res = nullptr;
        const std::string port = std::to_string(spec.port);
        if (const int g = getaddrinfo(spec.host.empty() ? nullptr : spec.host.c_str(), port.c_str(), &hints, &res);
            g != 0 || res == nullptr)
            return fail(OpenResult::Code::config_error, "cannot resolve '" + spec.host + "': " + gai_strerror(g));
        const int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            freeaddrinfo(res);
            return fail(OpenResult::Code::system_error, "socket: " + errno_text(errno));
        }
        const int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        const int br = bind(fd, res->ai_addr, res->ai_addrlen);
        const int e = errno;
        freeaddrinfo(res);
        if (br != 0) {
            ::close(fd);
            return fail(OpenResult::Code::system_error, "cannot listen on " + spec.to_postfix() + ": " + errno_text(e));
        }
        listen_fd_ = fd;
        if (o.tcp_nodelay && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
            log::warning().kv("socket", spec.to_postfix())
                .msg("could not set TCP_NODELAY on the listening socket; replies may stall ~40 ms");
    }
    if (::listen(listen_fd_, o.backlog > 0 ? o.backlog : 128) != 0)
        return fail(OpenResult::Code::system_error, "cannot listen on " + spec.to_postfix() + ": " + errno_text(errno));
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) return fail(OpenResult::Code::system_error, "eventfd: " + errno_text(errno));
    listening_ = true;
    return {};
}

bool Runner::start() {
    if (!listening_.load() || running_.load() || accept_thread_.joinable() || stopped_.load()) return false;
    running_ = true;
    try {
        accept_thread_ = std::thread([this, sh = shared_, lfd = listen_fd_, wfd = wake_fd_] {
            Shared::accept_loop(sh, lfd, wfd);
            running_ = false;
        });
    } catch (const std::exception& e) {
        running_ = false;
        log::error().kv("error", e.what()).msg("cannot start the accept thread");
        return false;
    }
    return true;
}

void Runner::stop() noexcept {
    if (stopped_.exchange(true)) return;
    try {
        Shared& s = *shared_;
        s.stopping = true;
        if (wake_fd_ >= 0) {
            const std::uint64_t one = 1;
            (void)!::write(wake_fd_, &one, sizeof one);
        }
        {
            std::lock_guard lk(s.m);
            s.done_cv.notify_all();
        }
        if (accept_thread_.joinable()) accept_thread_.join();
        if (listen_fd_ >= 0) ::close(listen_fd_);
        listen_fd_ = -1;
        if (wake_fd_ >= 0) ::close(wake_fd_);
        wake_fd_ = -1;
        const auto& spec = s.options.socket;
        if (socket_inode_ != 0 && spec.family == util::SocketSpec::Family::unix_path) {
            struct stat st {};
            if (lstat(spec.path.c_str(), &st) == 0 && st.st_ino == socket_inode_) (void)unlink(spec.path.c_str());
        }
        std::unique_lock lk(s.m);
        // Idle connections (between messages) close now; the others after their message.
        for (Entry* e : s.entries)
            if (!e->in_message.load()) (void)::shutdown(e->fd, SHUT_RDWR);
        s.work_cv.notify_all();
        const auto deadline = std::chrono::steady_clock::now() + s.options.drain_timeout;
        if (!s.done_cv.wait_until(lk, deadline, [&] { return s.connections == 0; })) {
            log::warning().kv("connections", static_cast<std::uint64_t>(s.connections))
                .msg("drain time over; closing connections still in a message");
            s.force_close = true;
            for (Entry* e : s.entries) (void)::shutdown(e->fd, SHUT_RDWR);
            if (!s.done_cv.wait_for(lk, std::chrono::seconds(5), [&] { return s.connections == 0; }))
                log::warning().kv("connections", static_cast<std::uint64_t>(s.connections))
                    .msg("stopping with connections in flight");
        }
        s.work_cv.notify_all();
        (void)s.done_cv.wait_for(lk, std::chrono::seconds(5), [&] { return s.threads == 0; });
        if (!s.workers.empty()) {  // stuck in a session callback: left behind (they keep `s` alive)
            log::warning().kv("threads", static_cast<std::uint64_t>(s.workers.size()))
                .msg("worker threads still busy at stop; not waiting for them");
            for (auto& [id, t] : s.workers) t.detach();
            s.workers.clear();
        }
        lk.unlock();
        s.reap();
        running_ = false;
    } catch (...) {
    }
}

}  // namespace mailmoat::milter
