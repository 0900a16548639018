// tests/unit/greyd/grey_policy_test.cpp - mailmoat-grey answers: DEFER_IF_PERMIT 4.7.1 with the remaining
// delay, X-Greylist once per message, the store-failure action, skips; settings validation and defaults.
#include <catch2/catch.hpp>
#include <fstream>

#include "common/store/sqlite_grey_store.hpp"
#include "fakes/fake_clock.hpp"
#include "fakes/fake_resolver.hpp"
#include "policyd/grey/grey_policy.hpp"
#include "support/temp_dir.hpp"

using namespace mailmoat;
using namespace std::chrono_literals;

namespace {

// An initializer_list of strings, not a vector: {"--key", "value"} would otherwise pick vector's
// iterator-pair constructor with two unrelated pointers.
// Settings from command-line arguments plus, when conf_file is set, a config file (booleans that
// default to yes are switched off there, as an admin would).
config::Values values(std::initializer_list<std::string> list, const std::string& conf_file = "") {
    std::vector<std::string> args{"--config", conf_file};
    args.insert(args.end(), list.begin(), list.end());
    return config::parse(greyd::make_schema(), args);
}

class DownStore final : public store::GreyStore {
public:
    store::EntryResult seen(std::string_view, store::TimePoint, std::chrono::seconds) override {
        return {store::Status::tempfail, {}, false, "locked"};
    }
    store::EntryResult touch(std::string_view, store::TimePoint, bool) override {
        return {store::Status::tempfail, {}, false, "locked"};
    }
    store::EntryResult restart(std::string_view, store::TimePoint) override {
        return {store::Status::tempfail, {}, false, "locked"};
    }
    store::EntryResult set_passed(std::string_view) override { return {store::Status::tempfail, {}, false, "locked"}; }
    store::ClientResult client(std::string_view, store::TimePoint, std::chrono::seconds) override {
        return {store::Status::tempfail, {}, "locked"};
    }
    store::ClientResult add_client_pass(std::string_view, store::TimePoint, std::uint64_t) override {
        return {store::Status::tempfail, {}, "locked"};
    }
    store::CountResult expire(store::TimePoint) override { return {store::Status::tempfail, 0, "locked"}; }
    store::ListResult list(std::string_view, std::size_t) override {
        return {store::Status::tempfail, {}, {}, "locked"};
    }
    store::CountResult remove(std::string_view, bool) override { return {store::Status::tempfail, 0, "locked"}; }
    store::CountResult add_manual(std::string_view, std::string_view, store::TimePoint) override {
        return {store::Status::tempfail, 0, "locked"};
    }
    store::CountResult remove_manual(std::string_view, std::string_view) override {
        return {store::Status::tempfail, 0, "locked"};
    }
    store::ManualResult manual() override { return {store::Status::tempfail, {}, "locked"}; }
    std::string describe() const override { return "down"; }
};

struct Fixture {
    test::TempDir dir{"greyd"};
    test::FakeClock clock;
    std::shared_ptr<store::GreyStore> store;
    std::shared_ptr<test::FakeResolver> resolver =
        std::make_shared<test::FakeResolver>("pool.example TXT \"v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 -all\"\n");
    std::unique_ptr<greyd::GreyPolicy> policy;
    explicit Fixture(std::initializer_list<std::string> args = {}, bool down = false, const std::string& conf = "") {
        std::string conf_file;
        if (!conf.empty()) {
            conf_file = dir.file("grey.conf");
            std::ofstream(conf_file) << conf;
        }
        auto s = std::make_shared<greyd::Settings>(greyd::build_settings(values(args, conf_file)));
        if (down)
            store = std::make_shared<DownStore>();
        else
            store = std::make_shared<store::SqliteGreyStore>(store::SqliteOptions{dir.file("grey.db")});
        policy = std::make_unique<greyd::GreyPolicy>(s, store, resolver, clock);
    }
    static policy::Request req(std::string ip, std::string rcpt = "bob@rcpt.example", std::string instance = "i1",
                               std::string sender = "alice@sender.example") {
        policy::Request r;
        r.request = "smtpd_access_policy";
        r.protocol_state = "RCPT";
        r.client_address = util::IpAddress::parse(ip);
        r.client_address_raw = ip;
        r.client_name = "unknown";
        r.sender = std::move(sender);
        r.recipient = std::move(rcpt);
        r.instance = std::move(instance);
        return r;
    }
    std::string act(const policy::Request& r) const { return policy->handle(r, policy::Peer{}).text(); }
};

}  // namespace

