// tests/unit/grey/greylister_test.cpp - greylisting decisions with a FakeClock over the real SQLite store:
// first seen, early retry, retry in window, window expiry, max-age, auto-whitelist, grouping, SPF keys.
#include <catch2/catch.hpp>

#include "common/grey/greylister.hpp"
#include "common/store/sqlite_grey_store.hpp"
#include "fakes/fake_clock.hpp"
#include "fakes/fake_resolver.hpp"
#include "support/temp_dir.hpp"

using namespace mailmoat;
using namespace std::chrono_literals;
using Kind = grey::Result::Kind;

namespace {

util::IpAddress ip(const char* s) {
    return *util::IpAddress::parse(s);
}

grey::Query query(const char* client, const char* sender = "alice@sender.example",
                  const char* rcpt = "bob@rcpt.example") {
    grey::Query q;
    q.client = ip(client);
    q.sender = sender;
    q.recipient = rcpt;
    q.helo = "mx.sender.example";
    return q;
}

/// A store that is always down.
class DownStore final : public store::GreyStore {
public:
    store::EntryResult seen(std::string_view, store::TimePoint, std::chrono::seconds) override {
        return {store::Status::tempfail, {}, false, "down"};
    }
    store::EntryResult touch(std::string_view, store::TimePoint, bool) override {
        return {store::Status::tempfail, {}, false, "down"};
    }
    store::EntryResult restart(std::string_view, store::TimePoint) override {
        return {store::Status::tempfail, {}, false, "down"};
    }
    store::EntryResult set_passed(std::string_view) override { return {store::Status::tempfail, {}, false, "down"}; }
    store::ClientResult client(std::string_view, store::TimePoint, std::chrono::seconds) override {
        return {store::Status::tempfail, {}, "down"};
    }
    store::ClientResult add_client_pass(std::string_view, store::TimePoint, std::uint64_t) override {
        return {store::Status::tempfail, {}, "down"};
    }
    store::CountResult expire(store::TimePoint) override { return {store::Status::tempfail, 0, "down"}; }
    store::ListResult list(std::string_view, std::size_t) override { return {store::Status::tempfail, {}, {}, "down"}; }
    store::CountResult remove(std::string_view, bool) override { return {store::Status::tempfail, 0, "down"}; }
    store::CountResult add_manual(std::string_view, std::string_view, store::TimePoint) override {
        return {store::Status::tempfail, 0, "down"};
    }
    store::CountResult remove_manual(std::string_view, std::string_view) override {
        return {store::Status::tempfail, 0, "down"};
    }
    store::ManualResult manual() override { return {store::Status::tempfail, {}, "down"}; }
    std::string describe() const override { return "down"; }
};

struct Fixture {
    test::TempDir dir{"grey-engine"};
    test::FakeClock clock;
    store::SqliteGreyStore store{store::SqliteOptions{dir.file("grey.db")}};
    grey::Config config;
    std::unique_ptr<grey::Greylister> engine;

    grey::Greylister& make(grey::ClientWhitelist c = {}, grey::RecipientWhitelist r = {},
                           const spf::Evaluator* spf = nullptr, std::shared_ptr<const grey::KeyHasher> h = nullptr) {
        engine = std::make_unique<grey::Greylister>(config, std::move(c), std::move(r), store, clock, spf, nullptr,
                                                    std::move(h));
        return *engine;
    }
};

}  // namespace

TEST_CASE("first seen, early retry, retry after the delay, then known", "[grey]") {
    Fixture f;
    auto& g = f.make();
    auto r = g.decide(query("192.0.2.10"));
    CHECK(r.kind == Kind::greylisted);
    CHECK(r.reason == "new");
    CHECK(r.remaining == 300s);
    CHECK(r.key_kind == "network");
    CHECK(r.key_client == "192.0.2.0/24");

    f.clock.advance(100s);
    r = g.decide(query("192.0.2.10"));
    CHECK(r.kind == Kind::greylisted);
    CHECK(r.reason == "early-retry");
    CHECK(r.remaining == 200s);

    f.clock.advance(199s);
    CHECK(g.decide(query("192.0.2.10")).remaining == 1s);

    f.clock.advance(1s);
    r = g.decide(query("192.0.2.10"));
    CHECK(r.kind == Kind::pass);
    CHECK(r.reason == "retry");
    CHECK(r.delayed == 300s);

    f.clock.advance(24h);
    r = g.decide(query("192.0.2.10"));
    CHECK(r.kind == Kind::pass);
    CHECK(r.reason == "known");
    CHECK(r.delayed == 0s);
}

