// common/crypto/ssl_error.cpp - OpenSSL error queue to string.
#include "common/crypto/ssl_error.hpp"

#include <openssl/err.h>

namespace mailmoat::crypto {

std::string ssl_error(std::string_view context) {
    std::string out(context);
    constexpr std::size_t max_len = 400;
    bool first = true;
    for (unsigned long code = ERR_get_error(); code != 0; code = ERR_get_error()) {
        if (out.size() >= max_len) continue;  // keep draining, stop appending
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        out += first ? (out.empty() ? "" : ": ") : "; ";
        out += buf;
        first = false;
    }
    if (out.empty()) out = "unknown error";
    return out;
}

void ssl_clear_errors() noexcept { ERR_clear_error(); }

}  // namespace mailmoat::crypto
