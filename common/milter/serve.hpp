// common/milter/serve.hpp - the life of a milter daemon after its settings are built: listen, drop
// privileges, run, reload on SIGHUP, stop on SIGTERM. Shared by every milter program.
#pragma once
#include <functional>
#include <string>

#include "common/daemon/daemon.hpp"
#include "common/milter/runner.hpp"

namespace mailmoat::milter {

inline constexpr int exit_cannot_listen = 71;  // EX_OSERR

/// Opens runner's socket, writes the pid file, drops to common.user/group, starts the runner, tells
/// systemd it is ready and logs `started` (with describe_started appended), then waits on signals:
/// SIGHUP calls reload() - it builds the new configuration and swaps the runner's factory; an
/// exception from it is logged and the old configuration stays - and SIGTERM/SIGINT stop the runner.
/// Returns the exit code: 0 after a clean stop, 78 (EX_CONFIG) for a bad socket, 71 (EX_OSERR) when
/// the socket cannot be opened, 1 when the runner cannot start or its loop ends by itself.
[[nodiscard]] int serve(Runner& runner, const daemon::CommonSettings& common, daemon::SignalSet& signals,
                        const std::function<void()>& reload, const std::string& describe_started = {});

}  // namespace mailmoat::milter
