// common/dmarc_report/delivery.cpp - sendmail through fork/exec with a pipe, SMTP over a blocking socket
// with timeouts; every reply line bounded.
#include "common/dmarc_report/delivery.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mailmoat::dmarc_report {
namespace {

using Clock = std::chrono::steady_clock;

class Fd {
public:
    explicit Fd(int fd = -1) noexcept : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    void reset(int fd = -1) noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }
    [[nodiscard]] int get() const noexcept { return fd_; }

private:
    int fd_;
};

int remaining_ms(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
}

bool write_all(int fd, std::string_view data, Clock::time_point deadline) {
    while (!data.empty()) {
        pollfd p{fd, POLLOUT, 0};
        const int pr = ::poll(&p, 1, remaining_ms(deadline));
        if (pr <= 0) {
            if (pr < 0 && errno == EINTR) continue;
            return false;
        }
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

}  // namespace

const char* delivery_status_name(DeliveryStatus s) noexcept {
    switch (s) {
        case DeliveryStatus::delivered: return "delivered";
        case DeliveryStatus::temporary_failure: return "temporary_failure";
        case DeliveryStatus::permanent_failure: return "permanent_failure";
    }
    return "?";
}

DeliveryResult deliver_sendmail(const std::vector<std::string>& argv_in, const std::string& from, const std::string& to,
                                const std::string& message, std::chrono::seconds timeout) {
    if (argv_in.empty()) return {DeliveryStatus::permanent_failure, "no sendmail command"};
    std::vector<std::string> args = argv_in;
    args.insert(args.end(), {"-f", from, "--", to});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return {DeliveryStatus::temporary_failure, std::string("pipe: ") + std::strerror(errno)};
    Fd rd(fds[0]), wr(fds[1]);
    const pid_t pid = ::fork();
    if (pid < 0) return {DeliveryStatus::temporary_failure, std::string("fork: ") + std::strerror(errno)};
    if (pid == 0) {
        // Own process group, so that a timeout also ends what the command started (postdrop, ...).
        ::setpgid(0, 0);
        // A daemon's worker thread runs with the signals blocked that its main loop waits for; the
        // command must not inherit that mask (a timeout's SIGKILL works anyway, a SIGTERM would not).
        sigset_t none;
        ::sigemptyset(&none);
        ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
        ::dup2(rd.get(), 0);
        ::execv(argv[0], argv.data());
        _exit(127);
    }
    ::setpgid(pid, pid);  // also here: whichever runs first, the group exists before a kill
    rd.reset();
    const auto deadline = Clock::now() + timeout;
    ::signal(SIGPIPE, SIG_IGN);
    const bool wrote = write_all(wr.get(), message, deadline);
    wr.reset();
    int status = 0;
    for (;;) {
        const pid_t w = ::waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) return {DeliveryStatus::temporary_failure, "waitpid failed"};
        if (Clock::now() >= deadline) {
            ::kill(-pid, SIGKILL);
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return {DeliveryStatus::temporary_failure, args[0] + " timed out"};
        }
        ::usleep(20000);
    }
    if (WIFEXITED(status)) {
        const int code = WEXITSTATUS(status);
        if (code == 0 && wrote) return {DeliveryStatus::delivered, args[0] + " exit 0"};
        if (code == 0) return {DeliveryStatus::temporary_failure, args[0] + " did not read the whole message"};
        if (code == 75 || code == 127) return {DeliveryStatus::temporary_failure, args[0] + " exit " + std::to_string(code)};
        return {DeliveryStatus::permanent_failure, args[0] + " exit " + std::to_string(code)};
    }
    return {DeliveryStatus::temporary_failure, args[0] + " killed by signal " + std::to_string(WTERMSIG(status))};
}

namespace {

class SmtpClient {
public:
    SmtpClient(int fd, Clock::time_point deadline) : fd_(fd), deadline_(deadline) {}

