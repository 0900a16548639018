// common/policy/settings.hpp - the policy server settings every policy daemon shares, defined once.
#pragma once
#include <string>

#include "common/config/options.hpp"
#include "common/policy/server.hpp"
#include "common/util/socket_spec.hpp"

namespace mailmoat::policy {

/// Adds max-connections, idle-timeout, read-timeout and write-timeout (with ServerOptions' defaults)
/// to a daemon's schema, next to its add_common_daemon_options().
void add_server_options(config::Schema& schema);

/// ServerOptions from the values of add_server_options() and the daemon's socket settings.
/// Throws config::ConfigError (naming the key and where it was set) for a timeout under 1 s.
[[nodiscard]] ServerOptions server_options(const config::Values& values, const util::SocketSpec& socket,
                                           const std::string& socket_owner, unsigned socket_mode);

}  // namespace mailmoat::policy
