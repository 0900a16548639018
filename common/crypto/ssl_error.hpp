// common/crypto/ssl_error.hpp - turns OpenSSL's thread-local error queue into a short string.
#pragma once
#include <string>
#include <string_view>

namespace mailmoat::crypto {

/// Drains this thread's OpenSSL error queue and returns "context: reason; reason" (at most a few
/// hundred characters). With an empty queue it returns just the context (or "unknown error").
[[nodiscard]] std::string ssl_error(std::string_view context = {});

/// Empties this thread's OpenSSL error queue (before an operation whose failure we report).
void ssl_clear_errors() noexcept;

}  // namespace mailmoat::crypto
