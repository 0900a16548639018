// bench/policy-null/main.cpp - mailmoat-policy-null: answers DUNNO to every request, logs nothing per request;
// measures the policy plumbing (parser, server, threads) without any decision cost.
#include <memory>

#include "common/daemon/daemon.hpp"
#include "common/log/logger.hpp"
#include "common/policy/server.hpp"

namespace mm = mailmoat;

namespace {

class NullHandler final : public mm::policy::Handler {
public:
    mm::policy::Action handle(const mm::policy::Request&, const mm::policy::Peer&) const override { return answer_; }

private:
    const mm::policy::Action answer_ = mm::policy::Action::dunno();
};

}  // namespace

int main(int argc, char** argv) {
    mm::config::Schema schema("mailmoat-policy-null", "do-nothing policy server for benchmarks: always DUNNO");
    schema.add_common_daemon_options("inet:127.0.0.1:10041", "");
    schema.add_uint("max-connections", 1000, 1, 100000, "Most simultaneous connections.");
    schema.add_uint("spin-us", 50, 0, 10000,
                    "Microseconds a connection thread polls for the next request before sleeping (0: never).");
    std::size_t max_connections = 0;
    std::uint64_t spin_us = 50;
    auto started = mm::daemon::start(schema, argc, argv, [&](const mm::config::Values& v) {
        max_connections = static_cast<std::size_t>(v.uint("max-connections"));
        spin_us = v.uint("spin-us");
    });
    if (started.exit_code) return *started.exit_code;
    const auto& common = started.common;
    try {
        mm::daemon::SignalSet signals;
        mm::policy::ServerOptions options;
        options.socket = common.socket;
        options.socket_owner = common.socket_owner;
        options.socket_mode = common.socket_mode;
        options.max_connections = max_connections;
        options.spin = std::chrono::microseconds(spin_us);
        mm::policy::Server server(options, std::make_shared<const NullHandler>());
        server.listen();
        mm::daemon::drop_privileges(common.user, common.group);
        server.start();
        mm::daemon::notify_ready();
        while (signals.wait() == mm::daemon::SignalSet::Event::reload) {
        }
        server.stop();
        const auto c = server.counters();
        mm::log::notice().msg("stopped").kv("requests", c.requests).kv("connections", c.connections_accepted)
            .kv("malformed", c.malformed).kv("refused", c.connections_refused)
            .kv("spins", c.spins).kv("spin_hits", c.spin_hits);
        return 0;
    } catch (const std::exception& e) {
        mm::log::error().msg("fatal").kv("reason", e.what());
        return 1;
    }
}
