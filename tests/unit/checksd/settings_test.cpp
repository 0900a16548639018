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

TEST_CASE("settings: attachment rules and archive limits; a bad rules file names FILE:LINE") {
    TempTable rules("ext=exe REJECT 5.7.1 no executables\nmagic=executable location=archive REJECT\n");
    const auto s = checksd::build_settings(values({"--attachment-rules", rules.path, "--archive-max-depth", "2",
                                                   "--archive-max-ratio", "50", "--attachment-size-limit", "4096"}));
    REQUIRE(s.rules->attachments);
    CHECK(s.rules->attachments->size() == 2);
    CHECK(s.rules->archive_limits.max_depth == 2);
    CHECK(s.rules->archive_limits.max_ratio == 50);
    CHECK(s.rules->attachment_size_limit == 4096);
    CHECK_FALSE(checksd::build_settings(values({})).rules->attachments);
    TempTable bad("ext=exe REJECT\next=com SHRUG\n");
    try {
        (void)checksd::build_settings(values({"--attachment-rules", bad.path}));
        FAIL("no error");
    } catch (const config::ConfigError& e) {
        CHECK(std::string(e.what()).find(bad.path + ":2: unknown command") != std::string::npos);
    }
}

TEST_CASE("settings: blocklist-table - a bare path is a pcre table, a missing file is empty, cidr refused") {
    TempTable t("/^subject\\=x$/ REJECT\n");
    auto s = checksd::build_settings(values({"--blocklist-table", t.path}));
    CHECK(s.blocklist_table == "pcre:" + t.path);
    REQUIRE(s.rules->blocklist.size() == 1);
    CHECK(s.rules->blocklist[0]->lookup("subject=x").found());
    s = checksd::build_settings(values({"--blocklist-table", t.dir + "/not-yet"}));
    CHECK(s.rules->blocklist.empty());
    CHECK_THROWS_AS(checksd::build_settings(values({"--blocklist-table", "cidr:" + t.path})), config::ConfigError);
    TempTable broken("/^subject\\=(x$/ REJECT\n");
    CHECK_THROWS_WITH(checksd::build_settings(values({"--blocklist-table", broken.path})),
                      Catch::Contains(broken.path + ":1: error in regular expression"));
}