TEST_CASE("a retry after the retry window is greylisted anew", "[grey]") {
    Fixture f;
    auto& g = f.make();
    REQUIRE(g.decide(query("192.0.2.10")).kind == Kind::greylisted);
    f.clock.advance(48h + 1s);
    auto r = g.decide(query("192.0.2.10"));
    CHECK(r.kind == Kind::greylisted);
    CHECK(r.reason == "retry-window-expired");
    CHECK(r.remaining == 300s);
    f.clock.advance(299s);
    CHECK(g.decide(query("192.0.2.10")).kind == Kind::greylisted);
    f.clock.advance(1s);
    CHECK(g.decide(query("192.0.2.10")).kind == Kind::pass);
}

TEST_CASE("a known triplet unseen for max-age expires; sweep deletes it", "[grey]") {
    Fixture f;
    auto& g = f.make();
    REQUIRE(g.decide(query("192.0.2.10")).kind == Kind::greylisted);
    f.clock.advance(300s);
    REQUIRE(g.decide(query("192.0.2.10")).kind == Kind::pass);
    f.clock.advance(34 * 24h);
    CHECK(g.decide(query("192.0.2.10")).reason == "known");  // refreshes last seen
    f.clock.advance(35 * 24h + 1s);
    auto sweep = g.sweep();
    REQUIRE(sweep.status == store::Status::ok);
    CHECK(sweep.count >= 1);
    auto r = g.decide(query("192.0.2.10"));
    CHECK(r.kind == Kind::greylisted);
    CHECK(r.reason == "new");
}

TEST_CASE("expiry by max-age even without a sweep", "[grey]") {
    Fixture f;
    auto& g = f.make();
    REQUIRE(g.decide(query("192.0.2.10")).kind == Kind::greylisted);
    f.clock.advance(300s);
    REQUIRE(g.decide(query("192.0.2.10")).kind == Kind::pass);
    f.clock.advance(35 * 24h + 1s);
    CHECK(g.decide(query("192.0.2.10")).reason == "new");
}

TEST_CASE("grouping: IPv4 /24, IPv6 /64, IPv4-mapped, exact mode", "[grey]") {
    SECTION("client_group") {
        CHECK(grey::client_group(ip("192.0.2.77"), 24, 64) == "192.0.2.0/24");
        CHECK(grey::client_group(ip("::ffff:192.0.2.77"), 24, 64) == "192.0.2.0/24");
        CHECK(grey::client_group(ip("2001:db8:1:2:3:4:5:6"), 24, 64) == "2001:db8:1:2::/64");
        CHECK(grey::client_group(ip("2001:db8:1:2:3:4:5:6"), 24, 48) == "2001:db8:1::/48");
        CHECK(grey::client_group(ip("192.0.2.77"), 32, 128) == "192.0.2.77");
        CHECK(grey::client_group(ip("2001:db8::1"), 32, 128) == "2001:db8::1");
        CHECK(grey::client_group(ip("192.0.2.77"), 16, 64) == "192.0.0.0/16");
    }
    SECTION("a retry from another address of the same /24 or /64 passes") {
        Fixture f;
        auto& g = f.make();
        REQUIRE(g.decide(query("192.0.2.10")).kind == Kind::greylisted);
        REQUIRE(g.decide(query("2001:db8:1:2::10")).kind == Kind::greylisted);
        f.clock.advance(300s);
        CHECK(g.decide(query("192.0.2.200")).kind == Kind::pass);
        CHECK(g.decide(query("::ffff:192.0.2.201")).reason == "known");
        CHECK(g.decide(query("2001:db8:1:2:ffff::1")).kind == Kind::pass);
        CHECK(g.decide(query("192.0.3.10")).reason == "new");
        CHECK(g.decide(query("2001:db8:1:3::10")).reason == "new");
    }
    SECTION("exact mode keys on the address") {
        Fixture f;
        f.config.ipv4_prefix = 32;
        f.config.ipv6_prefix = 128;
        auto& g = f.make();
        auto r = g.decide(query("192.0.2.10"));
        REQUIRE(r.kind == Kind::greylisted);
        CHECK(r.key_kind == "exact");
        f.clock.advance(300s);
        CHECK(g.decide(query("192.0.2.11")).reason == "new");
        CHECK(g.decide(query("::ffff:192.0.2.10")).reason == "retry");
    }
}

