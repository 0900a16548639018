// common/policy/client.hpp - policy delegation client (what Postfix's check_policy_service does), persistent.
#pragma once
#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/policy/io.hpp"
#include "common/util/socket_spec.hpp"

namespace mailmoat::policy {

using Attributes = std::vector<std::pair<std::string, std::string>>;

struct ClientOptions {
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds io_timeout{100'000};  // Postfix's smtpd_policy_service_timeout
    std::size_t max_reply_size = 4096;
    /// Retry once on a fresh connection when a reused one turns out closed before any reply byte
    /// (the server's idle timeout), as Postfix's try_limit does.
    bool retry_stale_connection = true;
};

/// The result of one query.
struct [[nodiscard]] ClientResult {
    enum class Status { ok, timeout, error };
    Status status = Status::error;
    std::string action;  // ok: the value of the reply's "action" attribute, e.g. "DUNNO"
    std::string reason;  // timeout/error: what failed
};

/// One persistent connection to a policy server (SMTPD_POLICY_README "Protocol description"):
/// connects on first use, sends "name=value" lines and an empty line, reads reply lines up to the
/// empty line and returns the "action" value (other reply attributes are skipped, as Postfix does).
/// A reply without "action", larger than max_reply_size, or a connection closed mid-reply is an error,
/// and the connection is dropped (the next query reconnects). Not thread-safe: one per thread.
class PolicyClient {
public:
    explicit PolicyClient(util::SocketSpec spec, ClientOptions options = {});

    /// Sends one request. An attribute name that is empty or contains '=', NUL or newline, or a value
    /// with NUL or newline, is refused with error before anything is sent.
    ClientResult query(const Attributes& attributes);
    /// Sends bytes as they are (tests use it for malformed input) and reads one reply.
    ClientResult query_raw(std::string_view wire);
    /// Sends bytes without reading anything. Returns error/timeout like query().
    ClientResult send_raw(std::string_view bytes);
    /// Reads one reply (after send_raw).
    ClientResult read_reply();

    [[nodiscard]] bool connected() const noexcept { return fd_.valid(); }
    void close() noexcept;

    /// The request text for attributes, or "" when an attribute is not sendable (see query()).
    [[nodiscard]] static std::string encode(const Attributes& attributes);

private:
    ClientResult ensure_connected();
    ClientResult exchange(std::string_view wire, bool allow_retry);

    util::SocketSpec spec_;
    ClientOptions options_;
    io::Fd fd_;
    std::string buffer_;  // bytes read beyond the last reply
};

}  // namespace mailmoat::policy
