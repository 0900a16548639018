// milters/checks/main.cpp - mailmoat-checks: settings, tables, milter runner, signals.
#include <exception>
#include <memory>

#include "common/daemon/daemon.hpp"
#include "common/log/logger.hpp"
#include "common/milter/runner.hpp"
#include "common/milter/settings.hpp"
#include "common/milter/serve.hpp"
#include "milters/checks/checks_session.hpp"
#include "milters/checks/settings.hpp"

using namespace mailmoat;

namespace {

milter::SessionFactory factory(std::shared_ptr<const checksd::Settings> s) {
    return [s] { return std::make_unique<checksd::ChecksSession>(s); };
}

std::size_t rule_tables(const checksd::Settings& s) {
    return s.rules->header.size() + s.rules->mime_header.size() + s.rules->nested_header.size() + s.rules->body.size() +
           s.rules->decoded_body.size();
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const auto schema = checksd::make_schema();
        auto start = daemon::start(schema, argc, argv, [](const config::Values& v) { (void)checksd::build_settings(v); });
        if (start.exit_code) return *start.exit_code;

        daemon::SignalSet signals;  // before any thread starts
        auto settings = std::make_shared<const checksd::Settings>(checksd::build_settings(start.values));
        auto options = checksd::runner_options(start.common.socket);
        milter::apply_runner_settings(start.values, start.common, options);
        milter::Runner runner(options, factory(settings));
        return milter::serve(
            runner, start.common, signals,
            [&] {
                // Every table is compiled before the swap: a bad one throws (naming FILE:LINE) and the
                // running tables stay.
                auto next = std::make_shared<const checksd::Settings>(checksd::build_settings(daemon::reload(schema, argc, argv)));
                settings = next;
                runner.set_factory(factory(settings));
                log::notice().kv("tables", static_cast<std::uint64_t>(rule_tables(*settings))).msg("configuration reloaded");
            },
            "tables=" + std::to_string(rule_tables(*settings)));
    } catch (const std::exception& e) {
        log::error().kv("error", e.what()).msg("fatal");
        return 1;
    }
}
