// common/checks/action.hpp - header_checks(5)/body_checks actions: parsing the right-hand side of a rule.
#pragma once
#include <string>
#include <string_view>

namespace mailmoat::checks {

/// The actions of header_checks(5), as cleanup(8) executes them (cleanup_message.c cleanup_act).
enum class ActionKind {
    reject, discard, hold, filter, redirect, bcc, prepend, replace, ignore, strip, info, warn, pass, dunno,
    unknown,  // a word Postfix does not know: logged, the line is kept
    invalid,  // a known word with bad arguments (REDIRECT without '@', FILTER without ':', ...): logged, kept
};

/// "REJECT", "DISCARD", ...; "DUNNO" for dunno (OK is the same action).
[[nodiscard]] const char* action_name(ActionKind kind) noexcept;

/// One parsed action: the keyword and its optional text (leading whitespace removed).
struct Action {
    ActionKind kind = ActionKind::unknown;
    std::string text;  // the argument (REJECT text, PREPEND header, REDIRECT address, ...)
    std::string why;   // for invalid/unknown: what is wrong
};

/// Parses the result of a table lookup ("REJECT 4.7.1 go away", "prepend X-Foo: bar"). The keyword is
/// case-insensitive and must be followed by whitespace or the end of the text, as in cleanup_act().
/// For REDIRECT a text without '@', for FILTER one without ':', and for BCC one without '@' give
/// invalid; an unknown keyword gives unknown. Never throws (except std::bad_alloc).
[[nodiscard]] Action parse_action(std::string_view value);

/// The SMTP reply Postfix gives for a REJECT with this text (cleanup_act with dsn_prepend("5.7.1"),
/// then smtpd's "451" for a 4.x.x status and "550" otherwise; RFC 3463 §2 status codes).
struct Reply {
    std::string code;    // "550" or "451"
    std::string status;  // "5.7.1", or the status the text starts with
    std::string text;    // the rest: the text after the status, or "message content rejected"
};
/// Empty text gives "550 5.7.1 message content rejected"; "4.7.1 try later" gives "451 4.7.1 try later";
/// "no thanks" gives "550 5.7.1 no thanks"; a status of class 2 is turned into 4 as dsn_prepend does.
[[nodiscard]] Reply reject_reply(std::string_view text);

/// Is text a header "Name: value" Postfix would accept in a header PREPEND/REPLACE (is_header(): a
/// name of printable ASCII without ':' or space, then optional spaces/tabs, then ':')?
[[nodiscard]] bool is_header_text(std::string_view text) noexcept;

}  // namespace mailmoat::checks
