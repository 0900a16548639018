// tests/support/dns_server.hpp - RAII runner for tests/support/dnsd.py on a free loopback port.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MAILMOAT_SOURCE_DIR
#error "MAILMOAT_SOURCE_DIR must be defined (the unit test CMake rules do)"
#endif

extern char** environ;

namespace mailmoat::test {

/// Starts dnsd.py serving zone_text (master-file syntax plus dnsd's ;@ directives) in a private
/// temporary directory, with --log and --log-detail, and waits (at most 15 s) until it listens.
/// Throws std::runtime_error when it cannot start (with dnsd's stderr). The destructor stops it by its
/// PID (SIGTERM, SIGKILL after 5 s) and removes the directory - on every path, also when a test fails.
class DnsServer {
public:
    explicit DnsServer(const std::string& zone_text, std::vector<std::string> extra_args = {}) {
        std::string tmpl = (std::filesystem::temp_directory_path() / "mailmoat-dnsd-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        dir_ = tmpl;
        try {
            start(zone_text, extra_args);
        } catch (...) {
            stop();
            throw;
        }
    }
    DnsServer(const DnsServer&) = delete;
    DnsServer& operator=(const DnsServer&) = delete;
    ~DnsServer() { stop(); }

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    /// "127.0.0.1:PORT", the spelling LdnsResolver::Options::server takes.
    [[nodiscard]] std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }

    /// The lines of the query log so far: "NAME TYPE proto=udp rd=1 ad=1 edns=1232 do=0".
    [[nodiscard]] std::vector<std::string> query_log() const {
        std::vector<std::string> lines;
        std::ifstream in(dir_ / "query.log");
        for (std::string line; std::getline(in, line);) lines.push_back(line);
        return lines;
    }
    /// Queries logged for name (lower-case, no trailing dot) and type ("A", "TXT", ...), any transport.
    [[nodiscard]] std::size_t count(std::string_view name, std::string_view type) const {
        std::string prefix = std::string(name) + " " + std::string(type);
        std::size_t n = 0;
        for (const auto& line : query_log())
            if (line == prefix || line.starts_with(prefix + " ")) ++n;
        return n;
    }
    /// Total queries logged.
    [[nodiscard]] std::size_t total() const { return query_log().size(); }

private:
    void start(const std::string& zone_text, const std::vector<std::string>& extra_args) {
        {
            std::ofstream zone(dir_ / "zone.txt");
            zone << zone_text << '\n';
            if (!zone) throw std::runtime_error("cannot write zone file");
        }
        std::vector<std::string> args = {"/usr/bin/python3",
                                         std::string(MAILMOAT_SOURCE_DIR) + "/tests/support/dnsd.py",
                                         "--zone",
                                         (dir_ / "zone.txt").string(),
                                         "--port-file",
                                         (dir_ / "port").string(),
                                         "--log",
                                         (dir_ / "query.log").string(),
                                         "--log-detail"};
        args.insert(args.end(), extra_args.begin(), extra_args.end());
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        std::string err_path = (dir_ / "stderr.txt").string();
        posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        pid_t pid = -1;
        int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) throw std::runtime_error("cannot start dnsd.py");
        pid_ = pid;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
        while (std::chrono::steady_clock::now() < deadline) {
            std::ifstream in(dir_ / "port");
            unsigned port = 0;
            if (in >> port && port > 0 && port < 65536) {
                port_ = static_cast<std::uint16_t>(port);
                return;
            }
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("dnsd.py exited: " + stderr_text());
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        throw std::runtime_error("dnsd.py did not start within 15 s: " + stderr_text());
    }

    [[nodiscard]] std::string stderr_text() const {
        std::ifstream in(dir_ / "stderr.txt");
        std::ostringstream out;
        out << in.rdbuf();
        return out.str().substr(0, 4000);
    }

    void stop() noexcept {
        if (pid_ > 0) {
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
                ::waitpid(pid_, &status, 0);
            }
            pid_ = -1;
        }
        std::error_code ec;
        if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
    }

    std::filesystem::path dir_;
    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
};

}  // namespace mailmoat::test
