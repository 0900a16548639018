// common/policy/server.hpp - Postfix policy delegation server: listener, thread per connection, hard cap.
#pragma once
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "common/policy/action.hpp"
#include "common/policy/request.hpp"
#include "common/util/socket_spec.hpp"

namespace mailmoat::policy {

/// Who sent a request.
struct Peer {
    std::uint64_t connection_id = 0;  // unique per server run, for log correlation
    std::string address;              // "192.0.2.1", "2001:db8::1", or "unix" for a UNIX-domain peer
    std::uint16_t port = 0;           // 0 for UNIX-domain peers
};

/// The decision logic of one policy daemon. Called concurrently from connection threads, hence const:
/// a handler is an immutable snapshot (settings + engine); reload builds a new one.
class Handler {
public:
    Handler() = default;
    Handler(const Handler&) = delete;
    Handler& operator=(const Handler&) = delete;
    virtual ~Handler() = default;
    /// The answer to one request. May throw: the server logs it and answers tempfail_action.
    [[nodiscard]] virtual Action handle(const Request& request, const Peer& peer) const = 0;
};

struct ServerOptions {
    util::SocketSpec socket;
    std::string socket_owner;  // "user[:group]" for a UNIX socket; empty keeps the process's
    unsigned socket_mode = 0660;
    int listen_backlog = 128;
    std::size_t max_connections = 200;                 // hard cap; Postfix holds one per smtpd process
    std::chrono::milliseconds idle_timeout{600'000};   // between requests
    std::chrono::milliseconds read_timeout{10'000};    // from the first byte of a request to its end
    std::chrono::milliseconds write_timeout{10'000};   // for one answer
    Limits limits;
    /// After answering, a connection thread polls its socket this long for the next request before it
    /// sleeps, while no more connections are open than the machine has CPUs besides one. A client that
    /// sends its next request at once (Postfix's smtpd working through a pipelined RCPT list, a load
    /// generator) then meets a thread still running instead of waking one, which roughly halves the
    /// round trip. A connection whose poll found nothing polls again only after 1, 2, 4 ... 64 answers
    /// (reset by a hit), so a client that does not answer at once costs at most about spin/64 per
    /// request; none once connections outnumber the spare CPUs (busy servers) or on a one-CPU machine.
    /// 0 turns it off.
    std::chrono::microseconds spin{50};
    /// Written for a malformed or oversized request before the connection is closed.
    Action safe_action = Action::dunno();
    /// Written when the handler throws.
    Action tempfail_action = Action::defer_if_permit("4.3.0 temporary policy failure");
};

/// Counters since start; read them any time.
struct ServerCounters {
    std::uint64_t connections_accepted = 0;
    std::uint64_t connections_refused = 0;  // over max_connections
    std::uint64_t connections_active = 0;
    std::uint64_t requests = 0;             // answered by the handler
    std::uint64_t malformed = 0;            // parse errors and bound violations
    std::uint64_t handler_errors = 0;       // exceptions from the handler
    std::uint64_t timeouts = 0;             // idle, read or write timeouts
    std::uint64_t spins = 0;                // reads that polled before sleeping (ServerOptions::spin)
    std::uint64_t spin_hits = 0;            // ... and found the next request without sleeping
};

/// Setting up the listener failed (address in use, not a socket, bad owner ...).
class ServerError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Serves the Postfix policy protocol (SMTPD_POLICY_README) on one socket:
///   - persistent connections, many requests each, one answer per request in one write;
///   - one thread per connection, at most max_connections; an excess connection is closed at once
///     with a warning (rate-limited), so Postfix retries or applies its default_action instead of hanging;
///   - a malformed or oversized request gets one warning line, safe_action, and the connection closed;
///   - a handler exception gets one error line and tempfail_action; the connection stays open;
///   - idle/read/write timeouts close only the slow connection.
/// Typical use: listen() (as root, before dropping privileges), start(), ..., stop().
class Server {
public:
    Server(ServerOptions options, std::shared_ptr<const Handler> handler);
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    /// Calls stop().
    ~Server();

    /// Creates the listening socket. A UNIX socket path holding a stale socket is replaced; one with a
    /// live server behind it, or any other kind of file, is refused. The socket gets socket_mode and
    /// socket_owner. inet/inet6 sockets use SO_REUSEADDR (and IPV6_V6ONLY); port 0 picks a free port.
    /// Throws ServerError with the reason.
    void listen();
    /// Starts accepting in a background thread. Calls listen() first if it was not called.
    void start();
    /// Stops accepting, wakes every connection (in-flight requests finish and are answered), and joins
    /// the threads, waiting at most bound for handlers still running (those are then left to finish on
    /// their own, logged). Removes the UNIX socket it created. Idempotent.
    void stop(std::chrono::milliseconds bound = std::chrono::milliseconds(5000)) noexcept;

    /// Replaces the handler (SIGHUP reload). Requests already in the old handler finish with it.
    void set_handler(std::shared_ptr<const Handler> handler);
    [[nodiscard]] std::shared_ptr<const Handler> handler() const;

    /// The bound TCP port (useful with port 0), 0 for UNIX sockets or before listen().
    [[nodiscard]] std::uint16_t port() const noexcept;
    [[nodiscard]] ServerCounters counters() const noexcept;
    [[nodiscard]] const ServerOptions& options() const noexcept;

    struct State;  // shared with connection threads (defined in server.cpp)

private:
    std::shared_ptr<State> state_;
    std::thread accept_thread_;
};

}  // namespace mailmoat::policy
