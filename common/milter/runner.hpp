// common/milter/runner.hpp - libmilter registration, negotiation, socket setup and noexcept trampolines.
#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "common/milter/session.hpp"
#include "common/util/lock_guarded.hpp"
#include "common/util/socket_spec.hpp"

namespace mailmoat::milter {

/// The message modifications a milter declares at registration (SMFIF_*); Modifier calls outside
/// this set return Outcome::invalid.
struct Actions {
    bool add_headers = false;     // add_header, insert_header
    bool change_headers = false;  // change_header, delete_header
    bool change_body = false;     // replace_body
    bool add_rcpt = false;
    bool del_rcpt = false;
    bool change_from = false;
    bool quarantine = false;
};

/// Stages at which macros can be requested (smfi_setsymlist); values are libmilter's SMFIM_*.
enum class MacroStage : int { connect = 0, helo = 1, envfrom = 2, envrcpt = 3, data = 4, eom = 5, eoh = 6 };

struct RunnerOptions {
    std::string name = "mailmoat";  // milter name in libmilter's log lines
    util::SocketSpec socket;
    std::string socket_owner;       // "user[:group]" for a UNIX socket; empty keeps ours
    unsigned socket_mode = 0660;    // UNIX socket permissions
    Actions actions;
    /// Callbacks the sessions need; the MTA is asked not to send the others (SMFIP_NO*).
    Stages stages = Stages::all();
    /// Stages whose callbacks always continue: the MTA is told not to wait for a reply (SMFIP_NR_*),
    /// saving a round trip. A verdict other than continue returned there anyway is kept and given
    /// at the next stage that replies (logged as a warning).
    Stages no_reply;
    /// Macros to ask for per stage ("i {auth_authen}"), via smfi_setsymlist. With a list set, Postfix
    /// sends exactly these at that stage instead of its milter_*_macros defaults.
    std::map<MacroStage, std::string> macros;
    std::chrono::seconds timeout{7210};       // smfi_settimeout: MTA silence before libmilter gives up
    int backlog = 128;                        // smfi_setbacklog
    bool tcp_nodelay = true;                  // see Runner::open()
    std::chrono::seconds drain_timeout{10};   // how long stop() waits for sessions in flight
};

/// Creates the Session for a new connection. May throw or return nullptr: that connection is then
/// tempfailed.
using SessionFactory = std::function<std::unique_ptr<Session>()>;

/// Result of Runner::open().
struct OpenResult {
    enum class Code { ok, config_error, system_error };
    Code code = Code::ok;
    std::string message;  // empty when ok
};

/// Runs the milter. At most one Runner exists per process: libmilter keeps its registration, listening
/// socket and stop flag in globals and smfi_main() can run only once.
///
/// Signals: smfi_main() starts a thread that sigwait()s for SIGHUP, SIGTERM and SIGINT and stops the
/// milter on any of them, which would make a reload kill the daemon. This file therefore provides
/// sigwait(): calls made from inside libmilter park that thread for good, every other caller gets
/// the C library's sigwait(). The daemon blocks the three signals before starting threads
/// (daemon::SignalSet), waits for them in main, calls set_factory() on SIGHUP and stop() on
/// SIGTERM/SIGINT.
class Runner {
public:
    Runner(RunnerOptions options, SessionFactory factory);
    Runner(const Runner&) = delete;
    Runner& operator=(const Runner&) = delete;
    /// Stops (as stop()) if still running.
    ~Runner();

    /// Registers with libmilter and opens the listening socket (before dropping privileges):
    /// a stale UNIX socket (nobody accepting) is removed, a live one is a system_error; the UNIX socket
    /// gets socket_owner and socket_mode. On TCP, TCP_NODELAY is set on the listening socket, which
    /// accepted connections inherit on Linux: libmilter writes each modification and the final reply
    /// as separate small packets, and with Nagle's algorithm the reply waits for the MTA's delayed
    /// ACK (~40 ms per message). Calling open() twice is a config_error.
    [[nodiscard]] OpenResult open();

    /// Starts smfi_main() on its own thread. Returns false if open() did not succeed or already started.
    [[nodiscard]] bool start();

    /// True while smfi_main() runs (false after it failed or stop()).
    [[nodiscard]] bool running() const noexcept { return running_.load(); }

    /// Swaps the session factory (SIGHUP reload); connections in flight keep their sessions.
    void set_factory(SessionFactory factory);

    /// Stops accepting, waits for smfi_main() to return and for sessions in flight (up to
    /// drain_timeout), removes the UNIX socket. Idempotent.
    void stop() noexcept;

    /// Connections with a live Connection object (for tests and status lines).
    [[nodiscard]] std::size_t active_connections() const noexcept { return live_.load(); }

    /// Implementation details shared with the libmilter trampolines in runner.cpp.
    struct Internals;

private:
    friend struct Internals;
    RunnerOptions options_;
    std::string conn_;   // libmilter's socket spelling; must outlive smfi_main
    std::string name_;   // xxfi_name; must outlive smfi_main
    util::LockGuarded<std::shared_ptr<const SessionFactory>> factory_;
    std::thread thread_;
    int listen_fd_ = -1;  // libmilter's listening socket, found after smfi_opensocket()
    std::atomic<bool> opened_{false};
    std::atomic<bool> running_{false};
    std::atomic<bool> stopped_{false};
    std::atomic<std::size_t> live_{0};
    std::atomic<int> main_result_{0};
};

}  // namespace mailmoat::milter
