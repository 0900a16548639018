// tests/unit/dns/resolver_factory_test.cpp - make_resolver builds the stack a daemon asks for.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <stdexcept>

#include "common/dns/caching_resolver.hpp"
#include "common/dns/ldns_resolver.hpp"
#include "common/dns/resolver_factory.hpp"
#include "support/dns_server.hpp"

using mailmoat::dns::RrType;
using mailmoat::dns::Status;
using namespace std::chrono_literals;

TEST_CASE("make_resolver with and without a cache", "[dns][factory]") {
    mailmoat::test::DnsServer server(R"(
example.test. 300 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 120
example.test. 300 IN A 192.0.2.1
)");
    auto plain = mailmoat::dns::make_resolver(server.server(), 2000ms, 1, 0);
    REQUIRE(dynamic_cast<mailmoat::dns::LdnsResolver*>(plain.get()) != nullptr);
    CHECK(plain->query("example.test", RrType::a).status == Status::ok);
    CHECK(plain->query("example.test", RrType::a).status == Status::ok);
    CHECK(server.count("example.test", "A") == 2);

    auto cached = mailmoat::dns::make_resolver(server.server(), 2000ms, 1, 100);
    auto* cache = dynamic_cast<mailmoat::dns::CachingResolver*>(cached.get());
    REQUIRE(cache != nullptr);
    CHECK(cached->query("example.test", RrType::a).status == Status::ok);
    CHECK(cached->query("example.test", RrType::a).status == Status::ok);
    CHECK(server.count("example.test", "A") == 3);
    CHECK(cache->stats().hits == 1);
}

TEST_CASE("make_resolver refuses bad settings", "[dns][factory]") {
    CHECK_THROWS_AS(mailmoat::dns::make_resolver("dns.example:53", 1000ms, 1, 0), std::invalid_argument);
    CHECK_THROWS_AS(mailmoat::dns::make_resolver("127.0.0.1", 0ms, 1, 0), std::invalid_argument);
    CHECK_THROWS_AS(mailmoat::dns::make_resolver("127.0.0.1:99999", 1000ms, 1, 10), std::invalid_argument);
}
