// tests/unit/grey/whitelist_test.cpp - postgrey whitelist formats, forward-confirmed names, Debian's own files.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "common/config/options.hpp"
#include "common/grey/whitelist.hpp"
#include "support/temp_dir.hpp"

using namespace mailmoat;
using util::IpAddress;

namespace {
IpAddress ip(const char* s) {
    return *IpAddress::parse(s);
}
}  // namespace

TEST_CASE("client whitelist: addresses, partial addresses, CIDR, IPv6", "[grey][whitelist]") {
    grey::ClientWhitelist w;
    for (const char* line : {"# comment", "", "192.0.2.7", "198.51.100", "10", "203.0.113.128/25", "2001:db8:1::/48",
                             "2001:db8:9::5  # trailing comment"})
        REQUIRE(w.add(line).empty());
    CHECK(w.match(ip("192.0.2.7"), "unknown") == "192.0.2.7");
    CHECK(w.match(ip("192.0.2.8"), "unknown").empty());
    CHECK(w.match(ip("198.51.100.200"), "unknown") == "198.51.100.0/24");
    CHECK(w.match(ip("198.51.10.1"), "unknown").empty());
    CHECK(w.match(ip("10.9.8.7"), "unknown") == "10.0.0.0/8");
    CHECK(w.match(ip("203.0.113.200"), "unknown") == "203.0.113.128/25");
    CHECK(w.match(ip("203.0.113.2"), "unknown").empty());
    CHECK(w.match(ip("2001:db8:1:ffff::1"), "unknown") == "2001:db8:1::/48");
    CHECK(w.match(ip("2001:db8:9::5"), "unknown") == "2001:db8:9::5");
    CHECK(w.match(ip("::ffff:192.0.2.7"), "unknown") == "192.0.2.7");  // IPv4-mapped
}

TEST_CASE("client whitelist: host names and regexes need a forward-confirmed name", "[grey][whitelist]") {
    grey::ClientWhitelist w;
    REQUIRE(w.add("Example.COM").empty());
    REQUIRE(w.add("/^mail\\d+\\.telekom\\.de$/").empty());
    const auto a = ip("192.0.2.1");
    CHECK(w.match(a, "example.com") == "example.com");
    CHECK(w.match(a, "mx1.EXAMPLE.com.") == "example.com");
    CHECK(w.match(a, "badexample.com").empty());
    CHECK(w.match(a, "mail42.telekom.de") == "/^mail\\d+\\.telekom\\.de$/");
    CHECK(w.match(a, "mailx.telekom.de").empty());
    // client_name "unknown": the PTR (reverse_client_name) did not resolve back, so names never match.
    CHECK(w.match(a, "unknown").empty());
    CHECK(w.match(a, "").empty());
}

TEST_CASE("client whitelist: bad entries are errors", "[grey][whitelist]") {
    grey::ClientWhitelist w;
    CHECK_FALSE(w.add("/(unclosed/").empty());
    CHECK_FALSE(w.add("300.1.2.3").empty());
    CHECK_FALSE(w.add("192.0.2.0/33").empty());
    CHECK_FALSE(w.add("two words").empty());
    CHECK(w.size() == 0);
}

TEST_CASE("recipient whitelist: local-parts, domains, addresses, regexes", "[grey][whitelist]") {
    grey::RecipientWhitelist w;
    for (const char* line : {"postmaster@", "abuse@", "example.org", "@example.net", "john@example.com", "/^list-.*@/"})
        REQUIRE(w.add(line).empty());
    CHECK(w.match("Postmaster@anything.test") == "postmaster@");
    CHECK(w.match("abuse@x.y") == "abuse@");
    CHECK(w.match("anyone@example.org") == "example.org");
    CHECK(w.match("anyone@sub.example.org") == "example.org");
    CHECK(w.match("anyone@notexample.org").empty());
    CHECK(w.match("x@example.net") == "example.net");
    CHECK(w.match("JOHN@example.com") == "john@example.com");
    CHECK(w.match("jane@example.com").empty());
    CHECK(w.match("list-users@example.com") == "/^list-.*@/");
}

TEST_CASE("files: errors name the line", "[grey][whitelist]") {
    test::TempDir dir("grey-wl");
    const auto path = dir.file("clients");
    std::ofstream(path) << "192.0.2.1\n\n/(bad/\n";
    grey::ClientWhitelist w;
    try {
        w.load_file(path);
        FAIL("no error for a bad regex");
    } catch (const config::ConfigError& e) {
        CHECK(std::string(e.what()).find(path + ":3:") == 0);
    }
    CHECK_THROWS_AS(w.load_file(dir.file("missing")), config::ConfigError);
}

TEST_CASE("postgrey's own whitelist files (Debian package postgrey) load as they are", "[grey][whitelist]") {
    const std::string clients = "/etc/postgrey/whitelist_clients";
    const std::string recipients = "/etc/postgrey/whitelist_recipients";
    if (!std::filesystem::exists(clients) || !std::filesystem::exists(recipients))
        FAIL("package postgrey is not installed (scripts/deps installs it)");
    grey::ClientWhitelist c;
    REQUIRE_NOTHROW(c.load_file(clients));
    CHECK(c.size() > 100);
    grey::RecipientWhitelist r;
    REQUIRE_NOTHROW(r.load_file(recipients));
    CHECK(r.match("postmaster@example.com") == "postmaster@");
    CHECK(r.match("abuse@example.com") == "abuse@");
    // Entries known to be in the Debian file: a domain, and a regex.
    CHECK(c.match(ip("192.0.2.1"), "master.debian.org") == "debian.org");
    CHECK(c.match(ip("192.0.2.1"), "mail7.telekom.de") == "/^mail\\d+\\.telekom\\.de$/");
    CHECK(c.match(ip("192.0.2.1"), "unknown").empty());
}