TEST_CASE("first attempt: DEFER_IF_PERMIT 4.7.1 with the remaining delay; retry: X-Greylist", "[greyd]") {
    Fixture f({"--hostname", "mx.test"});
    CHECK(f.act(f.req("203.0.113.5")) == "DEFER_IF_PERMIT 4.7.1 Greylisted, please try again in 300 seconds");
    f.clock.advance(120s);
    CHECK(f.act(f.req("203.0.113.5", "bob@rcpt.example", "i2")) ==
          "DEFER_IF_PERMIT 4.7.1 Greylisted, please try again in 180 seconds");
    f.clock.advance(180s);
    const auto a = f.act(f.req("203.0.113.5", "bob@rcpt.example", "i3"));
    CHECK(a.rfind("PREPEND X-Greylist: delayed 300 seconds by mailmoat-grey-", 0) == 0);
    CHECK(a.find(" at mx.test; ") != std::string::npos);
    // A later message of the known triplet: no header.
    CHECK(f.act(f.req("203.0.113.5", "bob@rcpt.example", "i4")) == "DUNNO");
}

TEST_CASE("X-Greylist once per message with three recipients", "[greyd]") {
    Fixture f;
    for (const char* r : {"a@rcpt.example", "b@rcpt.example", "c@rcpt.example"})
        REQUIRE(f.act(f.req("203.0.113.5", r, "m1")).rfind("DEFER_IF_PERMIT 4.7.1", 0) == 0);
    f.clock.advance(301s);
    int prepends = 0;
    int dunnos = 0;
    for (const char* r : {"a@rcpt.example", "b@rcpt.example", "c@rcpt.example"}) {
        const auto a = f.act(f.req("203.0.113.5", r, "m2"));
        if (a.rfind("PREPEND X-Greylist: delayed 301 seconds", 0) == 0) ++prepends;
        if (a == "DUNNO") ++dunnos;
    }
    CHECK(prepends == 1);
    CHECK(dunnos == 2);
}

TEST_CASE("greylist-action, greylist-text and x-greylist-header settings", "[greyd]") {
    Fixture f({"--greylist-action", "450", "--greylist-text", "wait %d s (100%%)", "--delay", "60"}, false,
              "x-greylist-header = no\n");
    CHECK(f.act(f.req("203.0.113.5")) == "450 4.7.1 wait 60 s (100%)");
    f.clock.advance(60s);
    CHECK(f.act(f.req("203.0.113.5", "bob@rcpt.example", "i2")) == "DUNNO");
}

TEST_CASE("store down: the store-failure action", "[greyd]") {
    Fixture dunno({}, true);
    CHECK(dunno.act(dunno.req("203.0.113.5")) == "DUNNO");
    Fixture defer({"--store-failure-action", "DEFER_IF_PERMIT 4.3.0 greylist store unavailable"}, true);
    CHECK(defer.act(defer.req("203.0.113.5")) == "DEFER_IF_PERMIT 4.3.0 greylist store unavailable");
}

TEST_CASE("only RCPT requests with a client address are greylisted", "[greyd]") {
    Fixture f;
    auto r = f.req("203.0.113.5");
    r.protocol_state = "DATA";
    CHECK(f.policy->decide(r).skipped == "protocol-state");
    CHECK(f.act(r) == "DUNNO");
    r = f.req("203.0.113.5");
    r.client_address.reset();
    CHECK(f.policy->decide(r).skipped == "no-client-address");
}

TEST_CASE("SPF keying through the handler: the retry from the pool's other network passes", "[greyd][spf]") {
    Fixture f;
    auto d = f.policy->decide(f.req("192.0.2.10", "bob@rcpt.example", "i1", "news@pool.example"));
    CHECK(d.result.key_kind == "spf");
    CHECK(d.action.keyword() == "DEFER_IF_PERMIT");
    f.clock.advance(300s);
    d = f.policy->decide(f.req("198.51.100.20", "bob@rcpt.example", "i2", "news@pool.example"));
    CHECK(d.result.kind == grey::Result::Kind::pass);
    CHECK(d.action.keyword() == "PREPEND");
    Fixture off({}, false, "spf-keying = no\n");
    (void)off.policy->decide(off.req("192.0.2.10", "bob@rcpt.example", "i1", "news@pool.example"));
    off.clock.advance(300s);
    d = off.policy->decide(off.req("198.51.100.20", "bob@rcpt.example", "i2", "news@pool.example"));
    CHECK(d.result.kind == grey::Result::Kind::greylisted);
    CHECK(d.result.key_kind == "network");
}

