// tests/unit/config/options_test.cpp - config file + command line: precedence, types, errors naming file/line/key.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/config/options.hpp"

namespace cfg = mailmoat::config;

namespace {
cfg::Schema schema() {
    cfg::Schema s("mailmoat-test", "test daemon");
    s.add_common_daemon_options("unix:/run/mailmoat/test.sock", "");
    s.add_uint("max-things", 5, 1, 10, "How many things.");
    s.add_bool("sign", true, "Sign mail.");
    s.add_list("internal-hosts", {"127.0.0.1", "::1"}, "Internal hosts.");
    s.add_duration("delay", std::chrono::seconds(300), "Greylist delay.");
    return s;
}

struct TempFile {
    std::filesystem::path path;
    explicit TempFile(const std::string& text) {
        path = std::filesystem::temp_directory_path() / ("mm-options-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::ofstream(path) << text;
    }
    ~TempFile() { std::filesystem::remove(path); }
    static inline int counter = 0;
};
}  // namespace

TEST_CASE("defaults apply when nothing is given", "[config]") {
    auto v = cfg::parse(schema(), {});
    CHECK(v.str("socket") == "unix:/run/mailmoat/test.sock");
    CHECK(v.uint("max-things") == 5);
    CHECK(v.flag("sign"));
    CHECK(v.list("internal-hosts") == std::vector<std::string>{"127.0.0.1", "::1"});
    CHECK(v.duration("delay") == std::chrono::seconds(300));
    CHECK(v.source("socket") == "default");
}

TEST_CASE("config file is read and the command line wins", "[config]") {
    TempFile f("# comment\n\nsocket = inet:127.0.0.1:9999\nmax-things = 7\nsign = no\n"
               "internal-hosts = 10.0.0.0/8\ninternal-hosts = 192.168.0.0/16, ::1\ndelay = 5m\n");
    auto v = cfg::parse(schema(), {"--config", f.path.string(), "--max-things=9", "--foreground"});
    CHECK(v.str("socket") == "inet:127.0.0.1:9999");
    CHECK(v.source("socket") == f.path.string() + ":3");
    CHECK(v.uint("max-things") == 9);
    CHECK(v.source("max-things") == "command line");
    CHECK_FALSE(v.flag("sign"));
    CHECK(v.flag("foreground"));
    CHECK(v.list("internal-hosts") == std::vector<std::string>{"10.0.0.0/8", "192.168.0.0/16", "::1"});
    CHECK(v.duration("delay") == std::chrono::seconds(300));
    CHECK(v.render().find("max-things = 9    # command line") != std::string::npos);
}

TEST_CASE("config errors name file, line and key", "[config]") {
    auto [text, expect] = GENERATE(table<std::string, std::string>({
        {"bogus = 1\n", ":1: unknown key 'bogus'"},
        {"\nmax-things = 11\n", ":2: max-things: value 11 out of range 1..10"},
        {"max-things = ten\n", ":1: max-things: expected a number"},
        {"sign = maybe\n", ":1: sign: expected yes or no"},
        {"delay = soon\n", ":1: delay: expected a duration"},
        {"socket\n", ":1: expected 'key = value'"},
        {"socket = a\nsocket = b\n", ":2: socket: given twice"},
        {"check-config = yes\n", ":1: unknown key 'check-config'"},
    }));
    TempFile f(text);
    try {
        (void)cfg::parse(schema(), {"--config", f.path.string()});
        FAIL("no error for " << text);
    } catch (const cfg::ConfigError& e) {
        const std::string msg = e.what();
        INFO(msg);
        CHECK(msg.find(f.path.string() + expect) == 0);
    }
}

TEST_CASE("missing named config file and unknown command-line option are errors", "[config]") {
    CHECK_THROWS_AS(cfg::parse(schema(), {"--config", "/nonexistent/mailmoat.conf"}), cfg::ConfigError);
    CHECK_THROWS_WITH(cfg::parse(schema(), {"--no-such-option"}), Catch::Contains("command line"));
    CHECK_THROWS_WITH(cfg::parse(schema(), {"--max-things=0"}), Catch::Contains("command line: max-things: value 0 out of range"));
}

TEST_CASE("booleans on the command line: bare, =yes, =no; a detached value is refused", "[config]") {
    CHECK(cfg::parse(schema(), {"--foreground"}).flag("foreground"));
    CHECK_FALSE(cfg::parse(schema(), {"--sign=no"}).flag("sign"));
    CHECK(cfg::parse(schema(), {"--sign=yes"}).flag("sign"));
    CHECK_THROWS_AS(cfg::parse(schema(), {"--sign", "no"}), cfg::ConfigError);
    CHECK_THROWS_AS(cfg::parse(schema(), {"stray"}), cfg::ConfigError);
}

TEST_CASE("dump-defaults lists every config key with help", "[config]") {
    const auto s = schema();
    const auto dump = s.dump_defaults();
    for (const auto& o : s.options()) {
        if (o.cli_only) {
            CHECK(dump.find("#" + o.name + " =") == std::string::npos);
        } else {
            CHECK(dump.find("#" + o.name + " = " + o.default_text + "\n") != std::string::npos);
        }
    }
}

TEST_CASE("value helpers", "[config]") {
    std::chrono::seconds d{};
    CHECK((cfg::parse_duration("2d", d) && d.count() == 172800));
    CHECK((cfg::parse_duration("90", d) && d.count() == 90));
    CHECK_FALSE(cfg::parse_duration("-1s", d));
    CHECK_FALSE(cfg::parse_duration("s", d));
    CHECK(cfg::split_list(" a, b  c,,d ") == std::vector<std::string>{"a", "b", "c", "d"});
}
