// tests/unit/policy/settings_test.cpp - shared policy server settings: defaults, values, refusals.
#include <catch2/catch.hpp>

#include "common/config/options.hpp"
#include "common/policy/settings.hpp"

namespace cfg = mailmoat::config;
namespace mp = mailmoat::policy;
using namespace std::chrono_literals;

namespace {
cfg::Schema schema() {
    cfg::Schema s("mailmoat-unit-policy", "unit test");
    mp::add_server_options(s);
    return s;
}
mailmoat::util::SocketSpec spec() { return *mailmoat::util::SocketSpec::parse("inet:127.0.0.1:10040"); }
}  // namespace

TEST_CASE("policy server settings default to ServerOptions' defaults", "[policy]") {
    const auto values = cfg::parse(schema(), {});
    const auto o = mp::server_options(values, spec(), "postfix:postfix", 0600);
    const mp::ServerOptions d;
    CHECK(o.max_connections == d.max_connections);
    CHECK(o.idle_timeout == d.idle_timeout);
    CHECK(o.read_timeout == d.read_timeout);
    CHECK(o.write_timeout == d.write_timeout);
    CHECK(o.idle_timeout == 600s);
    CHECK(o.read_timeout == 10s);
    CHECK(o.socket.port == 10040);
    CHECK(o.socket_owner == "postfix:postfix");
    CHECK(o.socket_mode == 0600);
}

TEST_CASE("policy server settings from the command line", "[policy]") {
    const auto values = cfg::parse(schema(), {"--max-connections", "50", "--idle-timeout", "5m", "--read-timeout", "3",
                                              "--write-timeout", "2s"});
    const auto o = mp::server_options(values, spec(), "", 0660);
    CHECK(o.max_connections == 50);
    CHECK(o.idle_timeout == 300s);
    CHECK(o.read_timeout == 3s);
    CHECK(o.write_timeout == 2s);
}

TEST_CASE("bad policy server settings are configuration errors", "[policy]") {
    CHECK_THROWS_AS(cfg::parse(schema(), {"--max-connections", "0"}), cfg::ConfigError);
    const auto values = cfg::parse(schema(), {"--read-timeout", "0"});
    CHECK_THROWS_WITH(mp::server_options(values, spec(), "", 0660), Catch::Contains("read-timeout"));
}