TEST_CASE("normalised senders make one triplet", "[grey]") {
    Fixture f;
    auto& g = f.make();
    REQUIRE(g.decide(query("192.0.2.10", "prvs=1111aaaa=Bounce-123@Lists.example")).kind == Kind::greylisted);
    f.clock.advance(300s);
    CHECK(g.decide(query("192.0.2.10", "prvs=2222bbbb=bounce-456@lists.example")).reason == "retry");
    CHECK(g.decide(query("192.0.2.10", "other@lists.example")).reason == "new");
    CHECK(g.decide(query("192.0.2.10", "prvs=1=bounce-1@lists.example", "BOB@rcpt.example")).reason == "known");
}

TEST_CASE("auto-whitelist after N accepted retries, never for listed networks", "[grey]") {
    Fixture f;
    f.config.auto_whitelist_clients = 3;
    f.config.no_auto_whitelist.push_back(*util::IpNetwork::parse("198.51.100.0/24"));
    auto& g = f.make();
    for (const char* client : {"192.0.2.10", "198.51.100.10"}) {
        for (int i = 0; i < 3; ++i) {
            const auto rcpt = "r" + std::to_string(i) + "@rcpt.example";
            REQUIRE(g.decide(query(client, "a@s.example", rcpt.c_str())).kind == Kind::greylisted);
            f.clock.advance(300s);
            REQUIRE(g.decide(query(client, "a@s.example", rcpt.c_str())).reason == "retry");
            if (i < 2) {
                // Passing the same triplet again does not count again (checked by the probe below).
                REQUIRE(g.decide(query(client, "a@s.example", rcpt.c_str())).reason == "known");
                // Below the threshold: a new triplet of this client is greylisted (each probe is new, so
                // it never counts as a retry itself).
                const auto probe = "probe" + std::to_string(i) + "@s.example";
                CHECK(g.decide(query(client, probe.c_str(), "x@rcpt.example")).kind == Kind::greylisted);
            }
        }
    }
    auto r = g.decide(query("192.0.2.99", "brand-new@s.example", "y@rcpt.example"));
    CHECK(r.kind == Kind::whitelisted);
    CHECK(r.reason == "auto-whitelist");
    CHECK(g.decide(query("198.51.100.99", "brand-new@s.example", "y@rcpt.example")).kind == Kind::greylisted);
    // Quiet for max-age: the client is greylisted again.
    f.clock.advance(35 * 24h + 1s);
    CHECK(g.decide(query("192.0.2.99", "other@s.example", "y@rcpt.example")).kind == Kind::greylisted);
}

TEST_CASE("auto-whitelist off with 0", "[grey]") {
    Fixture f;
    f.config.auto_whitelist_clients = 0;
    auto& g = f.make();
    for (int i = 0; i < 6; ++i) {
        const auto rcpt = "r" + std::to_string(i) + "@rcpt.example";
        REQUIRE(g.decide(query("192.0.2.10", "a@s.example", rcpt.c_str())).kind == Kind::greylisted);
        f.clock.advance(300s);
        REQUIRE(g.decide(query("192.0.2.10", "a@s.example", rcpt.c_str())).kind == Kind::pass);
    }
    CHECK(g.decide(query("192.0.2.10", "z@s.example", "z@rcpt.example")).kind == Kind::greylisted);
}

TEST_CASE("whitelists, SASL and trusted certificates come before the store", "[grey]") {
    Fixture f;
    f.config.trusted_ccerts = {"aa:bb"};
    grey::ClientWhitelist c;
    REQUIRE(c.add("203.0.113.0/24").empty());
    REQUIRE(c.add("trusted.example").empty());
    grey::RecipientWhitelist r;
    REQUIRE(r.add("postmaster@").empty());
    auto& g = f.make(std::move(c), std::move(r));
    auto res = g.decide(query("203.0.113.5"));
    CHECK(res.kind == Kind::whitelisted);
    CHECK(res.reason == "whitelist-clients:203.0.113.0/24");
    auto q = query("192.0.2.10");
    q.client_name = "mx.trusted.example";
    CHECK(g.decide(q).reason == "whitelist-clients:trusted.example");
    q.client_name = "unknown";  // only the unverified PTR says trusted.example
    CHECK(g.decide(q).kind == Kind::greylisted);
    CHECK(g.decide(query("192.0.2.11", "a@b.example", "Postmaster@rcpt.example")).reason ==
          "whitelist-recipients:postmaster@");
    q = query("192.0.2.12");
    q.sasl_username = "alice";
    CHECK(g.decide(q).reason == "sasl");
    q = query("192.0.2.13");
    q.ccert_fingerprint = "AA:BB";
    CHECK(g.decide(q).reason == "ccert");
    q.ccert_fingerprint = "AA:BC";
    CHECK(g.decide(q).kind == Kind::greylisted);
}

