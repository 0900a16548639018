// common/policy/action.hpp - policy delegation answers (access(5) right-hand sides) and their wire form.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace mailmoat::policy {

/// One answer to Postfix: an access(5) action such as "DUNNO" or "REJECT 5.7.1 text".
/// Every builder sanitises what it is given so the answer is always one safe line:
///   CR, LF, TAB and other control bytes become spaces, runs of spaces collapse, leading/trailing spaces
///   go, invalid UTF-8 bytes become '?' (Postfix treats a non-UTF-8 reply as a failed request when
///   smtputf8_enable=yes), and the text is cut (at a character boundary) to max_text_length bytes.
/// Enhanced status codes are kept as given: reject("4.7.1 try later") -> "REJECT 4.7.1 try later".
class Action {
public:
    /// Bytes of free text kept after the keyword: a "5NN 5.7.1 " reply prefix plus this stays well
    /// inside the 512-byte SMTP reply line of RFC 5321 §4.5.3.1.5.
    static constexpr std::size_t max_text_length = 400;

    static Action dunno();
    static Action ok();
    static Action reject(std::string_view text = {});
    static Action defer(std::string_view text = {});
    static Action defer_if_permit(std::string_view text = {});
    static Action defer_if_reject(std::string_view text = {});
    static Action hold(std::string_view text = {});
    static Action discard(std::string_view text = {});
    /// "PREPEND Name: value". A header without a valid field name (RFC 5322 §3.6.8: printable ASCII
    /// except ':') followed by ':' is a programming error: throws std::invalid_argument.
    /// Postfix refuses PREPEND at END-OF-MESSAGE; that is the caller's business.
    static Action prepend(std::string_view header);
    /// "REDIRECT user@domain"; spaces are removed from the address.
    static Action redirect(std::string_view address);
    /// "FILTER transport:destination"; spaces are removed.
    static Action filter(std::string_view transport_destination);
    static Action warn(std::string_view text);
    static Action info(std::string_view text);
    /// Any access(5) right-hand side, sanitised as above. An all-digit 4NN/5NN code without text would
    /// mean OK to Postfix ("a bare 450 is treated as all-digits"), so a default text is added:
    /// raw("450") -> "450 4.7.1 Service unavailable, try again later", raw("554") -> "554 5.7.1 Access denied".
    static Action raw(std::string_view line);

    /// The action line without "action=", e.g. "REJECT 5.7.1 no".
    [[nodiscard]] const std::string& text() const noexcept { return text_; }
    /// The keyword: text() up to the first space, e.g. "REJECT".
    [[nodiscard]] std::string_view keyword() const noexcept;
    /// What goes on the socket: "action=" + text() + "\n\n".
    [[nodiscard]] std::string wire() const;

    friend bool operator==(const Action&, const Action&) = default;

private:
    explicit Action(std::string text) : text_(std::move(text)) {}
    static Action with_text(std::string_view keyword, std::string_view text);
    std::string text_;
};

/// The sanitising step used by Action, exposed for other protocol answers (milter reply text).
/// Returns at most max_len bytes; see Action for the rules.
[[nodiscard]] std::string sanitize_text(std::string_view text, std::size_t max_len = Action::max_text_length);

}  // namespace mailmoat::policy
