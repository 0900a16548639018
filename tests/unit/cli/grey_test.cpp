// tests/unit/cli/grey_test.cpp - `mailmoat grey`: key parsing and filters, list/delete/whitelist/stats on a
// SQLite store filled by the real greylisting engine, config-file store lookup, usage errors.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "common/grey/greylister.hpp"
#include "common/store/sqlite_grey_store.hpp"
#include "fakes/fake_clock.hpp"
#include "support/temp_dir.hpp"
#include "tools/mailmoat/command.hpp"
#include "tools/mailmoat/grey_keys.hpp"

using namespace mailmoat;
using namespace std::chrono_literals;
namespace gk = mailmoat::cli::grey_keys;

namespace {

struct Captured {
    std::istringstream in;
    std::ostringstream out, err;
    cli::Io io{in, out, err};
};

grey::Query query(const char* client, const char* sender, const char* rcpt) {
    grey::Query q;
    q.client = *util::IpAddress::parse(client);
    q.sender = sender;
    q.recipient = rcpt;
    return q;
}

/// A store with entries made by the engine itself: two waiting, one passed, one auto-whitelist counter.
struct Filled {
    test::TempDir dir{"cli-grey"};
    std::string spec = "sqlite:" + dir.file("grey.db");
    Filled() {
        store::SqliteGreyStore s(store::SqliteOptions{dir.file("grey.db")});
        test::FakeClock clock;
        grey::Config c;
        c.auto_whitelist_clients = 1;
        grey::Greylister g(c, {}, {}, s, clock);
        REQUIRE(g.decide(query("192.0.2.10", "alice@sender.example", "bob@rcpt.example")).reason == "new");
        REQUIRE(g.decide(query("2001:db8:1::5", "", "carol@other.example")).reason == "new");
        REQUIRE(g.decide(query("198.51.100.1", "news+x@list.example", "dave@rcpt.example")).reason == "new");
        clock.advance(301s);
        REQUIRE(g.decide(query("198.51.100.1", "news+y@list.example", "dave@rcpt.example")).reason == "retry");
    }
    int run(std::vector<std::string> args, Captured& c) const {
        args.insert(args.begin(), {"grey", "--store", spec});
        return cli::run_main(args, c.io);
    }
};

std::size_t lines(const std::string& s, const std::string& needle) {
    std::size_t n = 0;
    std::istringstream in(s);
    for (std::string l; std::getline(in, l);)
        if (l.find(needle) != std::string::npos) ++n;
    return n;
}

}  // namespace

TEST_CASE("grey keys: network, exact, SPF, null sender, hashed, unknown", "[cli][grey]") {
    auto k = gk::parse_entry_key("n:192.0.2.0/24/alice@sender.example/bob@rcpt.example");
    CHECK(k.kind == "network");
    CHECK(k.client == "192.0.2.0/24");
    CHECK(k.sender == "alice@sender.example");
    CHECK(k.recipient == "bob@rcpt.example");
    k = gk::parse_entry_key("n:2001:db8::1//bob@rcpt.example");
    CHECK(k.kind == "exact");
    CHECK(k.client == "2001:db8::1");
    CHECK(k.sender.empty());
    k = gk::parse_entry_key("s:pool.example/a@pool.example/b@c.example");
    CHECK(k.kind == "spf");
    CHECK(k.client == "pool.example");
    CHECK(gk::parse_entry_key("h:00ff").kind == "hashed");
    CHECK(gk::parse_entry_key("x:what").kind == "unknown");
    CHECK(gk::parse_entry_key("n:nothing").kind == "unknown");
    CHECK(gk::client_of_counter("c:192.0.2.0/24") == "192.0.2.0/24");
}