TEST_CASE("store down: tempfail, never pass or greylisted", "[grey]") {
    test::FakeClock clock;
    DownStore down;
    grey::Greylister g(grey::Config{}, {}, {}, down, clock);
    auto r = g.decide(query("192.0.2.10"));
    CHECK(r.kind == Kind::tempfail);
    CHECK(r.reason == "down");
    grey::Config no_awl;
    no_awl.auto_whitelist_clients = 0;
    grey::Greylister g2(no_awl, {}, {}, down, clock);
    CHECK(g2.decide(query("192.0.2.10")).kind == Kind::tempfail);
    CHECK(g2.sweep().status == store::Status::tempfail);
}

TEST_CASE("SPF keying: a sender's pool across two networks is one client", "[grey][spf]") {
    Fixture f;
    test::FakeResolver dns(R"(
pool.example TXT "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8:77::/48 -all"
other.example TXT "v=spf1 -all"
)");
    spf::Evaluator spf(dns, f.clock);
    f.config.skip_domains = {"skip.example"};
    auto& g = f.make({}, {}, &spf);
    auto r = g.decide(query("192.0.2.10", "news@pool.example"));
    CHECK(r.kind == Kind::greylisted);
    CHECK(r.key_kind == "spf");
    CHECK(r.key_client == "pool.example");
    f.clock.advance(300s);
    r = g.decide(query("2001:db8:77:5::9", "news@pool.example"));  // an unrelated network of the pool
    CHECK(r.kind == Kind::pass);
    CHECK(r.reason == "retry");
    CHECK(r.key_kind == "spf");

    // Without an SPF pass the network is the key: a retry from another network is a new entry.
    r = g.decide(query("198.51.100.10", "x@other.example"));
    CHECK(r.kind == Kind::greylisted);
    CHECK(r.key_kind == "network");
    f.clock.advance(300s);
    r = g.decide(query("203.0.113.10", "x@other.example"));
    CHECK(r.reason == "new");
    CHECK(r.key_client == "203.0.113.0/24");
}

TEST_CASE("SPF keying off, or a skip domain", "[grey][spf]") {
    Fixture f;
    test::FakeResolver dns(R"(
pool.example TXT "v=spf1 ip4:192.0.2.0/24 -all"
skip.example TXT "v=spf1 ip4:192.0.2.0/24 -all"
)");
    spf::Evaluator spf(dns, f.clock);
    f.config.spf_keying = false;
    f.config.skip_domains = {"skip.example"};
    auto& g = f.make({}, {}, &spf);
    CHECK(g.decide(query("192.0.2.10", "a@pool.example")).key_kind == "network");
    CHECK(dns.total_queries() == 0);
    f.config.spf_keying = true;
    auto& g2 = f.make({}, {}, &spf);
    auto r = g2.decide(query("192.0.2.10", "a@skip.example"));
    CHECK(r.kind == Kind::whitelisted);
    CHECK(r.reason == "spf-skip-domain:skip.example");
}

TEST_CASE("privacy: the store holds hashes only, decisions are unchanged", "[grey][privacy]") {
    Fixture f;
    auto hasher = std::make_shared<grey::KeyHasher>("0123456789abcdef-secret");
    auto& g = f.make({}, {}, nullptr, hasher);
    auto r = g.decide(query("192.0.2.10"));
    REQUIRE(r.kind == Kind::greylisted);
    CHECK(r.key.size() == 2 + 64);
    f.clock.advance(300s);
    CHECK(g.decide(query("192.0.2.10")).reason == "retry");
    auto l = f.store.list("", 100);
    REQUIRE(l.status == store::Status::ok);
    REQUIRE(l.entries.size() == 1);
    REQUIRE(l.clients.size() == 1);
    for (const auto& e : l.entries) {
        CHECK(e.key.find("192.0.2") == std::string::npos);
        CHECK(e.key.find("alice") == std::string::npos);
        CHECK(e.key.rfind("h:", 0) == 0);
    }
    CHECK(l.clients[0].client.find("192.0.2") == std::string::npos);
}

TEST_CASE("an auto-whitelisted client that keeps sending stays whitelisted past max-age", "[grey]") {
    Fixture f;
    f.config.auto_whitelist_clients = 1;
    auto& g = f.make();
    REQUIRE(g.decide(query("192.0.2.10")).kind == Kind::greylisted);
    f.clock.advance(300s);
    REQUIRE(g.decide(query("192.0.2.10")).reason == "retry");
    for (int day = 0; day < 40; day += 10) {
        f.clock.advance(10 * 24h);
        CHECK(g.decide(query("192.0.2.10", "s@x.example", "r@y.example")).reason == "auto-whitelist");
    }
}

