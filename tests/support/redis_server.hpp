// tests/support/redis_server.hpp - RAII runner for a private redis-server on a unix socket in its own
// temporary directory (no TCP port, no persistence), for store unit tests against the real server.
#pragma once
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace mailmoat::test {

/// Starts /usr/bin/redis-server listening only on DIR/redis.sock (with requirepass when `password` is
/// not empty) and waits (at most 10 s) until it accepts connections. Throws std::runtime_error with the
/// server's log when it cannot start. stop() and the destructor end it by its PID (SIGTERM, SIGKILL
/// after 5 s); the destructor also removes the directory - on every path, also when a test fails.
class RedisServer {
public:
    explicit RedisServer(std::string password = {}) : password_(std::move(password)) {
        std::string tmpl = (std::filesystem::temp_directory_path() / "mailmoat-redis-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        dir_ = tmpl;
        try {
            start();
        } catch (...) {
            stop();
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
            throw;
        }
    }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;
    ~RedisServer() {
        stop();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    [[nodiscard]] std::string socket() const { return (dir_ / "redis.sock").string(); }
    /// The store URL of database `db`: "unix:/tmp/.../redis.sock?db=N[&password=P]".
    [[nodiscard]] std::string url(unsigned db = 0) const {
        return "unix:" + socket() + "?db=" + std::to_string(db) + (password_.empty() ? "" : "&password=" + password_);
    }
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }

    /// Starts the server again after stop() (same socket, empty data).
    void start() {
        std::vector<std::string> args = {"/usr/bin/redis-server",
                                         "--port",
                                         "0",
                                         "--unixsocket",
                                         socket(),
                                         "--unixsocketperm",
                                         "700",
                                         "--save",
                                         "",
                                         "--appendonly",
                                         "no",
                                         "--dir",
                                         dir_.string(),
                                         "--daemonize",
                                         "no",
                                         "--logfile",
                                         (dir_ / "log").string()};
        if (!password_.empty()) {
            args.push_back("--requirepass");
            args.push_back(password_);
        }
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
        pid_t pid = -1;
        const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) throw std::runtime_error("cannot start /usr/bin/redis-server (package redis-server)");
        pid_ = pid;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < deadline) {
            if (connectable()) return;
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("redis-server exited: " + log_text());
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        throw std::runtime_error("redis-server did not start within 10 s: " + log_text());
    }

    void stop() noexcept {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        bool gone = false;
        for (int i = 0; i < 250 && !gone; ++i) {
            int status = 0;
            gone = ::waitpid(pid_, &status, WNOHANG) == pid_;
            if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        if (!gone) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            (void)::waitpid(pid_, &status, 0);
        }
        pid_ = -1;
        std::error_code ec;
        std::filesystem::remove(dir_ / "redis.sock", ec);
    }

private:
    [[nodiscard]] bool connectable() const {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0) return false;
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        const auto path = socket();
        if (path.size() >= sizeof a.sun_path) {
            ::close(fd);
            return false;
        }
        path.copy(a.sun_path, path.size());
        const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(fd);
        return ok;
    }
    [[nodiscard]] std::string log_text() const {
        std::ifstream in(dir_ / "log");
        std::ostringstream out;
        out << in.rdbuf();
        return out.str().substr(0, 4000);
    }

    std::filesystem::path dir_;
    std::string password_;
    pid_t pid_ = -1;
};

}  // namespace mailmoat::test
