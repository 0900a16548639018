// common/milter/session.hpp - one C++ object per SMTP connection: typed milter callbacks, macros, replies.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/ip_address.hpp"

namespace mailmoat::milter {

/// A callback's verdict (libmilter's SMFIS_*). `skip` is only honoured where the MTA negotiated
/// SMFIP_SKIP (Postfix does); otherwise the Runner sends continue.
enum class Status { continue_, accept, reject, tempfail, discard, skip };

/// Outcome of a request to the MTA side (reply text, message modification).
enum class Outcome {
    ok,        // accepted, will be sent to the MTA
    invalid,   // refused: bad arguments, or an action not declared in RunnerOptions::actions
    failed,    // not possible now (a modification outside end of message)
};

/// The protocol stages a session can ask to see (abort and close are always delivered).
enum class Stage : unsigned { connect, helo, envfrom, envrcpt, data, header, eoh, body, eom, unknown };

/// A set of stages.
class Stages {
public:
    constexpr Stages() = default;
    constexpr Stages(std::initializer_list<Stage> list) {
        for (auto s : list) bits_ |= bit(s);
    }
    static constexpr Stages all() {
        return {Stage::connect, Stage::helo, Stage::envfrom, Stage::envrcpt, Stage::data,
                Stage::header,  Stage::eoh,  Stage::body,    Stage::eom,     Stage::unknown};
    }
    [[nodiscard]] constexpr bool has(Stage s) const noexcept { return (bits_ & bit(s)) != 0; }
    constexpr Stages& add(Stage s) noexcept { bits_ |= bit(s); return *this; }
    constexpr Stages& remove(Stage s) noexcept { bits_ &= ~bit(s); return *this; }
    friend constexpr bool operator==(Stages, Stages) = default;

private:
    static constexpr std::uint32_t bit(Stage s) { return 1U << static_cast<unsigned>(s); }
    std::uint32_t bits_ = 0;
};

/// What the MTA said about the SMTP client (xxfi_connect).
struct ConnectInfo {
    enum class Family { unknown, unix_path, inet, inet6 };
    std::string host_name;                   // verified client name, or "[addr]" / "unknown"
    Family family = Family::unknown;
    std::optional<util::IpAddress> address;  // inet/inet6 only
    std::uint16_t port = 0;                  // inet/inet6 only
    std::string unix_path;                   // unix_path only (often empty)
};

/// Everything a Session can ask of its connection. The Runner's engine implements it; tests
/// may implement it directly. Every method is called only from the connection's own thread.
class Context {
public:
    virtual ~Context() = default;
    /// A macro's value ("i", "{auth_authen}", also "auth_authen"), or nullopt when the MTA did not send it.
    [[nodiscard]] virtual std::optional<std::string> macro(std::string_view name) const = 0;
    /// An SMTP reply for the next reject/tempfail: rcode "4xx"/"5xx", xcode "4.x.y"/"5.x.y" or empty,
    /// one or more lines (at most 32, each at most 900 bytes, no CR/LF).
    [[nodiscard]] virtual Outcome set_reply(std::string_view rcode, std::string_view xcode,
                                            const std::vector<std::string>& lines) = 0;
    // Message modifications; only valid during end-of-message.
    [[nodiscard]] virtual Outcome add_header(std::string_view name, std::string_view value) = 0;
    [[nodiscard]] virtual Outcome insert_header(int index, std::string_view name, std::string_view value) = 0;
    [[nodiscard]] virtual Outcome change_header(std::string_view name, int index, std::string_view value) = 0;
    [[nodiscard]] virtual Outcome add_rcpt(std::string_view rcpt, std::string_view esmtp_args) = 0;
    [[nodiscard]] virtual Outcome del_rcpt(std::string_view rcpt) = 0;
    [[nodiscard]] virtual Outcome change_from(std::string_view sender, std::string_view esmtp_args) = 0;
    [[nodiscard]] virtual Outcome quarantine(std::string_view reason) = 0;
    [[nodiscard]] virtual Outcome replace_body_chunk(std::string_view chunk) = 0;
};

/// Splits text into SMTP reply lines: breaks at "\n" (a preceding "\r" is dropped), replaces other
/// control characters by spaces and doubles '%' (as libmilter milters do, for sendmail's format
/// strings; Postfix undoes the doubling). Returns an empty vector for empty text.
[[nodiscard]] std::vector<std::string> reply_lines(std::string_view text);

/// Checks an SMTP reply: rcode 4xx/5xx (RFC 5321 §4.2), xcode empty or class.subject.detail with the
/// same class digit (RFC 3463 §2), 1..32 lines of at most 900 bytes without CR/LF/NUL.
[[nodiscard]] bool valid_reply(std::string_view rcode, std::string_view xcode, const std::vector<std::string>& lines);

/// The message modifications allowed at end-of-message. A thin typed facade over Context;
/// the Runner creates one per xxfi_eom.
class Modifier {
public:
    explicit Modifier(Context& ctx) noexcept : ctx_(ctx) {}

