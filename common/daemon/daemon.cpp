// common/daemon/daemon.cpp - settings bootstrap, privilege drop, pid file, sd_notify and signal waiting.
#include "common/daemon/daemon.hpp"

#include <grp.h>
#include <pwd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <vector>

#include "mailmoat/version.hpp"

namespace mailmoat::daemon {
namespace {

std::vector<std::string> args_of(int argc, char** argv) {
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
    return args;
}

}  // namespace

CommonSettings CommonSettings::from(const config::Values& v) {
    CommonSettings s;
    std::string why;
    auto spec = util::SocketSpec::parse(v.str("socket"), &why);
    if (!spec) throw v.error("socket", why);
    s.socket = *spec;
    s.socket_owner = v.str("socket-owner");
    const auto& mode = v.str("socket-mode");
    char* end = nullptr;
    const unsigned long m = std::strtoul(mode.c_str(), &end, 8);
    if (mode.empty() || end == nullptr || *end != '\0' || m > 0777) throw v.error("socket-mode", "expected an octal mode such as 0660");
    s.socket_mode = static_cast<unsigned>(m);
    s.dns_server = v.str("dns-server");
    s.dns_timeout = v.duration("dns-timeout");
    if (s.dns_timeout.count() < 1 || s.dns_timeout.count() > 60) throw v.error("dns-timeout", "must be between 1s and 60s");
    s.dns_retries = static_cast<unsigned>(v.uint("dns-retries"));
    s.user = v.str("user");
    s.group = v.str("group");
    const auto level = log::parse_level(v.str("log-level"));
    if (!level) throw v.error("log-level", "expected error, warning, notice, info or debug");
    s.log_level = *level;
    s.foreground = v.flag("foreground");
    s.pid_file = v.str("pid-file");
    return s;
}

Start start(const config::Schema& schema, int argc, char** argv,
            const std::function<void(const config::Values&)>& validate) {
    Start out;
    const auto& prog = schema.program();
    try {
        out.values = config::parse(schema, args_of(argc, argv));
    } catch (const config::ConfigError& e) {
        std::cerr << prog << ": " << e.what() << "\n";
        // --check-config reports 1 for a bad configuration, as documented.
        for (int i = 1; i < argc; ++i)
            if (std::strcmp(argv[i], "--check-config") == 0) {
                out.exit_code = 1;
                return out;
            }
        out.exit_code = config::exit_config_error;
        return out;
    }
    const auto& v = out.values;
    if (v.flag("help")) {
        std::cout << schema.help_text();
        out.exit_code = 0;
        return out;
    }
    if (v.flag("version")) {
        std::cout << prog << " " << mailmoat::version << "\n";
        out.exit_code = 0;
        return out;
    }
    if (v.flag("dump-defaults")) {
        std::cout << schema.dump_defaults();
        out.exit_code = 0;
        return out;
    }
    const bool check = v.flag("check-config");
    try {
        out.common = CommonSettings::from(v);
        log::init(prog, out.common.foreground || check, out.common.log_level);
        if (validate) validate(v);
    } catch (const config::ConfigError& e) {
        std::cerr << prog << ": " << e.what() << "\n";
        out.exit_code = check ? 1 : config::exit_config_error;
        return out;
    } catch (const std::exception& e) {
        std::cerr << prog << ": configuration: " << e.what() << "\n";
        out.exit_code = check ? 1 : config::exit_config_error;
        return out;
    }
    if (check) {
        std::cout << v.render() << prog << ": configuration OK\n";
        out.exit_code = 0;
    }
    return out;
}

config::Values reload(const config::Schema& schema, int argc, char** argv) {
    return config::parse(schema, args_of(argc, argv));
}

void drop_privileges(const std::string& user, const std::string& group) {
    if (::geteuid() != 0) return;
    if (user.empty()) throw std::runtime_error("refusing to run as root: no user configured");
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* pwp = nullptr;
    if (::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &pwp) != 0 || pwp == nullptr)
        throw std::runtime_error("unknown user '" + user + "'");
    gid_t gid = pw.pw_gid;
    if (!group.empty()) {
        std::vector<char> gbuf(16384);
        ::group gr{};
        ::group* grp = nullptr;
        if (::getgrnam_r(group.c_str(), &gr, gbuf.data(), gbuf.size(), &grp) != 0 || grp == nullptr)
            throw std::runtime_error("unknown group '" + group + "'");
        gid = grp->gr_gid;
    }
    if (::initgroups(user.c_str(), gid) != 0) throw std::runtime_error(std::string("initgroups: ") + std::strerror(errno));
    if (::setgid(gid) != 0) throw std::runtime_error(std::string("setgid: ") + std::strerror(errno));
    if (::setuid(pw.pw_uid) != 0) throw std::runtime_error(std::string("setuid: ") + std::strerror(errno));
    if (pw.pw_uid != 0 && ::setuid(0) == 0) throw std::runtime_error("privileges could be regained after setuid");
}

void write_pid_file(const std::string& path) {
    if (path.empty()) return;
    std::ofstream out(path, std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write pid file " + path);
    out << ::getpid() << "\n";
}

void remove_pid_file(const std::string& path) noexcept {
    if (!path.empty()) ::unlink(path.c_str());
}

void notify_ready() noexcept { (void)sd_notify(0, "READY=1"); }

void notify_reloading() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    const auto usec = static_cast<unsigned long long>(ts.tv_sec) * 1000000ULL + static_cast<unsigned long long>(ts.tv_nsec) / 1000ULL;
    (void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", usec);
}

void notify_stopping() noexcept { (void)sd_notify(0, "STOPPING=1"); }

void notify_status(std::string_view status) noexcept {
    try {
        const std::string msg = "STATUS=" + std::string(status);
        (void)sd_notify(0, msg.c_str());
    } catch (...) {
    }
}

SignalSet::SignalSet() {
    ::sigemptyset(&set_);
    ::sigaddset(&set_, SIGHUP);
    ::sigaddset(&set_, SIGTERM);
    ::sigaddset(&set_, SIGINT);
    ::pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    struct sigaction ign{};
    ign.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ign, nullptr);
}

SignalSet::Event SignalSet::wait() {
    for (;;) {
        int sig = 0;
        if (::sigwait(&set_, &sig) != 0) continue;
        return sig == SIGHUP ? Event::reload : Event::stop;
    }
}

std::optional<SignalSet::Event> SignalSet::wait_for(std::chrono::milliseconds timeout) {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    ts.tv_nsec = static_cast<long>((timeout.count() % 1000) * 1000000);
    const int sig = ::sigtimedwait(&set_, nullptr, &ts);
    if (sig < 0) return std::nullopt;
    return sig == SIGHUP ? Event::reload : Event::stop;
}

}  // namespace mailmoat::daemon