TEST_CASE("no-auto-whitelist senders: never auto-whitelisted, their retries do not count", "[grey]") {
    Fixture f;
    f.config.auto_whitelist_clients = 2;
    f.config.no_auto_whitelist_senders = {"@bulk.example", "spam@other.example"};
    auto& g = f.make();
    // Two accepted retries of a listed sender: they do not count, the client is not whitelisted.
    for (int i = 0; i < 2; ++i) {
        const auto rcpt = "r" + std::to_string(i) + "@rcpt.example";
        REQUIRE(g.decide(query("192.0.2.10", "news@mail.bulk.example", rcpt.c_str())).kind == Kind::greylisted);
        f.clock.advance(300s);
        REQUIRE(g.decide(query("192.0.2.10", "news@mail.bulk.example", rcpt.c_str())).reason == "retry");
    }
    CHECK(g.decide(query("192.0.2.10", "a@s.example", "new@rcpt.example")).kind == Kind::greylisted);
    // Two accepted retries of an unlisted sender whitelist the client...
    for (int i = 0; i < 2; ++i) {
        const auto rcpt = "q" + std::to_string(i) + "@rcpt.example";
        REQUIRE(g.decide(query("192.0.2.10", "a@s.example", rcpt.c_str())).kind == Kind::greylisted);
        f.clock.advance(300s);
        REQUIRE(g.decide(query("192.0.2.10", "a@s.example", rcpt.c_str())).reason == "retry");
    }
    CHECK(g.decide(query("192.0.2.10", "b@s.example", "x@rcpt.example")).reason == "auto-whitelist");
    // ...but not for the listed senders, which stay greylisted per triplet.
    auto r = g.decide(query("192.0.2.10", "other@bulk.example", "x@rcpt.example"));
    CHECK(r.kind == Kind::greylisted);
    CHECK(r.reason == "new");
    CHECK(g.decide(query("192.0.2.10", "SPAM@other.example", "x@rcpt.example")).kind == Kind::greylisted);
    CHECK(g.decide(query("192.0.2.10", "ham@other.example", "x@rcpt.example")).reason == "auto-whitelist");
}

TEST_CASE("sender patterns: address, @domain, domain with subdomains", "[grey]") {
    CHECK(grey::sender_matches("Alice@Example.org", "alice@example.org"));
    CHECK_FALSE(grey::sender_matches("bob@example.org", "alice@example.org"));
    CHECK(grey::sender_matches("bob@example.org", "@example.org"));
    CHECK(grey::sender_matches("bob@mx.example.org", "example.org"));
    CHECK_FALSE(grey::sender_matches("bob@badexample.org", "example.org"));
    CHECK_FALSE(grey::sender_matches("", "example.org"));
    CHECK_FALSE(grey::sender_matches("bob@example.org", ""));
    CHECK_FALSE(grey::sender_matches("bob@example.org", "@"));
}

TEST_CASE("manual whitelist: clients and senders, replaced as a whole", "[grey]") {
    Fixture f;
    auto& g = f.make();
    std::vector<std::string> bad;
    auto m = grey::ManualWhitelist::from({{"client", "198.51.100.0/24", {}},
                                          {"sender", "Friend@partner.example", {}},
                                          {"sender", "trusted.example", {}},
                                          {"client", "not-an-address", {}},
                                          {"bogus", "x", {}}},
                                         &bad);
    CHECK(bad == std::vector<std::string>{"client:not-an-address", "bogus:x"});
    CHECK(g.decide(query("198.51.100.7")).kind == Kind::greylisted);  // before: greylisted
    g.set_manual(std::move(m));
    auto r = g.decide(query("198.51.100.8"));
    CHECK(r.kind == Kind::whitelisted);
    CHECK(r.reason == "manual-whitelist:client:198.51.100.0/24");
    CHECK(g.decide(query("192.0.2.1", "friend@partner.example")).reason == "manual-whitelist:sender:friend@partner.example");
    CHECK(g.decide(query("192.0.2.1", "x@lists.trusted.example")).reason == "manual-whitelist:sender:trusted.example");
    CHECK(g.decide(query("192.0.2.1", "enemy@partner.example")).kind == Kind::greylisted);
    g.set_manual({});
    CHECK(g.decide(query("198.51.100.9")).kind == Kind::greylisted);
}