TEST_CASE("grey filters: address in network, network, domain key, substrings", "[cli][grey]") {
    const std::string raw = "n:192.0.2.0/24/alice@sender.example/bob@rcpt.example";
    const auto k = gk::parse_entry_key(raw);
    auto f = [](auto fn) {
        gk::Filter x;
        fn(x);
        return x;
    };
    CHECK(gk::matches(k, raw, {}));
    CHECK(gk::matches(k, raw, f([](auto& x) { x.client = "192.0.2.77"; })));
    CHECK(gk::matches(k, raw, f([](auto& x) { x.client = "192.0.2.9/24"; })));
    CHECK_FALSE(gk::matches(k, raw, f([](auto& x) { x.client = "192.0.3.1"; })));
    CHECK(gk::matches(k, raw, f([](auto& x) { x.sender = "ALICE"; })));
    CHECK_FALSE(gk::matches(k, raw, f([](auto& x) { x.sender = "mallory"; })));
    CHECK(gk::matches(k, raw, f([](auto& x) { x.recipient = "bob@"; })));
    CHECK(gk::matches(k, raw, f([](auto& x) { x.domain = "sender.example"; })));
    CHECK(gk::matches(k, raw, f([](auto& x) { x.domain = "example"; })));
    CHECK_FALSE(gk::matches(k, raw, f([](auto& x) { x.domain = "ender.example"; })));
    const std::string spf = "s:mail.pool.example/a@pool.example/b@c.example";
    CHECK(gk::matches(gk::parse_entry_key(spf), spf, f([](auto& x) { x.domain = "pool.example"; })));
    CHECK(gk::matches(gk::parse_entry_key(spf), spf, f([](auto& x) { x.client = "mail.pool.example"; })));
    CHECK_FALSE(gk::matches(k, raw, f([](auto& x) {
        x.sender = "alice";
        x.recipient = "carol";
    })));
}

TEST_CASE("mailmoat grey list: every entry and counter, and filtered", "[cli][grey]") {
    Filled s;
    Captured c;
    REQUIRE(s.run({"list"}, c) == cli::Exit::ok);
    const auto out = c.out.str();
    CHECK(lines(out, "network\t192.0.2.0/24\talice@sender.example\tbob@rcpt.example\t") == 1);
    CHECK(lines(out, "network\t2001:db8:1::/64\t<>\tcarol@other.example\t") == 1);
    CHECK(lines(out, "network\t198.51.100.0/24\tnews@list.example\tdave@rcpt.example\t") == 1);
    CHECK(lines(out, "\t2\tyes") == 1);  // the passed entry: two attempts
    CHECK(lines(out, "awl\t198.51.100.0/24\t") == 1);
    Captured by_client;
    REQUIRE(s.run({"list", "--client", "2001:db8:1::99"}, by_client) == cli::Exit::ok);
    CHECK(lines(by_client.out.str(), "carol@other.example") == 1);
    CHECK(lines(by_client.out.str(), "bob@rcpt.example") == 0);
    Captured by_domain;
    REQUIRE(s.run({"list", "--domain", "rcpt.example"}, by_domain) == cli::Exit::ok);
    CHECK(lines(by_domain.out.str(), "network\t") == 2);
    CHECK(lines(by_domain.out.str(), "carol@") == 0);
    Captured limited;
    REQUIRE(s.run({"list", "--limit", "1"}, limited) == cli::Exit::ok);
    CHECK(lines(limited.out.str(), "network\t") == 1);
}

