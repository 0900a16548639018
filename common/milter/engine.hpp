// common/milter/engine.hpp - the milter side of the milter protocol (version 6) for one MTA connection,
// without sockets: packets in, Session callbacks, replies out. The Runner feeds it from a socket.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/milter/runner.hpp"
#include "common/milter/session.hpp"

namespace mailmoat::milter {

/// One MTA connection's protocol state. Not thread-safe: one thread drives it from start to end.
class Conversation {
public:
    /// Largest packet accepted (length field: command byte + data). Postfix sends body chunks of at
    /// most 65535 bytes and headers up to its header_size_limit (102400 by default).
    static constexpr std::size_t max_packet = 1U << 20;

    enum class Result { more, close };

    /// make_session is called when the first callback needs a session (may throw or return nullptr:
    /// that stage is then tempfailed). peer names the connection in log lines.
    Conversation(const RunnerOptions& options, std::function<std::unique_ptr<Session>()> make_session);
    Conversation(const Conversation&) = delete;
    Conversation& operator=(const Conversation&) = delete;
    /// Calls finish() if it was not called.
    ~Conversation();

    /// Handles every complete packet at the front of in: *consumed is set to the bytes used (a
    /// partial packet at the end is left for the next call), the replies are appended to out. close:
    /// the connection must be closed after out is written (QUIT, or a protocol error, logged here).
    Result process(std::string_view in, std::size_t* consumed, std::string& out);

    /// True between the first command of a message and its end (end of message, abort, or a verdict
    /// that ends it).
    [[nodiscard]] bool in_message() const noexcept { return in_message_; }

    /// The connection is gone: abort callback if a message was in progress, then close. Idempotent.
    void finish() noexcept;

private:
    class Ctx;
    using Macros = std::vector<std::pair<std::string, std::string>>;

    Result handle(char cmd, std::string_view data, std::string& out);
    Result negotiate(std::string_view data, std::string& out);
    Result protocol_error(std::string_view what);
    /// Runs a session callback behind the exception wall and writes its answer (if the stage replies).
    template <class Fn>
    void dispatch(Stage stage, std::string& out, Fn&& fn);
    void answer(Stage stage, Status s, std::string& out);
    void emit(Stage stage, Status s, std::string& out);
    void end_message() noexcept;
    void begin_message() noexcept { in_message_ = true; }
    void reset_connection() noexcept;
    Session& session();
    [[nodiscard]] std::optional<std::string> macro(std::string_view name) const;
    [[nodiscard]] bool no_reply(Stage stage) const noexcept;

    const RunnerOptions& options_;
    std::function<std::unique_ptr<Session>()> make_session_;
    std::unique_ptr<Ctx> ctx_;
    std::unique_ptr<Session> session_;
    bool negotiated_ = false;
    bool renegotiate_ok_ = false;      // after QUIT_NC the MTA may negotiate again
    bool finished_ = false;
    bool in_message_ = false;
    bool in_eom_ = false;              // modifications allowed
    std::uint32_t protocol_ = 0;       // negotiated SMFIP_* flags
    std::optional<Status> pending_;    // verdict returned at a no-reply stage, given at the next reply
    std::string reply_;                // SMFIR_REPLYCODE text for the next reject/tempfail
    std::string mods_;                 // modification packets of the running end of message
    std::string queue_id_;             // for log lines
    std::array<Macros, 7> macros_;     // per stage, indexed like MacroStage
};

}  // namespace mailmoat::milter
