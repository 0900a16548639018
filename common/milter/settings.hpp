// common/milter/settings.hpp - the listener settings every milter daemon shares, defined once.
#pragma once
#include "common/config/options.hpp"
#include "common/daemon/daemon.hpp"
#include "common/milter/runner.hpp"

namespace mailmoat::milter {

/// Adds tcp-nodelay and max-connections (with RunnerOptions' defaults) to a milter daemon's schema.
void add_runner_settings(config::Schema& schema);

/// The listener part of o from the daemon's start: the values of add_runner_settings(), and the socket's
/// mode and owner (socket-owner, else, for a daemon started as root, its user[:group], so that the socket
/// stays usable after the privilege drop). Read once at start: the listener and its limit stay as they
/// are across a reload.
void apply_runner_settings(const config::Values& values, const daemon::CommonSettings& common, RunnerOptions& o);

}  // namespace mailmoat::milter
