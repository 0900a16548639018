// common/util/socket_spec.hpp - listening-socket specifications in Postfix's and libmilter's spellings.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mailmoat::util {

/// Where a daemon listens. Accepted spellings (milters and policy servers alike):
///   unix:/path  local:/path  /path                         - UNIX-domain socket
///   inet:host:port  inet:[v6addr]:port                      - Postfix main.cf spelling
///   inet:port@host  inet6:port@host  inet:port              - libmilter spelling (host default 127.0.0.1 / ::1)
struct SocketSpec {
    enum class Family { unix_path, inet, inet6 };
    Family family = Family::unix_path;
    std::string path;        // unix_path only
    std::string host;        // inet/inet6: numeric address or host name
    std::uint16_t port = 0;  // inet/inet6

    /// Parses any accepted spelling. Returns nullopt and sets *error (if given) on bad syntax,
    /// a port outside 1..65535, an empty or relative path.
    [[nodiscard]] static std::optional<SocketSpec> parse(std::string_view text, std::string* error = nullptr);

    /// libmilter's spelling: "unix:/path", "inet:port@host", "inet6:port@host".
    [[nodiscard]] std::string to_milter() const;
    /// Postfix main.cf spelling: "unix:/path", "inet:host:port", "inet:[v6]:port".
    [[nodiscard]] std::string to_postfix() const;
};

}  // namespace mailmoat::util