    /// Reads one (possibly multi-line) reply; returns its code, 0 on failure. Text kept for messages.
    int reply() {
        text_.clear();
        for (int lines = 0; lines < 100; ++lines) {
            std::string line;
            if (!read_line(line)) return 0;
            text_ += line + " ";
            if (line.size() < 3) return 0;
            if (line.size() == 3 || line[3] == ' ') {
                const int code = std::atoi(line.substr(0, 3).c_str());
                return code;
            }
        }
        return 0;
    }
    bool send(std::string_view s) { return write_all(fd_, s, deadline_); }
    [[nodiscard]] const std::string& text() const noexcept { return text_; }

private:
    bool read_line(std::string& line) {
        for (;;) {
            const auto nl = buf_.find('\n');
            if (nl != std::string::npos) {
                line = buf_.substr(0, nl);
                if (!line.empty() && line.back() == '\r') line.pop_back();
                buf_.erase(0, nl + 1);
                return true;
            }
            if (buf_.size() > 4096) return false;  // RFC 5321 §4.5.3.1.5: 512 octets per reply line
            pollfd p{fd_, POLLIN, 0};
            const int pr = ::poll(&p, 1, remaining_ms(deadline_));
            if (pr < 0 && errno == EINTR) continue;
            if (pr <= 0) return false;
            char chunk[1024];
            const ssize_t n = ::read(fd_, chunk, sizeof chunk);
            if (n <= 0) return false;
            buf_.append(chunk, static_cast<std::size_t>(n));
        }
    }

    int fd_;
    Clock::time_point deadline_;
    std::string buf_;
    std::string text_;
};

}  // namespace

DeliveryResult deliver_smtp(const std::string& host, std::uint16_t port, const std::string& helo,
                            const std::string& from, const std::string& to, const std::string& message,
                            std::chrono::seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const std::string service = std::to_string(port);
    if (::getaddrinfo(host.c_str(), service.c_str(), &hints, &res) != 0 || res == nullptr)
        return {DeliveryStatus::temporary_failure, "cannot resolve " + host};
    Fd fd;
    std::string last_error = "cannot connect to " + host + ":" + service;
    for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
        fd.reset(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
        if (fd.get() < 0) continue;
        if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) == 0) break;
        fd.reset();
    }
    ::freeaddrinfo(res);
    if (fd.get() < 0) return {DeliveryStatus::temporary_failure, last_error};
    ::signal(SIGPIPE, SIG_IGN);
    SmtpClient c(fd.get(), deadline);
    auto fail = [&](int code, const std::string& stage) -> DeliveryResult {
        const auto status = code >= 500 && code < 600 ? DeliveryStatus::permanent_failure : DeliveryStatus::temporary_failure;
        return {status, stage + ": " + (code ? c.text() : std::string("no reply"))};
    };
    int code = c.reply();
    if (code != 220) return fail(code, "greeting");
    if (!c.send("EHLO " + helo + "\r\n")) return fail(0, "EHLO");
    code = c.reply();
    if (code != 250) {
        if (!c.send("HELO " + helo + "\r\n")) return fail(0, "HELO");
        code = c.reply();
        if (code != 250) return fail(code, "HELO");
    }
    if (!c.send("MAIL FROM:<" + from + ">\r\n")) return fail(0, "MAIL");
    if ((code = c.reply()) != 250) return fail(code, "MAIL");
    if (!c.send("RCPT TO:<" + to + ">\r\n")) return fail(0, "RCPT");
    code = c.reply();
    if (code != 250 && code != 251) return fail(code, "RCPT");
    if (!c.send("DATA\r\n")) return fail(0, "DATA");
    if ((code = c.reply()) != 354) return fail(code, "DATA");
    std::string data;
    data.reserve(message.size() + message.size() / 40 + 8);
    bool line_start = true;
    for (char ch : message) {
        if (line_start && ch == '.') data += '.';
        if (ch == '\n') {
            data += "\r\n";
            line_start = true;
            continue;
        }
        if (ch == '\r') continue;
        data += ch;
        line_start = false;
    }
    if (!line_start) data += "\r\n";
    data += ".\r\n";
    if (!c.send(data)) return fail(0, "message");
    code = c.reply();
    if (code / 100 != 2) return fail(code, "end of data");
    const std::string accepted = c.text();
    (void)c.send("QUIT\r\n");
    (void)c.reply();
    return {DeliveryStatus::delivered, accepted};
}

}  // namespace mailmoat::dmarc_report