TEST_CASE("mailmoat grey delete: by filter, by counter, nothing matching fails", "[cli][grey]") {
    Filled s;
    Captured c;
    REQUIRE(s.run({"delete", "--sender", "alice@"}, c) == cli::Exit::ok);
    CHECK(c.out.str() == "deleted 1 entry\n");
    Captured again;
    CHECK(s.run({"delete", "--sender", "alice@"}, again) == cli::Exit::failed);
    Captured awl;
    REQUIRE(s.run({"delete", "--awl-client", "198.51.100.0/24"}, awl) == cli::Exit::ok);
    Captured none;
    CHECK(s.run({"delete"}, none) == cli::Exit::usage);
    Captured left;
    REQUIRE(s.run({"list"}, left) == cli::Exit::ok);
    CHECK(lines(left.out.str(), "alice@") == 0);
    CHECK(lines(left.out.str(), "awl\t") == 0);
    CHECK(lines(left.out.str(), "network\t") == 2);
    // The deletion is logged for a daemon holding the store in memory.
    store::SqliteGreyStore st(store::SqliteOptions{s.dir.file("grey.db")});
    auto ch = st.changes_after(0);
    REQUIRE(ch.status == store::Status::ok);
    CHECK(ch.changes.size() >= 2);
}

TEST_CASE("mailmoat grey whitelist: add, list, remove, bad values are usage errors", "[cli][grey]") {
    Filled s;
    Captured a, b, l, r, r2, bad, both;
    REQUIRE(s.run({"whitelist", "--client", "203.0.113.7/24"}, a) == cli::Exit::ok);
    CHECK(a.out.str() == "whitelisted client 203.0.113.0/24\n");
    REQUIRE(s.run({"whitelist", "--sender", "@Partner.Example"}, b) == cli::Exit::ok);
    REQUIRE(s.run({"whitelist", "--list"}, l) == cli::Exit::ok);
    CHECK(lines(l.out.str(), "client\t203.0.113.0/24\t") == 1);
    CHECK(lines(l.out.str(), "sender\t@partner.example\t") == 1);
    REQUIRE(s.run({"whitelist", "--client", "203.0.113.0/24", "--remove"}, r) == cli::Exit::ok);
    CHECK(s.run({"whitelist", "--client", "203.0.113.0/24", "--remove"}, r2) == cli::Exit::failed);
    CHECK(s.run({"whitelist", "--client", "not-an-ip"}, bad) == cli::Exit::usage);
    CHECK(s.run({"whitelist", "--client", "192.0.2.1", "--sender", "a@b"}, both) == cli::Exit::usage);
}

TEST_CASE("mailmoat grey stats", "[cli][grey]") {
    Filled s;
    Captured c;
    REQUIRE(s.run({"stats"}, c) == cli::Exit::ok);
    const auto out = c.out.str();
    CHECK(lines(out, "entries\t3") == 1);
    CHECK(lines(out, "entries-waiting\t2") == 1);
    CHECK(lines(out, "entries-passed\t1") == 1);
    CHECK(lines(out, "attempts\t4") == 1);
    CHECK(lines(out, "client-counters\t1") == 1);
    CHECK(lines(out, "auto-whitelisted-clients\t0") == 1);  // the default threshold is 5
    CHECK(lines(out, "manual-whitelist\t0") == 1);
}

TEST_CASE("mailmoat grey finds the store in the daemon's configuration file", "[cli][grey]") {
    Filled s;
    const auto conf = s.dir.file("grey.conf");
    std::ofstream(conf) << "store = " << s.spec << "\nauto-whitelist-clients = 1\n";
    Captured c;
    REQUIRE(cli::run_main({"grey", "--config", conf, "stats"}, c.io) == cli::Exit::ok);
    CHECK(lines(c.out.str(), "entries\t3") == 1);
    CHECK(lines(c.out.str(), "auto-whitelisted-clients\t1") == 1);
    Captured missing;
    CHECK(cli::run_main({"grey", "--config", s.dir.file("nope.conf"), "stats"}, missing.io) == cli::Exit::config);
    Captured bad_store;
    CHECK(cli::run_main({"grey", "--store", "ftp://x", "stats"}, bad_store.io) == cli::Exit::config);
    Captured unknown;
    CHECK(s.run({"frobnicate"}, unknown) == cli::Exit::usage);
    Captured help;
    CHECK(cli::run_main({"grey", "--help"}, help.io) == cli::Exit::ok);
    CHECK(lines(help.out.str(), "whitelist") >= 1);
}
