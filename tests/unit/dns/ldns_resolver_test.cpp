// tests/unit/dns/ldns_resolver_test.cpp - LdnsResolver against a real DNS server (dnsd.py) on loopback.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/dns/ldns_resolver.hpp"
#include "support/dns_server.hpp"

using mailmoat::dns::Answer;
using mailmoat::dns::LdnsResolver;
using mailmoat::dns::RrType;
using mailmoat::dns::Status;
using mailmoat::test::DnsServer;
using mailmoat::util::IpAddress;

namespace {

const char* const zone = R"(
$TTL 300
example.test. 3600 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 120
example.test. 300 IN A 192.0.2.1
example.test. 200 IN A 192.0.2.2
example.test. IN AAAA 2001:db8::1
example.test. IN MX 10 MX1.Example.TEST.
example.test. IN MX 20 mx2.example.test.
example.test. IN TXT "v=spf1 " "ip4:192.0.2.0/24 " "-all"
example.test. IN TXT "second record"
www.example.test. 500 IN CNAME alias.example.test.
alias.example.test. 60 IN CNAME example.test.
dangling.example.test. IN CNAME nothere.example.test.
loop1.example.test. IN CNAME loop2.example.test.
loop2.example.test. IN CNAME loop1.example.test.
a.b.example.test. IN A 192.0.2.3
1.2.0.192.in-addr.arpa. IN PTR host.example.test.
servfail.example.test. IN A 192.0.2.4
;@servfail servfail.example.test
refused.example.test. IN A 192.0.2.5
;@refused refused.example.test
drop.example.test. IN A 192.0.2.6
;@drop drop.example.test
ad.example.test. IN A 192.0.2.7
;@ad ad.example.test
big.example.test. IN TXT "one"
big.example.test. IN TXT "two" "three"
;@truncate big.example.test
badid.example.test. IN A 192.0.2.10
;@badid badid.example.test
badq.example.test. IN A 192.0.2.11
;@badquestion badq.example.test
garbage.example.test. IN A 192.0.2.12
;@garbage garbage.example.test
formerr.example.test. IN A 192.0.2.13
;@formerr formerr.example.test
stray.example.test. IN A 192.0.2.14
;@stray stray.example.test
other.test. 30 IN SOA ns.other.test. hostmaster.other.test. 1 3600 600 86400 600
)";

LdnsResolver make(const DnsServer& server, std::chrono::milliseconds timeout = std::chrono::milliseconds(2000),
                  unsigned retries = 1, bool edns = true) {
    LdnsResolver::Options options;
    options.server = server.server();
    options.timeout = timeout;
    options.retries = retries;
    options.edns = edns;
    return LdnsResolver(options);
}

std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}

/// A loopback UDP port with nothing listening (bound, read, closed).
std::uint16_t closed_udp_port() {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
    socklen_t len = sizeof sin;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) == 0);
    ::close(fd);
    return ntohs(sin.sin_port);
}

}  // namespace

TEST_CASE("LdnsResolver answers A, AAAA, MX, TXT, PTR with min TTL", "[dns][ldns]") {
    DnsServer server(zone);
    auto r = make(server);

    Answer a = r.query("example.test", RrType::a);
    REQUIRE(a.status == Status::ok);
    CHECK(a.addresses == std::vector<IpAddress>{*IpAddress::parse("192.0.2.1"), *IpAddress::parse("192.0.2.2")});
    CHECK(a.ttl == 200);
    CHECK_FALSE(a.authenticated);
    CHECK(a.error.empty());

    Answer aaaa = r.query("EXAMPLE.Test.", RrType::aaaa);
    REQUIRE(aaaa.status == Status::ok);
    CHECK(aaaa.addresses == std::vector<IpAddress>{*IpAddress::parse("2001:db8::1")});
    CHECK(aaaa.ttl == 300);

    Answer mx = r.query("example.test", RrType::mx);
    REQUIRE(mx.status == Status::ok);
    REQUIRE(mx.mx.size() == 2);
    CHECK(mx.mx[0].preference == 10);
    CHECK(mx.mx[0].exchange == "mx1.example.test");
    CHECK(mx.mx[1].preference == 20);
    CHECK(mx.mx[1].exchange == "mx2.example.test");

    Answer txt = r.query("example.test", RrType::txt);
    REQUIRE(txt.status == Status::ok);
    CHECK(sorted(txt.txt) == std::vector<std::string>{"second record", "v=spf1 ip4:192.0.2.0/24 -all"});

    Answer ptr = r.query(IpAddress::parse("192.0.2.1")->reverse_name(), RrType::ptr);
    REQUIRE(ptr.status == Status::ok);
    CHECK(ptr.names == std::vector<std::string>{"host.example.test"});

    // The query went out as specified: RD, AD, EDNS0 1232 without DO, over UDP.
    auto log = server.query_log();
    REQUIRE_FALSE(log.empty());
    CHECK(log.front() == "example.test A proto=udp rd=1 ad=1 edns=1232 do=0");
}

