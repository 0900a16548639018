// common/policy/io.hpp - small socket utilities shared by the policy server and client (owned fd, deadlines).
#pragma once
#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "common/util/socket_spec.hpp"

namespace mailmoat::policy::io {

/// An owned file descriptor; closes it when destroyed. -1 means none.
class Fd {
public:
    Fd() noexcept = default;
    explicit Fd(int fd) noexcept : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) reset(std::exchange(other.fd_, -1));
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }

    [[nodiscard]] int get() const noexcept { return fd_; }
    [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
    void reset(int fd = -1) noexcept;

private:
    int fd_ = -1;
};

using Clock = std::chrono::steady_clock;

/// What an I/O step with a deadline ended with.
enum class IoStatus { ok, timeout, closed, error, stopped };

/// Milliseconds left until deadline for poll(2): 0 when past, capped at INT_MAX.
[[nodiscard]] int poll_timeout(Clock::time_point deadline) noexcept;

/// Writes all of data to a non-blocking or blocking socket, waiting for POLLOUT until deadline.
/// When stop_fd >= 0 and becomes readable, gives up with stopped. Uses MSG_NOSIGNAL (no SIGPIPE).
[[nodiscard]] IoStatus write_all(int fd, std::string_view data, Clock::time_point deadline, int stop_fd = -1) noexcept;

/// Opens a connected stream socket to spec within timeout (non-blocking connect + poll). The socket is
/// returned blocking, close-on-exec. Returns an invalid Fd and sets error on failure.
[[nodiscard]] Fd connect_to(const util::SocketSpec& spec, std::chrono::milliseconds timeout, std::string& error);

/// "strerror(errno)" text for messages.
[[nodiscard]] std::string errno_text(int err);

}  // namespace mailmoat::policy::io
