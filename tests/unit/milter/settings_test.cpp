// tests/unit/milter/settings_test.cpp - the shared milter listener settings: defaults, values, refusals.
#include <unistd.h>

#include <catch2/catch.hpp>

#include "common/config/options.hpp"
#include "common/milter/settings.hpp"

namespace cfg = mailmoat::config;
namespace mm = mailmoat::milter;

namespace {
cfg::Schema schema() {
    cfg::Schema s("mailmoat-unit-milter", "unit test");
    mm::add_runner_settings(s);
    return s;
}
}  // namespace

TEST_CASE("milter listener settings default to RunnerOptions' defaults", "[milter]") {
    mm::RunnerOptions o;
    o.tcp_nodelay = false;
    o.max_connections = 7;
    mm::apply_runner_settings(cfg::parse(schema(), {}), {}, o);
    const mm::RunnerOptions d;
    CHECK(o.tcp_nodelay == d.tcp_nodelay);
    CHECK(o.max_connections == d.max_connections);
    CHECK(o.max_connections == 1024);
}

TEST_CASE("milter listener settings from the command line", "[milter]") {
    mm::RunnerOptions o;
    mm::apply_runner_settings(cfg::parse(schema(), {"--max-connections", "64", "--tcp-nodelay=no"}), {}, o);
    CHECK(o.max_connections == 64);
    CHECK_FALSE(o.tcp_nodelay);
}

TEST_CASE("a milter connection limit of 0 is a configuration error", "[milter]") {
    CHECK_THROWS_AS(cfg::parse(schema(), {"--max-connections", "0"}), cfg::ConfigError);
}

TEST_CASE("the milter socket's owner and mode come from the common settings", "[milter]") {
    const auto values = cfg::parse(schema(), {});
    mailmoat::daemon::CommonSettings common;
    common.socket_mode = 0600;
    common.user = "mailmoat";
    common.group = "postfix";
    mm::RunnerOptions o;
    mm::apply_runner_settings(values, common, o);
    CHECK(o.socket_mode == 0600);
    // Started as root the daemon drops to user:group, so its socket is theirs; otherwise it stays ours.
    CHECK(o.socket_owner == (::geteuid() == 0 ? "mailmoat:postfix" : ""));
    common.group.clear();
    mm::apply_runner_settings(values, common, o);
    CHECK(o.socket_owner == (::geteuid() == 0 ? "mailmoat" : ""));
    common.socket_owner = "postfix:postfix";  // an explicit socket-owner wins
    mm::apply_runner_settings(values, common, o);
    CHECK(o.socket_owner == "postfix:postfix");
}