TEST_CASE("LdnsResolver keeps only records of the asked type and name, at most 64", "[dns][ldns]") {
    std::string text = zone;
    for (int i = 0; i < 70; ++i) text += "many.example.test. IN A 198.51.100." + std::to_string(i) + "\n";
    DnsServer server(text);
    auto r = make(server);

    Answer stray = r.query("stray.example.test", RrType::a);
    REQUIRE(stray.status == Status::ok);
    CHECK(stray.addresses == std::vector<IpAddress>{*IpAddress::parse("192.0.2.14")});
    CHECK(stray.txt.empty());
    CHECK(stray.ttl == 300);  // the stray records (TTL 60) do not count

    Answer many = r.query("many.example.test", RrType::a);
    REQUIRE(many.status == Status::ok);
    REQUIRE(many.addresses.size() == LdnsResolver::max_records);
    CHECK(many.addresses.front() == *IpAddress::parse("198.51.100.0"));
    CHECK(many.addresses.back() == *IpAddress::parse("198.51.100.63"));
}

TEST_CASE("LdnsResolver follows CNAME chains inside the answer", "[dns][ldns]") {
    DnsServer server(zone);
    auto r = make(server);

    Answer a = r.query("www.example.test", RrType::a);
    REQUIRE(a.status == Status::ok);
    CHECK(a.addresses.size() == 2);
    CHECK(a.ttl == 60);  // the CNAME in the chain with the smallest TTL bounds the answer
    CHECK(a.names.empty());

    Answer cname = r.query("www.example.test", RrType::cname);
    REQUIRE(cname.status == Status::ok);
    CHECK(cname.names == std::vector<std::string>{"alias.example.test"});
    CHECK(cname.ttl == 500);

    // RFC 6604: the rcode speaks of the end of the chain.
    Answer dangling = r.query("dangling.example.test", RrType::a);
    CHECK(dangling.status == Status::nxdomain);

    Answer loop = r.query("loop1.example.test", RrType::a);
    CHECK(loop.status == Status::tempfail);
    CHECK(loop.error == "CNAME chain too long");
}

TEST_CASE("LdnsResolver tells NXDOMAIN from NODATA, with the SOA negative TTL", "[dns][ldns]") {
    DnsServer server(zone);
    auto r = make(server);

    Answer nx = r.query("nope.example.test", RrType::a);
    CHECK(nx.status == Status::nxdomain);
    CHECK(nx.ttl == 120);  // min(SOA TTL 3600, minimum 120)
    CHECK(nx.addresses.empty());

    Answer nodata = r.query("example.test", RrType::ptr);
    CHECK(nodata.status == Status::nodata);
    CHECK(nodata.ttl == 120);

    Answer ent = r.query("b.example.test", RrType::a);  // empty non-terminal
    CHECK(ent.status == Status::nodata);

    Answer short_soa = r.query("x.other.test", RrType::txt);
    CHECK(short_soa.status == Status::nxdomain);
    CHECK(short_soa.ttl == 30);  // min(SOA TTL 30, minimum 600)

    Answer no_soa = r.query("nowhere.invalid", RrType::a);  // outside every zone: no SOA
    CHECK(no_soa.status == Status::nxdomain);
    CHECK(no_soa.ttl == 0);
}

TEST_CASE("LdnsResolver maps server failures to tempfail", "[dns][ldns]") {
    DnsServer server(zone);
    auto r = make(server);

    Answer servfail = r.query("servfail.example.test", RrType::a);
    CHECK(servfail.status == Status::tempfail);
    CHECK(servfail.error == "SERVFAIL");
    CHECK(server.count("servfail.example.test", "A") == 1);  // an rcode is not retried at the same server

    Answer refused = r.query("refused.example.test", RrType::a);
    CHECK(refused.status == Status::tempfail);
    CHECK(refused.error == "REFUSED");

    Answer formerr = r.query("formerr.example.test", RrType::a);
    CHECK(formerr.status == Status::tempfail);
    CHECK(formerr.error == "FORMERR");

    Answer garbage = r.query("garbage.example.test", RrType::a);
    CHECK(garbage.status == Status::tempfail);
    CHECK(garbage.error == "garbled reply");
}

TEST_CASE("LdnsResolver times out on a dropped query within its timeout, after retrying", "[dns][ldns]") {
    DnsServer server(zone);
    auto r = make(server, std::chrono::milliseconds(600), 1);
    auto start = std::chrono::steady_clock::now();
    Answer a = r.query("drop.example.test", RrType::a);
    auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(a.status == Status::tempfail);
    CHECK(a.error == "timeout");
    CHECK(elapsed >= std::chrono::milliseconds(550));
    CHECK(elapsed < std::chrono::milliseconds(1000));
    CHECK(server.count("drop.example.test", "A") == 2);
}

