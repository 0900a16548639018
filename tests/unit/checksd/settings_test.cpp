// tests/unit/checksd/settings_test.cpp - mailmoat-checks settings: defaults, table compilation, errors.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <unistd.h>

#include "milters/checks/settings.hpp"

using namespace mailmoat;

namespace {

config::Values values(std::vector<std::string> args) {
    args.insert(args.begin(), "mailmoat-checks");
    args.push_back("--config");
    args.push_back("");
    return config::parse(checksd::make_schema(), args);
}

struct TempTable {
    std::string dir, path;
    explicit TempTable(const std::string& text) {
        char tmpl[] = "/tmp/mm-checksd-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        dir = tmpl;
        path = dir + "/t";
        std::ofstream(path) << text;
    }
    ~TempTable() {
        std::remove(path.c_str());
        ::rmdir(dir.c_str());
    }
};

}  // namespace

TEST_CASE("settings: defaults as Postfix's") {
    const auto s = checksd::build_settings(values({}));
    CHECK(s.rules->body_size_limit == 51200);
    CHECK(s.rules->header.empty());
    CHECK_FALSE(s.rules->mime_set);
    CHECK(s.common.socket.to_postfix() == "unix:/run/mailmoat/checks.sock");
}

TEST_CASE("settings: tables compile, mime and nested default to header-checks, none means none") {
    TempTable t("/^Subject: x/ REJECT\n");
    auto s = checksd::build_settings(values({"--header-checks", "pcre:" + t.path, "--nested-header-checks", "none",
                                             "--body-checks-size-limit", "0"}));
    CHECK(s.rules->header.size() == 1);
    CHECK(&s.rules->tables(checks::InputClass::mime_header) == &s.rules->header);
    CHECK(s.rules->tables(checks::InputClass::nested_header).empty());
    CHECK(s.rules->body_size_limit == 0);
}

TEST_CASE("settings: a bad table is a config error naming FILE:LINE") {
    TempTable t("/ok/ DUNNO\n\n/(unbalanced/ REJECT\n");
    try {
        (void)checksd::build_settings(values({"--body-checks", "pcre:" + t.path}));
        FAIL("no error");
    } catch (const config::ConfigError& e) {
        CHECK(std::string(e.what()).find(t.path + ":3:") != std::string::npos);
    }
    CHECK_THROWS_AS(checksd::build_settings(values({"--body-checks", "pcre:/nonexistent/table"})), config::ConfigError);
    CHECK_THROWS_AS(checksd::build_settings(values({"--mime-header-checks", "none,pcre:/x"})), config::ConfigError);
}
