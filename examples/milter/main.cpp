// examples/milter/main.cpp - mailmoat-example-milter: a thin daemon over the shared milter plumbing.
#include <exception>
#include <memory>

#include "common/daemon/daemon.hpp"
#include "common/log/logger.hpp"
#include "common/milter/runner.hpp"
#include "common/milter/settings.hpp"
#include "common/milter/serve.hpp"
#include "example_session.hpp"

using namespace mailmoat;

namespace {

milter::SessionFactory factory(std::shared_ptr<const example::Settings> settings) {
    return [settings] { return std::make_unique<example::ExampleSession>(settings); };
}

}  // namespace

int main(int argc, char** argv) {
    try {
        config::Schema schema("mailmoat-example-milter", "example milter: adds a header, rejects on a Subject word");
        schema.add_common_daemon_options("inet:127.0.0.1:10041", "/etc/mailmoat/example-milter.conf");
        example::Settings::add_options(schema);
        auto start = daemon::start(schema, argc, argv, [](const config::Values& v) { (void)example::Settings::from(v); });
        if (start.exit_code) return *start.exit_code;

        daemon::SignalSet signals;  // before any thread starts
        auto settings = std::make_shared<const example::Settings>(example::Settings::from(start.values));
        auto options = example::runner_options(start.common.socket);
        // Socket owner and mode, tcp-nodelay and max-connections, as every mailmoat milter sets them (the
        // daemon owns its UNIX socket unless told otherwise: it must still reach it after dropping root).
        milter::apply_runner_settings(start.values, start.common, options);
        milter::Runner runner(options, factory(settings));
        return milter::serve(runner, start.common, signals, [&] {
            const auto values = daemon::reload(schema, argc, argv);
            settings = std::make_shared<const example::Settings>(example::Settings::from(values));
            runner.set_factory(factory(settings));
            log::notice().msg("configuration reloaded");
        });
    } catch (const std::exception& e) {
        log::error().kv("error", e.what()).msg("fatal");
        return 1;
    }
}