TEST_CASE("LdnsResolver ignores replies with a wrong ID or question and takes the real one", "[dns][ldns]") {
    DnsServer server(zone);
    auto r = make(server);
    Answer badid = r.query("badid.example.test", RrType::a);
    REQUIRE(badid.status == Status::ok);
    CHECK(badid.addresses == std::vector<IpAddress>{*IpAddress::parse("192.0.2.10")});
    Answer badq = r.query("badq.example.test", RrType::a);
    REQUIRE(badq.status == Status::ok);
    CHECK(badq.addresses == std::vector<IpAddress>{*IpAddress::parse("192.0.2.11")});
    CHECK(server.count("badid.example.test", "A") == 1);
    CHECK(server.count("badq.example.test", "A") == 1);
}

TEST_CASE("LdnsResolver falls back to TCP when the UDP answer is truncated", "[dns][ldns]") {
    DnsServer server(zone);
    auto r = make(server);
    Answer txt = r.query("big.example.test", RrType::txt);
    REQUIRE(txt.status == Status::ok);
    CHECK(sorted(txt.txt) == std::vector<std::string>{"one", "twothree"});
    auto log = server.query_log();
    REQUIRE(log.size() == 2);
    CHECK(log[0].starts_with("big.example.test TXT proto=udp"));
    CHECK(log[1].starts_with("big.example.test TXT proto=tcp"));
}

TEST_CASE("LdnsResolver reports the AD bit and can leave EDNS out", "[dns][ldns]") {
    DnsServer server(zone);
    auto r = make(server);
    CHECK(r.query("ad.example.test", RrType::a).authenticated);
    CHECK_FALSE(r.query("example.test", RrType::a).authenticated);

    auto plain = make(server, std::chrono::milliseconds(2000), 1, false);
    CHECK(plain.query("example.test", RrType::aaaa).status == Status::ok);
    auto log = server.query_log();
    REQUIRE_FALSE(log.empty());
    CHECK(log.back() == "example.test AAAA proto=udp rd=1 ad=1 edns=0 do=0");
}

TEST_CASE("LdnsResolver refuses impossible names without a query", "[dns][ldns]") {
    DnsServer server(zone);
    auto r = make(server);
    std::string long_label(64, 'a');
    std::string long_name;
    while (long_name.size() < 254) long_name += "abcdefghi.";
    long_name.resize(254);
    // 253 octets: the longest legal name.
    std::string max_name =
        std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." + std::string(61, 'd');
    REQUIRE(max_name.size() == 253);

    const std::vector<std::string> bad = {
        "", ".", "..", "a..example.test", ".example.test", long_label + ".example.test", long_name};
    for (const auto& name : bad) {
        INFO("name: \"" << name << "\"");
        Answer a = r.query(name, RrType::a);
        CHECK(a.status == Status::nxdomain);
        CHECK(a.ttl == 0);
        CHECK(mailmoat::dns::name_to_wire(name).empty());
    }
    CHECK(server.total() == 0);

    // The longest legal name is sent (and is simply not there).
    CHECK(r.query(max_name, RrType::a).status == Status::nxdomain);
    CHECK(r.query(max_name + ".", RrType::a).status == Status::nxdomain);
    CHECK(server.total() == 2);
    CHECK(mailmoat::dns::name_to_wire(std::string(63, 'a') + ".test").size() == 63 + 1 + 4 + 1 + 1);
}

TEST_CASE("LdnsResolver moves on to the next server", "[dns][ldns]") {
    DnsServer first(R"(
example.test. 300 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 120
x.example.test. IN A 192.0.2.99
;@refused x.example.test
y.example.test. IN A 192.0.2.98
)");
    DnsServer second(zone);
    std::uint16_t dead = closed_udp_port();

    LdnsResolver::Options options;
    options.server = "127.0.0.1:" + std::to_string(dead) + ", " + first.server() + " " + second.server();
    options.timeout = std::chrono::milliseconds(3000);
    options.retries = 0;
    LdnsResolver r(options);
    REQUIRE(r.servers().size() == 3);

    Answer a = r.query("y.example.test", RrType::a);  // dead port -> refused by the kernel -> first server
    REQUIRE(a.status == Status::ok);
    CHECK(a.addresses == std::vector<IpAddress>{*IpAddress::parse("192.0.2.98")});
    CHECK(first.count("y.example.test", "A") == 1);
    CHECK(second.count("y.example.test", "A") == 0);

    Answer x = r.query("x.example.test", RrType::a);  // REFUSED at the first server -> second server
    CHECK(x.status == Status::nxdomain);
    CHECK(first.count("x.example.test", "A") == 1);
    CHECK(second.count("x.example.test", "A") == 1);
}

