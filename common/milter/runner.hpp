// common/milter/runner.hpp - the milter daemon engine: listening socket, accept thread, one worker thread per
// connection (pooled), milter protocol v6 spoken by Conversation (engine.hpp).
#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "common/milter/session.hpp"
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

/// Stages at which macros can be requested (SMFIC_OPTNEG symbol lists); values are the protocol's
/// stage numbers (libmilter's SMFIM_*).
enum class MacroStage : int { connect = 0, helo = 1, envfrom = 2, envrcpt = 3, data = 4, eom = 5, eoh = 6 };

struct RunnerOptions {
    std::string name = "mailmoat";  // milter name (for log lines)
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
    /// Macros to ask for per stage ("i {auth_authen}"), sent in the negotiation (protocol version 6,
    /// as libmilter's smfi_setsymlist does). With a list set, Postfix sends exactly these at that stage
    /// instead of its milter_*_macros defaults.
    std::map<MacroStage, std::string> macros;
    std::chrono::seconds timeout{7210};       // MTA silence (read or write) before a connection is dropped
    int backlog = 128;                        // listen() backlog
    bool tcp_nodelay = true;                  // see Runner::open()
    std::chrono::seconds drain_timeout{10};   // how long stop() waits for messages in flight
    /// Connections served at once; beyond it the Runner stops accepting until one ends (the MTA's
    /// connections wait in the listen backlog).
    std::size_t max_connections = 1024;
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

/// Runs the milter: one accept thread; each MTA connection is served from start to end by one worker
/// thread doing blocking I/O (idle workers wait for the next connection for a while, then exit).
/// Several Runners may exist in one process.
///
/// Signals are the daemon's: it blocks HUP/TERM/INT before starting threads (daemon::SignalSet), waits
/// for them in main, calls set_factory() on SIGHUP and stop() on SIGTERM/SIGINT.
class Runner {
public:
    Runner(RunnerOptions options, SessionFactory factory);
    Runner(const Runner&) = delete;
    Runner& operator=(const Runner&) = delete;
    /// Stops (as stop()) if still running.
    ~Runner();

    /// Opens the listening socket (before dropping privileges): a stale UNIX socket (nobody accepting)
    /// is removed, a live one is a system_error; the UNIX socket gets socket_owner and socket_mode. On
    /// TCP, TCP_NODELAY is set on the listening socket, which accepted connections inherit on Linux
    /// (each reply is one write, but an MTA's kernel may still delay its ACK; no Nagle wait is wanted).
    /// Calling open() twice is a config_error.
    [[nodiscard]] OpenResult open();

    /// Starts the accept thread. Returns false if open() did not succeed or already started.
    [[nodiscard]] bool start();

    /// True while the accept thread runs (false after a fatal error or stop()).
    [[nodiscard]] bool running() const noexcept { return running_.load(); }

    /// Swaps the session factory (SIGHUP reload); connections in flight keep their sessions.
    void set_factory(SessionFactory factory);

    /// Stops accepting and closes the listening socket, closes connections idle between messages at
    /// once, lets connections in the middle of a message finish it (up to drain_timeout, then closes
    /// them), removes the UNIX socket. Idempotent.
    void stop() noexcept;

    /// Open MTA connections (accepted, not yet closed).
    [[nodiscard]] std::size_t active_connections() const noexcept;

    /// State shared with the accept and worker threads (runner.cpp).
    struct Shared;

private:
    std::shared_ptr<Shared> shared_;
    std::thread accept_thread_;
    int listen_fd_ = -1;
    int wake_fd_ = -1;      // eventfd that ends the accept thread's poll
    unsigned long socket_inode_ = 0;  // of the UNIX socket we created (removed at stop)
    std::atomic<bool> opened_{false};
    std::atomic<bool> listening_{false};
    std::atomic<bool> running_{false};
    std::atomic<bool> stopped_{false};
};

}  // namespace mailmoat::milter
