// tests/unit/util/ip_address_test.cpp - IpAddress/IpNetwork parsing, formatting, prefix matching.
#include <catch2/catch.hpp>

#include "common/util/ip_address.hpp"

using mailmoat::util::IpAddress;
using mailmoat::util::IpNetwork;

TEST_CASE("IpAddress parses and formats both families", "[util]") {
    auto [text, canon, v4] = GENERATE(table<std::string, std::string, bool>({
        {"192.0.2.1", "192.0.2.1", true},
        {"2001:DB8::1", "2001:db8::1", false},
        {"[2001:db8::1]", "2001:db8::1", false},
        {"IPv6:2001:db8::1", "2001:db8::1", false},
        {"::ffff:192.0.2.7", "192.0.2.7", true},
    }));
    auto a = IpAddress::parse(text);
    REQUIRE(a);
    CHECK(a->to_string() == canon);
    CHECK(a->is_v4() == v4);
}

TEST_CASE("IpAddress rejects junk", "[util]") {
    auto text = GENERATE("", "1.2.3", "1.2.3.4.5", "256.1.1.1", "host.example", "1.2.3.4:25", "fe80::1%eth0", ":::");
    CHECK_FALSE(IpAddress::parse(text));
}

TEST_CASE("reverse and macro forms", "[util]") {
    CHECK(IpAddress::parse("192.0.2.1")->reverse_name() == "1.2.0.192.in-addr.arpa");
    const auto v6 = IpAddress::parse("2001:db8::cb01");
    CHECK(v6->reverse_name() == "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
    CHECK(v6->spf_macro_form() == "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1");
}

TEST_CASE("prefix matching", "[util]") {
    const auto a = *IpAddress::parse("192.0.2.130");
    CHECK(a.in_network(*IpAddress::parse("192.0.2.128"), 25));
    CHECK_FALSE(a.in_network(*IpAddress::parse("192.0.2.0"), 25));
    CHECK(a.in_network(*IpAddress::parse("10.0.0.0"), 0));
    CHECK_FALSE(a.in_network(*IpAddress::parse("::"), 0));  // families never mix
    CHECK_FALSE(a.in_network(a, 33));
    CHECK(a.masked(24).to_string() == "192.0.2.0");
    CHECK(IpAddress::parse("2001:db8:1:2::5")->masked(64).to_string() == "2001:db8:1:2::");
}

TEST_CASE("IpNetwork parse", "[util]") {
    CHECK(IpNetwork::parse("10.0.0.0/8")->contains(*IpAddress::parse("10.9.9.9")));
    CHECK(IpNetwork::parse("192.0.2.1")->prefix_len == 32);
    CHECK(IpNetwork::parse("2001:db8::/32")->prefix_len == 32);
    CHECK_FALSE(IpNetwork::parse("10.0.0.0/33"));
    CHECK_FALSE(IpNetwork::parse("10.0.0.0/"));
    CHECK_FALSE(IpNetwork::parse("10.0.0.0/x"));
}

TEST_CASE("IPv4 text form: every octet width and value round-trips", "[util]") {
    CHECK(IpAddress::v4(0).to_string() == "0.0.0.0");
    CHECK(IpAddress::v4(0xffffffffU).to_string() == "255.255.255.255");
    CHECK(IpAddress::parse("10.0.99.100")->to_string() == "10.0.99.100");
    for (unsigned b = 0; b < 256; ++b) {
        const auto text = std::to_string(b) + "." + std::to_string(255 - b) + ".9." + std::to_string(b / 2);
        CHECK(IpAddress::parse(text)->to_string() == text);
    }
}