    /// Appends a header (RFC 5322 §3.6: name without ':', no CR/LF except folding "\n\t").
    [[nodiscard]] Outcome add_header(std::string_view name, std::string_view value) { return ctx_.add_header(name, value); }
    /// Inserts a header at position index (0 = above everything, including Postfix's Received header).
    [[nodiscard]] Outcome insert_header(int index, std::string_view name, std::string_view value) {
        return ctx_.insert_header(index, name, value);
    }
    /// Replaces the index-th (1-based) header called name.
    [[nodiscard]] Outcome change_header(std::string_view name, int index, std::string_view value) {
        return ctx_.change_header(name, index, value);
    }
    /// Deletes the index-th (1-based) header called name.
    [[nodiscard]] Outcome delete_header(std::string_view name, int index) { return ctx_.change_header(name, index, {}); }
    [[nodiscard]] Outcome add_rcpt(std::string_view rcpt, std::string_view esmtp_args = {}) {
        return ctx_.add_rcpt(rcpt, esmtp_args);
    }
    [[nodiscard]] Outcome del_rcpt(std::string_view rcpt) { return ctx_.del_rcpt(rcpt); }
    [[nodiscard]] Outcome change_from(std::string_view sender, std::string_view esmtp_args = {}) {
        return ctx_.change_from(sender, esmtp_args);
    }
    [[nodiscard]] Outcome quarantine(std::string_view reason) { return ctx_.quarantine(reason); }
    /// The reply for a reject/tempfail returned from eom; text may hold several lines ("\n").
    [[nodiscard]] Outcome set_reply(std::string_view rcode, std::string_view xcode, std::string_view text) {
        return ctx_.set_reply(rcode, xcode, reply_lines(text));
    }
    /// Replaces the body; call repeatedly to send it in pieces. Any size: pieces above the protocol's
    /// 65535-byte packet limit are split. The first call discards the old body.
    [[nodiscard]] Outcome replace_body(std::string_view data);

private:
    Context& ctx_;
};

/// Base class of every milter's per-connection state. Callbacks run on the connection's thread, one
/// at a time. Each may throw: the Runner logs the exception and tempfails the message. Defaults
/// continue. After eom, after abort, and after a verdict that ends the message early (reject,
/// tempfail, discard or accept from MAIL FROM to the body; the MTA's abort then reaches no session)
/// the Runner calls reset() so the next message starts clean.
class Session {
public:
    Session() = default;
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    virtual ~Session() = default;

    virtual Status on_connect(const ConnectInfo& info) { (void)info; return Status::continue_; }
    virtual Status on_helo(std::string_view helo) { (void)helo; return Status::continue_; }
    /// args[0] is the address as sent ("<a@b>"), then ESMTP parameters.
    virtual Status on_envfrom(const std::vector<std::string_view>& args) { (void)args; return Status::continue_; }
    virtual Status on_envrcpt(const std::vector<std::string_view>& args) { (void)args; return Status::continue_; }
    virtual Status on_data() { return Status::continue_; }
    virtual Status on_header(std::string_view name, std::string_view value) { (void)name; (void)value; return Status::continue_; }
    virtual Status on_eoh() { return Status::continue_; }
    virtual Status on_body(std::string_view chunk) { (void)chunk; return Status::continue_; }
    virtual Status on_eom(Modifier& modifier) { (void)modifier; return Status::continue_; }
    virtual void on_abort() {}
    virtual void on_close() {}
    virtual Status on_unknown(std::string_view command) { (void)command; return Status::continue_; }
    /// Per-message reset, called after eom and after abort.
    virtual void reset() {}

    /// Attached by the Runner before the first callback; nullptr outside one.
    void attach(Context* ctx) noexcept { ctx_ = ctx; }

protected:
    /// Raw macro access; typed helpers below. nullopt when not sent (or no context attached).
    [[nodiscard]] std::optional<std::string> macro(std::string_view name) const {
        return ctx_ != nullptr ? ctx_->macro(name) : std::nullopt;
    }
    [[nodiscard]] std::string macro_or_empty(std::string_view name) const { return macro(name).value_or(std::string()); }
    /// Postfix queue id (macro "i", sent from DATA on; with MAIL when the queue file exists then).
    [[nodiscard]] std::string queue_id() const { return macro_or_empty("i"); }
    [[nodiscard]] std::string auth_authen() const { return macro_or_empty("{auth_authen}"); }
    [[nodiscard]] std::string auth_type() const { return macro_or_empty("{auth_type}"); }
    [[nodiscard]] std::string client_addr() const { return macro_or_empty("{client_addr}"); }
    [[nodiscard]] std::string client_name() const { return macro_or_empty("{client_name}"); }
    [[nodiscard]] std::string daemon_name() const { return macro_or_empty("{daemon_name}"); }
    [[nodiscard]] std::string my_hostname() const { return macro_or_empty("j"); }
    [[nodiscard]] std::string mail_addr() const { return macro_or_empty("{mail_addr}"); }
    [[nodiscard]] std::string rcpt_addr() const { return macro_or_empty("{rcpt_addr}"); }
    /// A reply for the reject/tempfail this callback is about to return; text may span lines.
    [[nodiscard]] Outcome set_reply(std::string_view rcode, std::string_view xcode, std::string_view text) {
        return ctx_ != nullptr ? ctx_->set_reply(rcode, xcode, reply_lines(text)) : Outcome::failed;
    }

private:
    Context* ctx_ = nullptr;
};

}  // namespace mailmoat::milter
