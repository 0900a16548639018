// common/crypto/base64.hpp - strict base64 (RFC 4648 §4) as DKIM uses it for b=, bh= and p=.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace mailmoat::crypto {

/// Encodes bytes as base64 with padding, no line breaks.
[[nodiscard]] std::string base64_encode(std::string_view bytes);

/// Decodes base64. Whitespace (SP, HTAB, CR, LF) anywhere is skipped, as DKIM allows folding
/// whitespace inside base64 tag values (RFC 6376 §3.5 b=/bh=, §3.6.1 p=). Returns nullopt for any
/// other character outside the alphabet, '=' padding that is not at the end, a length that is not a
/// multiple of four once whitespace is removed, or non-zero bits in the final padding group.
[[nodiscard]] std::optional<std::string> base64_decode(std::string_view text);

}  // namespace mailmoat::crypto
