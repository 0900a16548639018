// common/milter/header_value.hpp - header values between the milter protocol's form and the wire form that the
// DKIM/ARC engines canonicalise (RFC 6376 §3.4): shared by every milter that verifies or adds fields.
#pragma once
#include <string>
#include <string_view>

namespace mailmoat::milter {

/// The value Postfix hands a milter (leading whitespace stripped, folds as LF) turned back into wire
/// form: a leading space when none is left, every line break as CRLF. Never fails.
[[nodiscard]] std::string wire_value(std::string_view milter_value);
/// A header value in the milter protocol's form for add/insert/change header: leading whitespace dropped,
/// CRLF folds as LF. Never fails.
[[nodiscard]] std::string milter_value(std::string_view wire);

}  // namespace mailmoat::milter
