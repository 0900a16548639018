// examples/policy/main.cpp - mailmoat-example-policy: settings, socket, privilege drop, signals, reload.
#include <memory>

#include "common/daemon/daemon.hpp"
#include "common/log/logger.hpp"
#include "common/policy/server.hpp"
#include "examples/policy/example_policy.hpp"

namespace mm = mailmoat;

namespace {

bool same_server_options(const mm::policy::ServerOptions& a, const mm::policy::ServerOptions& b) {
    return a.socket.to_postfix() == b.socket.to_postfix() && a.socket_owner == b.socket_owner &&
           a.socket_mode == b.socket_mode && a.max_connections == b.max_connections &&
           a.idle_timeout == b.idle_timeout && a.read_timeout == b.read_timeout && a.write_timeout == b.write_timeout;
}

// SIGHUP: a new configuration and a new handler; a bad configuration keeps the old one.
void reload(mm::policy::Server& server, const mm::config::Schema& schema, int argc, char** argv) {
    mm::daemon::notify_reloading();
    try {
        const auto values = mm::daemon::reload(schema, argc, argv);
        const auto common = mm::daemon::CommonSettings::from(values);
        const auto options = mm::examples::example_server_options(values, common);
        mm::log::set_level(common.log_level);
        server.set_handler(std::make_shared<const mm::examples::ExamplePolicy>());
        if (!same_server_options(options, server.options()))
            mm::log::warning().msg("socket, connection limit and timeouts change only on restart");
        mm::log::notice().msg("configuration reloaded");
    } catch (const std::exception& e) {
        mm::log::error().msg("reload failed, keeping the running configuration").kv("reason", e.what());
    }
    mm::daemon::notify_ready();
}

}  // namespace

int main(int argc, char** argv) {
    const mm::config::Schema schema = mm::examples::example_policy_schema();
    mm::policy::ServerOptions options;
    auto started = mm::daemon::start(schema, argc, argv, [&](const mm::config::Values& values) {
        options = mm::examples::example_server_options(values, mm::daemon::CommonSettings::from(values));
    });
    if (started.exit_code) return *started.exit_code;
    const auto& common = started.common;
    try {
        mm::daemon::SignalSet signals;  // before any thread starts, so all of them inherit the mask
        mm::policy::Server server(options, std::make_shared<const mm::examples::ExamplePolicy>());
        server.listen();  // may need root for the socket's place and owner
        mm::daemon::write_pid_file(common.pid_file);
        mm::daemon::drop_privileges(common.user, common.group);
        server.start();
        mm::daemon::notify_ready();
        mm::log::notice().msg("started").kv("socket", options.socket.to_postfix()).kv("port", static_cast<unsigned>(server.port()));
        while (signals.wait() == mm::daemon::SignalSet::Event::reload) reload(server, schema, argc, argv);
        mm::daemon::notify_stopping();
        server.stop();
        const auto c = server.counters();
        mm::log::notice()
            .msg("stopped")
            .kv("requests", c.requests)
            .kv("connections", c.connections_accepted)
            .kv("malformed", c.malformed)
            .kv("handler_errors", c.handler_errors);
        mm::daemon::remove_pid_file(common.pid_file);
        return 0;
    } catch (const std::exception& e) {
        mm::log::error().msg("fatal").kv("reason", e.what());
        mm::daemon::remove_pid_file(common.pid_file);
        return 1;
    }
}