TEST_CASE("settings: defaults and validation", "[greyd][settings]") {
    const auto s = greyd::build_settings(values({}));
    CHECK(s.engine.delay == 300s);
    CHECK(s.engine.retry_window == 48h);
    CHECK(s.engine.max_age == 35 * 24h);
    CHECK(s.engine.auto_whitelist_clients == 5);
    CHECK(s.engine.ipv4_prefix == 24);
    CHECK(s.engine.ipv6_prefix == 64);
    CHECK(s.store.to_string() == "sqlite:/var/lib/mailmoat/grey.db");
    CHECK(s.greylist_action == "DEFER_IF_PERMIT");
    CHECK(s.store_failure_action == "DUNNO");
    CHECK(s.engine.spf_keying);
    CHECK(s.privacy_key_file.empty());
    CHECK_THROWS_AS(greyd::build_settings(values({"--store", "bdb:/x"})), config::ConfigError);
    CHECK_THROWS_AS(greyd::build_settings(values({"--store", "sqlite:relative.db"})), config::ConfigError);
    CHECK_THROWS_AS(greyd::build_settings(values({"--greylist-action", "REJECT"})), config::ConfigError);
    CHECK_THROWS_AS(greyd::build_settings(values({"--retry-window", "100", "--delay", "300"})), config::ConfigError);
    CHECK_THROWS_AS(greyd::build_settings(values({"--sender-normalise", "rot13"})), config::ConfigError);
    CHECK_THROWS_AS(greyd::build_settings(values({"--ipv4-prefix", "33"})), config::ConfigError);
}

TEST_CASE("store specs", "[greyd][settings]") {
    auto r = greyd::parse_store_spec("redis://10.0.0.1:6380/3");
    REQUIRE(r);
    CHECK(r->kind == greyd::StoreSpec::Kind::redis);
    CHECK(r->redis.host == "10.0.0.1");
    CHECK(r->redis.port == 6380);
    CHECK(r->redis.db == 3);
    r = greyd::parse_store_spec("redis://localhost");
    REQUIRE(r);
    CHECK(r->redis.port == 6379);
    CHECK_FALSE(greyd::parse_store_spec("redis://:1"));
    CHECK_FALSE(greyd::parse_store_spec("redis://h:0"));
    CHECK_FALSE(greyd::parse_store_spec("redis://h:1/99"));
    CHECK_FALSE(greyd::parse_store_spec("sqlite:"));
    CHECK(greyd::parse_store_spec("sqlite:/var/lib/x.db")->path == "/var/lib/x.db");
}

TEST_CASE("expand_text", "[greyd][settings]") {
    CHECK(greyd::expand_text("try in %d s", 42s) == "try in 42 s");
    CHECK(greyd::expand_text("%% %x %", 1s) == "% %x %");
    CHECK(greyd::expand_text("postgrey style %s", 7s) == "postgrey style 7");
}

TEST_CASE("SASL-authenticated clients and trusted certificates skip greylisting, skip-sasl = no does not", "[greyd]") {
    Fixture f({"--trusted-ccerts", "AB:CD:EF"});
    auto r = f.req("203.0.113.5");
    r.sasl_username = "alice";
    CHECK(f.act(r) == "DUNNO");
    CHECK(f.policy->decide(r).result.reason == "sasl");
    auto c = f.req("203.0.113.6");
    c.ccert_fingerprint = "ab:cd:ef";
    CHECK(f.act(c) == "DUNNO");
    c.ccert_fingerprint = "ab:cd:00";
    CHECK(f.act(c).rfind("DEFER_IF_PERMIT 4.7.1", 0) == 0);
    Fixture g({}, false, "skip-sasl = no\n");
    auto s = g.req("203.0.113.5");
    s.sasl_username = "alice";
    CHECK(g.act(s).rfind("DEFER_IF_PERMIT 4.7.1", 0) == 0);
}

TEST_CASE("no-auto-whitelist-senders through the settings", "[greyd][settings]") {
    Fixture f({"--auto-whitelist-clients", "1", "--no-auto-whitelist-senders", "@bulk.example"});
    REQUIRE(f.act(f.req("203.0.113.5", "a@rcpt.example", "i1")).rfind("DEFER", 0) == 0);
    f.clock.advance(301s);
    REQUIRE(f.act(f.req("203.0.113.5", "a@rcpt.example", "i2")).rfind("PREPEND", 0) == 0);
    // One accepted retry: the client is auto-whitelisted, except for the listed sender's mail.
    CHECK(f.policy->decide(f.req("203.0.113.5", "b@rcpt.example", "i3")).result.reason == "auto-whitelist");
    CHECK(f.act(f.req("203.0.113.5", "b@rcpt.example", "i4", "news@bulk.example")).rfind("DEFER_IF_PERMIT", 0) == 0);
    CHECK_THROWS(Fixture({"--no-auto-whitelist-senders", "@"}));
}
