// common/policy/io.cpp - owned fds, deadline-bounded writes and connects for the policy server and client.
#include "common/policy/io.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace mailmoat::policy::io {

void Fd::reset(int fd) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

int poll_timeout(Clock::time_point deadline) noexcept {
    const auto now = Clock::now();
    if (deadline <= now) return 0;
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

std::string errno_text(int err) {
    char buf[128];
    // GNU strerror_r returns the message (maybe not in buf).
    const char* text = strerror_r(err, buf, sizeof buf);
    return text;
}

IoStatus write_all(int fd, std::string_view data, Clock::time_point deadline, int stop_fd) noexcept {
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n > 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return errno == EPIPE || errno == ECONNRESET ? IoStatus::closed : IoStatus::error;
        pollfd fds[2] = {{fd, POLLOUT, 0}, {stop_fd, POLLIN, 0}};
        const int timeout = poll_timeout(deadline);
        if (timeout == 0) return IoStatus::timeout;
        const int r = ::poll(fds, stop_fd >= 0 ? 2 : 1, timeout);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return IoStatus::error;
        if (r == 0) return IoStatus::timeout;
        if (stop_fd >= 0 && (fds[1].revents & POLLIN) != 0) return IoStatus::stopped;
    }
    return IoStatus::ok;
}

Fd connect_to(const util::SocketSpec& spec, std::chrono::milliseconds timeout, std::string& error) {
    const auto deadline = Clock::now() + timeout;
    Fd fd;
    sockaddr_storage addr{};
    socklen_t addr_len = 0;
    if (spec.family == util::SocketSpec::Family::unix_path) {
        auto* un = reinterpret_cast<sockaddr_un*>(&addr);
        un->sun_family = AF_UNIX;
        if (spec.path.size() >= sizeof un->sun_path) {
            error = "socket path too long";
            return {};
        }
        std::memcpy(un->sun_path, spec.path.c_str(), spec.path.size() + 1);
        addr_len = static_cast<socklen_t>(sizeof(sockaddr_un));
        fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    } else {
        addrinfo hints{};
        hints.ai_family = spec.family == util::SocketSpec::Family::inet6 ? AF_INET6 : AF_INET;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICSERV;
        addrinfo* res = nullptr;
        const std::string port = std::to_string(spec.port);
        if (const int rc = ::getaddrinfo(spec.host.c_str(), port.c_str(), &hints, &res); rc != 0 || res == nullptr) {
            error = "cannot resolve " + spec.host + ": " + ::gai_strerror(rc);
            return {};
        }
        std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
        addr_len = res->ai_addrlen;
        const int family = res->ai_family;
        ::freeaddrinfo(res);
        fd.reset(::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    }
    if (!fd.valid()) {
        error = "socket: " + errno_text(errno);
        return {};
    }
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) {
        if (errno != EINPROGRESS && errno != EAGAIN) {
            error = "connect " + spec.to_postfix() + ": " + errno_text(errno);
            return {};
        }
        while (true) {
            pollfd p{fd.get(), POLLOUT, 0};
            const int r = ::poll(&p, 1, poll_timeout(deadline));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                error = "connect " + spec.to_postfix() + ": timed out";
                return {};
            }
            break;
        }
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
            error = "connect " + spec.to_postfix() + ": " + errno_text(soerr != 0 ? soerr : errno);
            return {};
        }
    }
    const int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
        error = "fcntl: " + errno_text(errno);
        return {};
    }
    return fd;
}

}  // namespace mailmoat::policy::io
