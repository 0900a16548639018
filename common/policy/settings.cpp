// common/policy/settings.cpp - schema entries and validation for the shared policy server settings.
#include "common/policy/settings.hpp"

#include <chrono>

namespace mailmoat::policy {

void add_server_options(config::Schema& schema) {
    const ServerOptions d;
    schema.add_uint("max-connections", d.max_connections, 1, 10000,
                    "Most simultaneous connections (Postfix holds one per smtpd process); more are closed at once "
                    "with a warning, and Postfix applies its default_action.");
    schema.add_duration("idle-timeout", std::chrono::duration_cast<std::chrono::seconds>(d.idle_timeout),
                        "Close a connection idle this long between requests (Postfix reconnects when needed).");
    schema.add_duration("read-timeout", std::chrono::duration_cast<std::chrono::seconds>(d.read_timeout),
                        "Close a connection that takes longer than this to send one request.");
    schema.add_duration("write-timeout", std::chrono::duration_cast<std::chrono::seconds>(d.write_timeout),
                        "Close a connection that does not take an answer within this time.");
}

ServerOptions server_options(const config::Values& values, const util::SocketSpec& socket,
                             const std::string& socket_owner, unsigned socket_mode) {
    ServerOptions o;
    o.socket = socket;
    o.socket_owner = socket_owner;
    o.socket_mode = socket_mode;
    o.max_connections = static_cast<std::size_t>(values.uint("max-connections"));
    for (const char* key : {"idle-timeout", "read-timeout", "write-timeout"})
        if (values.duration(key).count() < 1) throw values.error(key, "must be at least 1s");
    o.idle_timeout = values.duration("idle-timeout");
    o.read_timeout = values.duration("read-timeout");
    o.write_timeout = values.duration("write-timeout");
    return o;
}

}  // namespace mailmoat::policy
