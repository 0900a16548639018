// tests/unit/milter/milter_test_support.hpp - temp dirs, free ports and child processes killed on every path.
#pragma once
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/milter/milter_client.hpp"
#include "common/util/socket_spec.hpp"

namespace mailmoat::milter::test {

/// A private directory removed with everything in it.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "mailmoat-milter-XXXXXX").string();
        if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path = tmpl;
        // A milter that dropped root must still reach its own socket here (to wake its listener at stop).
        std::filesystem::permissions(path, std::filesystem::perms::owner_all | std::filesystem::perms::group_exec |
                                               std::filesystem::perms::others_exec);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

/// A loopback TCP port that was free a moment ago.
inline std::uint16_t free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof in;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&in), sizeof in) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&in), &len) != 0)
        throw std::runtime_error("no free port");
    ::close(fd);
    return ntohs(in.sin_port);
}

/// A child process started with execv, stderr to a file; SIGKILLed and reaped in the destructor.
class Child {
public:
    Child(const std::string& program, const std::vector<std::string>& args, const std::string& log_path) {
        pid_ = fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
            std::vector<char*> argv;
            argv.push_back(const_cast<char*>(program.c_str()));
            for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
            argv.push_back(nullptr);
            execv(program.c_str(), argv.data());
            _exit(127);
        }
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child() {
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
    }
    [[nodiscard]] pid_t pid() const { return pid_; }
    /// True while the child has not exited.
    [[nodiscard]] bool alive() {
        if (pid_ <= 0) return false;
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            status_ = status;
            pid_ = -1;
            return false;
        }
        return true;
    }
    void signal(int sig) const {
        if (pid_ > 0) kill(pid_, sig);
    }
    /// Waits up to timeout for the child to exit; its exit code, or nullopt (still running / killed by a signal).
    std::optional<int> wait(std::chrono::milliseconds timeout) {
        const auto end = std::chrono::steady_clock::now() + timeout;
        while (alive() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (pid_ > 0 || !status_ || !WIFEXITED(*status_)) return std::nullopt;
        return WEXITSTATUS(*status_);
    }

private:
    pid_t pid_ = -1;
    std::optional<int> status_;
};

inline std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// Waits until a milter answers the negotiation on spec.
inline bool wait_ready(const util::SocketSpec& spec, std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        MilterClient c;
        if (c.open(spec).ok()) {
            c.quit();
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

/// One message through an open client, as Postfix would send it (macros per stage).
inline StepReply send_message(MilterClient& c, const std::string& qid,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              const std::string& body, const std::string& auth = {}) {
    using V = StepReply::Verdict;
    auto good = [](const StepReply& r) {
        return r.verdict == V::continue_ || r.verdict == V::no_reply || r.verdict == V::skipped;
    };
    wire::Macros mail_macros{{"i", qid}, {"{mail_addr}", "a@example.org"}};
    if (!auth.empty()) mail_macros.emplace_back("{auth_authen}", auth);
    auto r = c.mail({"<a@example.org>"}, mail_macros);
    if (!good(r)) return r;
    r = c.rcpt({"<b@example.net>"}, {{"i", qid}, {"{rcpt_addr}", "b@example.net"}});
    if (!good(r)) return r;
    r = c.data({{"i", qid}});
    if (!good(r)) return r;
    for (const auto& [n, v] : headers) {
        r = c.header(n, v);
        if (!good(r)) return r;
    }
    r = c.eoh({{"i", qid}});
    if (!good(r)) return r;
    r = c.body(body);
    if (!good(r) && r.verdict != V::skip) return r;
    return c.eom({{"i", qid}});
}

inline StepReply send_connect(MilterClient& c) {
    auto r = c.connect("client.example", '4', 40000, "192.0.2.10",
                       {{"j", "mx.example.test"}, {"{daemon_name}", "smtpd"}, {"{client_addr}", "192.0.2.10"},
                        {"{client_name}", "client.example"}});
    if (r.verdict != StepReply::Verdict::continue_ && r.verdict != StepReply::Verdict::no_reply &&
        r.verdict != StepReply::Verdict::skipped)
        return r;
    return c.helo("client.example");
}

}  // namespace mailmoat::milter::test
