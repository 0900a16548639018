// policyd/spf/main.cpp - mailmoat-spf: settings, resolver, policy server, signals.
#include <exception>
#include <memory>

#include "common/daemon/daemon.hpp"
#include "common/dns/resolver_factory.hpp"
#include "common/log/logger.hpp"
#include "common/policy/server.hpp"
#include "mailmoat/version.hpp"
#include "policyd/spf/settings.hpp"
#include "policyd/spf/spf_policy.hpp"

namespace mm = mailmoat;

namespace {

std::shared_ptr<mm::dns::Resolver> resolver_for(const mm::spfd::Settings& s) {
    return mm::dns::make_resolver(s.common.dns_server, std::chrono::duration_cast<std::chrono::milliseconds>(s.common.dns_timeout),
                                  s.common.dns_retries, s.dns_cache_size);
}

}  // namespace

int main(int argc, char** argv) {
    const auto schema = mm::spfd::make_schema();
    auto settings = std::make_shared<mm::spfd::Settings>();
    std::shared_ptr<mm::spfd::SpfPolicy> checked;
    // --check-config also builds the handler, so a bad per-recipient table is caught there too.
    auto start = mm::daemon::start(schema, argc, argv, [&](const mm::config::Values& v) {
        *settings = mm::spfd::build_settings(v);
        (void)resolver_for(*settings);
        checked = std::make_shared<mm::spfd::SpfPolicy>(settings, resolver_for(*settings));
    });
    if (start.exit_code) return *start.exit_code;
    try {
        mm::daemon::SignalSet signals;
        std::shared_ptr<const mm::spfd::Settings> current = settings;
        auto resolver = resolver_for(*current);
        mm::policy::Server server(current->server, std::make_shared<mm::spfd::SpfPolicy>(current, resolver));
        server.listen();
        mm::daemon::write_pid_file(current->common.pid_file);
        mm::daemon::drop_privileges(current->common.user, current->common.group);
        server.start();
        mm::daemon::notify_ready();
        mm::log::notice().kv("event", "started").kv("socket", current->common.socket.to_postfix()).kv("version", mm::version);
        for (;;) {
            if (signals.wait() == mm::daemon::SignalSet::Event::stop) break;
            mm::daemon::notify_reloading();
            try {
                auto next = std::make_shared<mm::spfd::Settings>(mm::spfd::build_settings(mm::daemon::reload(schema, argc, argv)));
                if (next->common.socket.to_postfix() != current->common.socket.to_postfix())
                    mm::log::warning().kv("event", "reload").kv("problem", "socket change needs a restart");
                mm::log::set_level(next->common.log_level);
                resolver = resolver_for(*next);
                server.set_handler(std::make_shared<mm::spfd::SpfPolicy>(next, resolver));
                current = next;
                mm::log::notice().kv("event", "reloaded");
            } catch (const std::exception& e) {
                mm::log::error().kv("event", "reload").kv("result", "kept-old-config").kv("problem", e.what());
            }
            mm::daemon::notify_ready();
        }
        mm::daemon::notify_stopping();
        server.stop();
        mm::daemon::remove_pid_file(current->common.pid_file);
        mm::log::notice().kv("event", "stopped");
        return 0;
    } catch (const std::exception& e) {
        mm::log::error().kv("event", "fatal").kv("problem", e.what());
        return 1;
    }
}
