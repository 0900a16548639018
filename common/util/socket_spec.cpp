// common/util/socket_spec.cpp - parse/format SocketSpec in Postfix's and libmilter's spellings.
#include "common/util/socket_spec.hpp"

#include <charconv>

namespace mailmoat::util {
namespace {

bool parse_port(std::string_view s, std::uint16_t& port) {
    unsigned value = 0;
    const auto* end = s.data() + s.size();
    auto [p, ec] = std::from_chars(s.data(), end, value);
    if (s.empty() || ec != std::errc{} || p != end || value == 0 || value > 65535) return false;
    port = static_cast<std::uint16_t>(value);
    return true;
}

std::optional<SocketSpec> fail(std::string* error, std::string message) {
    if (error != nullptr) *error = std::move(message);
    return std::nullopt;
}

}  // namespace

std::optional<SocketSpec> SocketSpec::parse(std::string_view text, std::string* error) {
    SocketSpec spec;
    const std::string quoted = "'" + std::string(text) + "'";
    std::string_view rest;
    if (text.starts_with("unix:") || text.starts_with("local:") || text.starts_with("/")) {
        rest = text.starts_with("/") ? text : text.substr(text.find(':') + 1);
        if (rest.empty() || rest.front() != '/')
            return fail(error, "socket " + quoted + ": UNIX socket path must be absolute");
        if (rest.size() > 107) return fail(error, "socket " + quoted + ": UNIX socket path too long");
        spec.family = Family::unix_path;
        spec.path = std::string(rest);
        return spec;
    }
    if (text.starts_with("inet6:")) {
        spec.family = Family::inet6;
        rest = text.substr(6);
    } else if (text.starts_with("inet:")) {
        spec.family = Family::inet;
        rest = text.substr(5);
    } else {
        return fail(error, "socket " + quoted + ": expected unix:/path, inet:host:port or inet:port@host");
    }
    if (const auto at = rest.find('@'); at != std::string_view::npos) {  // libmilter: port@host
        if (!parse_port(rest.substr(0, at), spec.port)) return fail(error, "socket " + quoted + ": bad port");
        spec.host = std::string(rest.substr(at + 1));
        if (spec.host.size() >= 2 && spec.host.front() == '[' && spec.host.back() == ']')
            spec.host = spec.host.substr(1, spec.host.size() - 2);
    } else if (rest.starts_with("[")) {  // Postfix: [v6]:port
        const auto close = rest.find(']');
        if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
            return fail(error, "socket " + quoted + ": expected inet:[address]:port");
        spec.host = std::string(rest.substr(1, close - 1));
        if (!parse_port(rest.substr(close + 2), spec.port)) return fail(error, "socket " + quoted + ": bad port");
        if (spec.host.find(':') != std::string::npos) spec.family = Family::inet6;
    } else if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {  // Postfix: host:port
        spec.host = std::string(rest.substr(0, colon));
        if (!parse_port(rest.substr(colon + 1), spec.port)) return fail(error, "socket " + quoted + ": bad port");
    } else {  // inet:port
        if (!parse_port(rest, spec.port)) return fail(error, "socket " + quoted + ": bad port");
    }
    if (spec.host.empty()) spec.host = spec.family == Family::inet6 ? "::1" : "127.0.0.1";
    if (spec.host.find(':') != std::string::npos) spec.family = Family::inet6;
    return spec;
}

std::string SocketSpec::to_milter() const {
    switch (family) {
    case Family::unix_path: return "unix:" + path;
    case Family::inet: return "inet:" + std::to_string(port) + "@" + host;
    case Family::inet6: return "inet6:" + std::to_string(port) + "@" + host;
    }
    return {};
}

std::string SocketSpec::to_postfix() const {
    switch (family) {
    case Family::unix_path: return "unix:" + path;
    case Family::inet: return "inet:" + host + ":" + std::to_string(port);
    case Family::inet6: return "inet:[" + host + "]:" + std::to_string(port);
    }
    return {};
}

}  // namespace mailmoat::util