TEST_CASE("LdnsResolver serves many threads at once", "[dns][ldns]") {
    DnsServer server(zone);
    auto r = make(server, std::chrono::milliseconds(5000), 1);
    std::atomic<int> good{0};
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 10; ++i) {
                bool odd = (t + i) % 2 == 1;
                Answer a = r.query(odd ? "example.test" : "nope.example.test", RrType::a);
                bool ok = odd ? a.status == Status::ok && a.addresses.size() == 2 : a.status == Status::nxdomain;
                (ok ? good : bad).fetch_add(1);
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(good == 80);
    CHECK(bad == 0);
}

TEST_CASE("server specifications", "[dns][ldns]") {
    using mailmoat::dns::parse_server_list;
    auto one = parse_server_list("192.0.2.53");
    REQUIRE(one.size() == 1);
    CHECK(one[0].address == *IpAddress::parse("192.0.2.53"));
    CHECK(one[0].port == 53);
    auto list = parse_server_list("127.0.0.1:5353, [::1]:54 ::1,[2001:db8::2]");
    REQUIRE(list.size() == 4);
    CHECK(list[0].port == 5353);
    CHECK(list[1].address == *IpAddress::parse("::1"));
    CHECK(list[1].port == 54);
    CHECK(list[2].port == 53);
    CHECK(list[3].address == *IpAddress::parse("2001:db8::2"));
    CHECK(list[3].port == 53);

    auto bad = GENERATE(as<std::string>{}, "", " , ", "localhost", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
                        "127.0.0.1:53x", "[::1", "[::1]53", "[::1]:", "1.2.3.4.5", "[127.0.0.1", "IPv6:::1",
                        "1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4 5.5.5.5 6.6.6.6 7.7.7.7 8.8.8.8 9.9.9.9");
    INFO("spec: \"" << bad << "\"");
    CHECK_THROWS_AS(parse_server_list(bad), std::invalid_argument);
    LdnsResolver::Options options;
    options.server = bad.empty() ? std::string(" ") : bad;
    CHECK_THROWS_AS(LdnsResolver(options), std::invalid_argument);
}

TEST_CASE("LdnsResolver refuses a zero timeout", "[dns][ldns]") {
    LdnsResolver::Options options;
    options.server = "127.0.0.1";
    options.timeout = std::chrono::milliseconds(0);
    CHECK_THROWS_AS(LdnsResolver(options), std::invalid_argument);
}

TEST_CASE("parse_answer decodes and checks one reply message", "[dns][ldns]") {
    using mailmoat::dns::parse_answer;
    // id 0x1234, QR RD RA, 1 question, 1 answer: example.com A, TTL 0x80000001, 192.0.2.1
    std::vector<std::uint8_t> msg = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
                                     7,    'e',  'x',  'a',  'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1,
                                     0xc0, 0x0c, 0,    1,    0,   1,   0x80, 0,  0, 1,   0,   4,   192, 0, 2, 1};
    Answer a = parse_answer(msg.data(), msg.size(), "Example.COM.", RrType::a);
    REQUIRE(a.status == Status::ok);
    CHECK(a.addresses == std::vector<IpAddress>{*IpAddress::parse("192.0.2.1")});
    CHECK(a.ttl == 0);  // RFC 2181 §8: a TTL with the top bit set counts as zero

    CHECK(parse_answer(msg.data(), msg.size(), "example.org", RrType::a).error == "mismatched reply");
    CHECK(parse_answer(msg.data(), msg.size(), "example.com", RrType::aaaa).error == "mismatched reply");
    CHECK(parse_answer(msg.data(), msg.size() - 3, "example.com", RrType::a).error == "garbled reply");
    CHECK(parse_answer(msg.data(), 11, "example.com", RrType::a).error == "mismatched reply");
    CHECK(parse_answer(msg.data(), msg.size(), "a..b", RrType::a).status == Status::nxdomain);

    auto query = msg;
    query[2] = 0x01;  // QR clear: a query, not a reply
    CHECK(parse_answer(query.data(), query.size(), "example.com", RrType::a).error == "mismatched reply");
    auto truncated = msg;
    truncated[2] = 0x83;  // TC
    CHECK(parse_answer(truncated.data(), truncated.size(), "example.com", RrType::a).error == "truncated");
    auto servfail = msg;
    servfail[3] = 0x82;
    CHECK(parse_answer(servfail.data(), servfail.size(), "example.com", RrType::a).error == "SERVFAIL");
    auto short_rdata = msg;  // an A record of 3 octets does not decode
    short_rdata[40] = 3;
    short_rdata.pop_back();
    Answer bad = parse_answer(short_rdata.data(), short_rdata.size(), "example.com", RrType::a);
    CHECK(bad.status == Status::tempfail);
}
