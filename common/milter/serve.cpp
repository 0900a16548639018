// common/milter/serve.cpp - the shared milter daemon loop: listen, privilege drop, signals, reload, stop.
#include "common/milter/serve.hpp"

#include <chrono>
#include <exception>

#include "common/config/options.hpp"
#include "common/log/logger.hpp"

namespace mailmoat::milter {

int serve(Runner& runner, const daemon::CommonSettings& common, daemon::SignalSet& signals,
          const std::function<void()>& reload, const std::string& describe_started) {
    if (const auto opened = runner.open(); opened.code != OpenResult::Code::ok) {
        log::error().kv("socket", common.socket.to_postfix()).kv("error", opened.message);
        return opened.code == OpenResult::Code::config_error ? config::exit_config_error : exit_cannot_listen;
    }
    daemon::write_pid_file(common.pid_file);
    daemon::drop_privileges(common.user, common.group);
    if (!runner.start()) {
        log::error().msg("cannot start the milter");
        return 1;
    }
    {
        auto line = log::notice();
        line.kv("socket", common.socket.to_postfix());
        if (!describe_started.empty()) line.msg(describe_started);
        line.msg("started");
    }
    daemon::notify_ready();
    int rc = 0;
    for (;;) {
        const auto event = signals.wait_for(std::chrono::milliseconds(1000));
        if (!event) {
            if (!runner.running()) {
                log::error().msg("milter loop ended unexpectedly");
                rc = 1;
                break;
            }
            continue;
        }
        if (*event == daemon::SignalSet::Event::stop) break;
        daemon::notify_reloading();
        try {
            reload();
        } catch (const std::exception& e) {
            log::error().kv("error", e.what()).msg("reload failed; keeping the old configuration");
        }
        daemon::notify_ready();
    }
    daemon::notify_stopping();
    runner.stop();
    daemon::remove_pid_file(common.pid_file);
    log::notice().msg("stopped");
    return rc;
}

}  // namespace mailmoat::milter
