// tests/unit/daemon/daemon_test.cpp - the shared main skeleton: --check-config, --dump-defaults, errors, exit codes.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "common/daemon/daemon.hpp"

namespace cfg = mailmoat::config;
namespace dmn = mailmoat::daemon;

namespace {
cfg::Schema schema() {
    cfg::Schema s("mailmoat-unit", "unit test daemon");
    s.add_common_daemon_options("inet:127.0.0.1:10099", "");
    s.add_uint("limit", 3, 1, 9, "A limit.");
    return s;
}

dmn::Start run(std::vector<std::string> args, const std::function<void(const cfg::Values&)>& validate = {}) {
    std::vector<char*> argv;
    static std::string prog = "mailmoat-unit";
    argv.push_back(prog.data());
    for (auto& a : args) argv.push_back(a.data());
    return dmn::start(schema(), static_cast<int>(argv.size()), argv.data(), validate);
}
}  // namespace

TEST_CASE("a good configuration runs", "[daemon]") {
    auto s = run({"--foreground", "--socket", "inet:8891@127.0.0.1", "--log-level", "debug"});
    REQUIRE_FALSE(s.exit_code);
    CHECK(s.common.socket.port == 8891);
    CHECK(s.common.foreground);
    CHECK(s.common.log_level == mailmoat::log::Level::debug);
    CHECK(s.common.socket_mode == 0660);
}

TEST_CASE("help, version, dump-defaults and check-config exit 0", "[daemon]") {
    for (const char* flag : {"--help", "--version", "--dump-defaults", "--check-config"}) {
        auto s = run({flag});
        INFO(flag);
        REQUIRE(s.exit_code);
        CHECK(*s.exit_code == 0);
    }
}

TEST_CASE("bad settings: EX_CONFIG, or 1 under --check-config", "[daemon]") {
    CHECK(run({"--socket", "tcp:1"}).exit_code == cfg::exit_config_error);
    CHECK(run({"--socket", "tcp:1", "--check-config"}).exit_code == 1);
    CHECK(run({"--log-level", "loud"}).exit_code == cfg::exit_config_error);
    CHECK(run({"--socket-mode", "999"}).exit_code == cfg::exit_config_error);
    CHECK(run({"--limit", "10", "--check-config"}).exit_code == 1);
    CHECK(run({"--unknown"}).exit_code == cfg::exit_config_error);
}

TEST_CASE("the daemon's own validation runs and its error is reported", "[daemon]") {
    int calls = 0;
    auto ok = run({"--foreground"}, [&](const cfg::Values& v) { calls += static_cast<int>(v.uint("limit")); });
    CHECK_FALSE(ok.exit_code);
    CHECK(calls == 3);
    auto bad = run({"--check-config"}, [](const cfg::Values& v) { throw v.error("limit", "too small for this daemon"); });
    CHECK(bad.exit_code == 1);
}

TEST_CASE("pid file is written and removed", "[daemon]") {
    const auto path = std::filesystem::temp_directory_path() / ("mm-pid-" + std::to_string(::getpid()));
    dmn::write_pid_file(path.string());
    std::ifstream in(path);
    long pid = 0;
    in >> pid;
    CHECK(pid == ::getpid());
    dmn::remove_pid_file(path.string());
    CHECK_FALSE(std::filesystem::exists(path));
}
