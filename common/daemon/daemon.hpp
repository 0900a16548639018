// common/daemon/daemon.hpp - the shared main skeleton: settings, logging, privilege drop, sd_notify, signals.
#pragma once
#include <chrono>
#include <csignal>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/config/options.hpp"
#include "common/log/logger.hpp"
#include "common/util/socket_spec.hpp"

namespace mailmoat::daemon {

/// The settings every daemon shares (see config::Schema::add_common_daemon_options).
struct CommonSettings {
    util::SocketSpec socket;
    std::string socket_owner;    // "user[:group]" or empty
    unsigned socket_mode = 0660;
    std::string dns_server;      // "HOST[:PORT]" or empty for /etc/resolv.conf
    std::chrono::seconds dns_timeout{5};
    unsigned dns_retries = 1;
    std::string user;
    std::string group;
    log::Level log_level = log::Level::info;
    bool foreground = false;
    std::string pid_file;

    /// Validates and converts; throws config::ConfigError naming the key and its source.
    [[nodiscard]] static CommonSettings from(const config::Values& values);
};

/// What start() decided.
struct Start {
    std::optional<int> exit_code;  // when set, main returns it at once
    config::Values values;
    CommonSettings common;
};

/// The first thing a daemon's main does. Parses argv and the config file, then:
///   --help, --version, --dump-defaults: prints, exit_code 0;
///   a config error: prints "PROGRAM: FILE:LINE: key: problem" to stderr, exit_code 78 (EX_CONFIG);
///   otherwise initialises logging (stderr when --foreground or --check-config, else syslog mail) and
///   calls validate(values) - the daemon's settings builder, which throws config::ConfigError - and
///   with --check-config prints the effective configuration and "PROGRAM: configuration OK" (exit 0)
///   or the error (exit 1).
[[nodiscard]] Start start(const config::Schema& schema, int argc, char** argv,
                          const std::function<void(const config::Values&)>& validate);

/// Re-reads the configuration for SIGHUP with the original argv. Throws config::ConfigError.
[[nodiscard]] config::Values reload(const config::Schema& schema, int argc, char** argv);

/// When running as root: initgroups/setgid/setuid to user and group, and checks root cannot be
/// regained. No-op when not root. Throws std::runtime_error naming an unknown user or group.
void drop_privileges(const std::string& user, const std::string& group);

/// Writes the pid file (if path non-empty); removes it at exit via remove_pid_file().
void write_pid_file(const std::string& path);
void remove_pid_file(const std::string& path) noexcept;

/// sd_notify(3) wrappers; no-ops when not started by systemd (no NOTIFY_SOCKET).
void notify_ready() noexcept;
void notify_reloading() noexcept;
void notify_stopping() noexcept;
void notify_status(std::string_view status) noexcept;

/// Blocks SIGHUP, SIGTERM and SIGINT in the calling thread (and so in every thread it starts later)
/// and ignores SIGPIPE. Construct in main before starting threads; then wait() in the main thread.
class SignalSet {
public:
    enum class Event { reload, stop };
    SignalSet();
    SignalSet(const SignalSet&) = delete;
    SignalSet& operator=(const SignalSet&) = delete;
    /// Waits for the next signal: SIGHUP is reload, SIGTERM/SIGINT are stop.
    [[nodiscard]] Event wait();
    /// As wait(), but returns nullopt after timeout.
    [[nodiscard]] std::optional<Event> wait_for(std::chrono::milliseconds timeout);

private:
    sigset_t set_{};
};

}  // namespace mailmoat::daemon
