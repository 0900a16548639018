// common/milter/settings.hpp - the listener settings every milter daemon shares, defined once.
#pragma once
#include "common/config/options.hpp"
#include "common/milter/runner.hpp"

namespace mailmoat::milter {

/// Adds tcp-nodelay and max-connections (with RunnerOptions' defaults) to a milter daemon's schema.
void add_runner_settings(config::Schema& schema);

/// Copies the values of add_runner_settings() into o. Read once at start: the listener and its limit
/// stay as they are across a reload.
void apply_runner_settings(const config::Values& values, RunnerOptions& o);

}  // namespace mailmoat::milter
