// tests/unit/dns/fake_resolver_test.cpp - the FakeResolver other engines' tests rely on.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include "fakes/fake_clock.hpp"
#include "fakes/fake_resolver.hpp"

using mailmoat::dns::Mx;
using mailmoat::dns::RrType;
using mailmoat::dns::Status;
using mailmoat::test::FakeClock;
using mailmoat::test::FakeResolver;
using mailmoat::util::IpAddress;

TEST_CASE("FakeResolver answers from its text", "[dns][fake]") {
    FakeResolver r(R"(
# comment
; another comment
example.com A 192.0.2.1
example.com 60 A 192.0.2.2
Example.COM. AAAA 2001:db8::1
example.com MX 20 MX2.example.com.
example.com MX 10 mx1.example.com
example.com TXT "v=spf1 " "ip4:192.0.2.0/24" " -all"
example.com TXT unquoted text
quote.example.com TXT "say \"hi\" \\ bye"
null.example.com MX 0 .
1.2.0.192.in-addr.arpa PTR mail.example.com
www.example.com CNAME alias.example.com
alias.example.com 30 CNAME example.com
down.example.com TEMPFAIL SERVFAIL
gone.example.com NXDOMAIN
gone.example.com A 192.0.2.9
signed.example.com A 192.0.2.5
signed.example.com AD
_dmarc.deep.example.org TXT "v=DMARC1; p=none"
)");

    auto a = r.query("EXAMPLE.com.", RrType::a);
    REQUIRE(a.status == Status::ok);
    CHECK(a.addresses == std::vector<IpAddress>{*IpAddress::parse("192.0.2.1"), *IpAddress::parse("192.0.2.2")});
    CHECK(a.ttl == 60);
    CHECK_FALSE(a.authenticated);
    CHECK(r.query("example.com", RrType::aaaa).addresses == std::vector<IpAddress>{*IpAddress::parse("2001:db8::1")});
    CHECK(r.query("example.com", RrType::mx).mx == std::vector<Mx>{{20, "mx2.example.com"}, {10, "mx1.example.com"}});
    CHECK(r.query("example.com", RrType::txt).txt ==
          std::vector<std::string>{"v=spf1 ip4:192.0.2.0/24 -all", "unquoted text"});
    CHECK(r.query("quote.example.com", RrType::txt).txt == std::vector<std::string>{"say \"hi\" \\ bye"});
    CHECK(r.query("null.example.com", RrType::mx).mx == std::vector<Mx>{{0, ""}});
    CHECK(r.query("1.2.0.192.in-addr.arpa", RrType::ptr).names == std::vector<std::string>{"mail.example.com"});

    auto www = r.query("www.example.com", RrType::a);
    CHECK(www.status == Status::ok);
    CHECK(www.addresses.size() == 2);
    CHECK(www.ttl == 30);
    CHECK(r.query("www.example.com", RrType::cname).names == std::vector<std::string>{"alias.example.com"});

    auto down = r.query("down.example.com", RrType::txt);
    CHECK(down.status == Status::tempfail);
    CHECK(down.error == "SERVFAIL");
    CHECK(r.query("gone.example.com", RrType::a).status == Status::nxdomain);
    CHECK(r.query("signed.example.com", RrType::a).authenticated);

    CHECK(r.query("example.com", RrType::ptr).status == Status::nodata);
    CHECK(r.query("deep.example.org", RrType::txt).status == Status::nodata);  // empty non-terminal
    CHECK(r.query("example.org", RrType::txt).status == Status::nodata);
    auto nx = r.query("nothere.example.com", RrType::a);
    CHECK(nx.status == Status::nxdomain);
    CHECK(nx.ttl == 300);
    CHECK(r.query("bad..example.com", RrType::a).status == Status::nxdomain);

    CHECK(r.queries("example.com", RrType::a) == 1);
    CHECK(r.queries("Example.Com.", RrType::txt) == 1);
    CHECK(r.queries("example.com") == 5);
    CHECK(r.queries("nothere.example.com", RrType::a) == 1);
    CHECK(r.total_queries() == 17);
    r.reset_counts();
    CHECK(r.total_queries() == 0);
}

TEST_CASE("FakeResolver rejects bad lines", "[dns][fake]") {
    auto line = GENERATE(as<std::string>{}, "example.com A", "example.com A 2001:db8::1", "example.com AAAA 192.0.2.1",
                         "example.com MX mx.example.com", "example.com TXT \"open", "example.com TXT \"a\" b",
                         "example.com SRV 0 0 25 mx.example.com", "example.com");
    INFO(line);
    CHECK_THROWS_AS(FakeResolver(line), std::invalid_argument);
}

TEST_CASE("FakeClock moves only when told", "[dns][fake]") {
    FakeClock clock;
    auto wall = clock.now();
    auto mono = clock.steady_now();
    CHECK(clock.now() == wall);
    clock.advance(std::chrono::seconds(90));
    CHECK(clock.now() - wall == std::chrono::seconds(90));
    CHECK(clock.steady_now() - mono == std::chrono::seconds(90));
    clock.set_unix(0);
    CHECK(clock.now().time_since_epoch().count() == 0);
    CHECK(clock.steady_now() - mono == std::chrono::seconds(90));
}
