// tests/unit/spfd/spf_policy_test.cpp - mailmoat-spf decisions: skips, reject codes, knobs, one header per message.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "policyd/spf/spf_policy.hpp"
#include "fakes/fake_clock.hpp"
#include "fakes/fake_resolver.hpp"

using namespace mailmoat;

namespace {

const char* zone = R"(
pass.example A 192.0.2.10
pass.example TXT "v=spf1 ip4:192.0.2.0/24 -all"
anyip.example TXT "v=spf1 +all"
fail.example TXT "v=spf1 -all"
soft.example TXT "v=spf1 ~all"
neutral.example TXT "v=spf1 ?all"
broken.example TXT "v=spf1 foo:bar -all"
explained.example TXT "v=spf1 -all exp=why.explained.example"
why.explained.example TXT "%{s} is not allowed to send from %{i}"
slow.example TEMPFAIL timeout
mx.helo.example A 192.0.2.10
mx.helo.example TXT "v=spf1 a -all"
bad.helo.example TXT "v=spf1 -all"
)";

config::Values values(std::vector<std::string> args) {
    args.insert(args.begin(), {"--config", ""});
    return config::parse(spfd::make_schema(), args);
}

struct Fixture {
    std::shared_ptr<test::FakeResolver> resolver = std::make_shared<test::FakeResolver>(zone);
    test::FakeClock clock;
    std::unique_ptr<spfd::SpfPolicy> policy;
    explicit Fixture(std::vector<std::string> args = {}) {
        auto s = std::make_shared<spfd::Settings>(spfd::build_settings(values(args)));
        policy = std::make_unique<spfd::SpfPolicy>(s, resolver, clock);
    }
    policy::Request req(std::string ip, std::string sender, std::string helo = "nospf.helo.example",
                        std::string rcpt = "user@local.example", std::string instance = "i1") const {
        policy::Request r;
        r.request = "smtpd_access_policy";
        r.protocol_state = "RCPT";
        r.client_address = util::IpAddress::parse(ip);
        r.client_address_raw = ip;
        r.sender = std::move(sender);
        r.helo_name = std::move(helo);
        r.recipient = std::move(rcpt);
        r.instance = std::move(instance);
        return r;
    }
    std::string act(const policy::Request& r) const { return policy->handle(r, policy::Peer{}).text(); }
};

}  // namespace

TEST_CASE("a -all domain is rejected with RFC 7372 5.7.23 and its explanation", "[spfd]") {
    Fixture f;
    CHECK(f.act(f.req("198.51.100.7", "a@fail.example")) == "550 5.7.23 SPF fail - not authorized");
    CHECK(f.act(f.req("198.51.100.7", "bob@explained.example", "nospf.helo.example", "u@l", "i2")) ==
          "550 5.7.23 bob@explained.example is not allowed to send from 198.51.100.7");
}

TEST_CASE("a pass gets one Received-SPF header per message, whatever the number of recipients", "[spfd]") {
    Fixture f;
    const auto first = f.act(f.req("192.0.2.10", "a@pass.example", "mx.helo.example", "r1@l", "msg-1"));
    INFO(first);
    CHECK(first.rfind("PREPEND Received-SPF: pass (", 0) == 0);
    CHECK(first.find("identity=mailfrom; client-ip=192.0.2.10; helo=mx.helo.example; envelope-from=\"a@pass.example\";") != std::string::npos);
    const auto queries = f.resolver->total_queries();
    CHECK(f.act(f.req("192.0.2.10", "a@pass.example", "mx.helo.example", "r2@l", "msg-1")) == "DUNNO");
    CHECK(f.act(f.req("192.0.2.10", "a@pass.example", "mx.helo.example", "r3@l", "msg-1")) == "DUNNO");
    CHECK(f.resolver->total_queries() == queries);  // later recipients cost no DNS
    // A new message from the same sender is answered from the result cache.
    CHECK(f.act(f.req("192.0.2.10", "a@pass.example", "mx.helo.example", "r1@l", "msg-2")).rfind("PREPEND Received-SPF: pass", 0) == 0);
    CHECK(f.resolver->total_queries() == queries);
}

TEST_CASE("reject policies", "[spfd]") {
    auto [args, sender, expect] = GENERATE(Catch::Generators::table<std::vector<std::string>, std::string, std::string>({
        {{}, "a@soft.example", "PREPEND Received-SPF: softfail"},
        {{"--mail-from-reject", "softfail"}, "a@soft.example", "550 5.7.23"},
        {{"--mail-from-reject", "not-pass"}, "a@neutral.example", "550 5.7.23"},
        {{"--mail-from-reject", "never"}, "a@fail.example", "PREPEND Received-SPF: fail"},
        {{"--test-only"}, "a@fail.example", "PREPEND Received-SPF: fail"},
        {{}, "a@broken.example", "PREPEND Received-SPF: permerror"},
        {{"--permerror-reject"}, "a@broken.example", "550 5.7.24 SPF permanent error"},
        {{}, "a@slow.example", "PREPEND Received-SPF: temperror"},
        {{"--temperror-defer"}, "a@slow.example", "DEFER_IF_PERMIT 4.7.24"},
        {{"--header", "none"}, "a@anyip.example", "DUNNO"},
        {{"--header", "authentication-results", "--authserv-id", "mx.local"}, "a@anyip.example",
         "PREPEND Authentication-Results: mx.local; spf=pass smtp.mailfrom=a@anyip.example"},
    }));
    Fixture f(args);
    const auto got = f.act(f.req("198.51.100.7", sender));
    INFO(got);
    CHECK(got.rfind(expect, 0) == 0);
}

TEST_CASE("HELO identity: fail rejects by default, null sender is checked as postmaster@HELO", "[spfd]") {
    Fixture f;
    CHECK(f.act(f.req("198.51.100.7", "a@pass.example", "bad.helo.example")) == "550 5.7.23 SPF fail - not authorized");
    Fixture g({"--helo-reject", "no-check"});
    CHECK(g.act(g.req("192.0.2.10", "", "mx.helo.example")).find("pass") != std::string::npos);
    CHECK(g.act(g.req("198.51.100.7", "", "bad.helo.example", "u@l", "i9")).rfind("550 5.7.23", 0) == 0);
}

TEST_CASE("skips: local networks, SASL clients, other protocol states", "[spfd]") {
    Fixture f;
    CHECK(f.act(f.req("127.0.0.1", "a@fail.example")) == "DUNNO");
    CHECK(f.act(f.req("::1", "a@fail.example")) == "DUNNO");
    auto r = f.req("198.51.100.7", "a@fail.example");
    r.sasl_username = "alice";
    CHECK(f.act(r) == "DUNNO");
    auto m = f.req("198.51.100.7", "a@fail.example", "x", "u@l", "i3");
    m.protocol_state = "MAIL";
    CHECK(f.act(m) == "DUNNO");
    CHECK(f.resolver->total_queries() == 0);
    Fixture g({"--skip-networks", "198.51.100.0/24"});
    CHECK(g.act(g.req("198.51.100.7", "a@fail.example")) == "DUNNO");
    CHECK(g.act(g.req("127.0.0.1", "a@fail.example", "mx.helo.example", "u@l", "i4")).rfind("550", 0) == 0);
}

TEST_CASE("header = both: Received-SPF at RCPT, Authentication-Results at DATA, once each", "[spfd]") {
    Fixture f({"--header", "both", "--authserv-id", "mx.local"});
    CHECK(f.act(f.req("192.0.2.10", "a@pass.example", "mx.helo.example", "r1@l", "m")).rfind("PREPEND Received-SPF: pass", 0) == 0);
    auto data = f.req("192.0.2.10", "a@pass.example", "mx.helo.example", "", "m");
    data.protocol_state = "DATA";
    CHECK(f.act(data) ==
          "PREPEND Authentication-Results: mx.local; spf=pass smtp.mailfrom=a@pass.example; spf=pass smtp.helo=mx.helo.example");
    CHECK(f.act(data) == "DUNNO");
}

TEST_CASE("per-recipient overrides and whitelists", "[spfd]") {
    const auto path = std::filesystem::temp_directory_path() / ("mm-spfd-peruser-" + std::to_string(::getpid()));
    std::ofstream(path) << "abuse@local.example mail-from-reject=never\nrelaxed.example test-only=yes\n";
    Fixture f({"--per-recipient-table", "texthash:" + path.string()});
    CHECK(f.act(f.req("198.51.100.7", "a@fail.example", "nospf.helo.example", "abuse@local.example", "p1")).rfind("PREPEND Received-SPF: fail", 0) == 0);
    CHECK(f.act(f.req("198.51.100.7", "a@fail.example", "nospf.helo.example", "x@relaxed.example", "p2")).rfind("PREPEND", 0) == 0);
    CHECK(f.act(f.req("198.51.100.7", "a@fail.example", "nospf.helo.example", "x@local.example", "p3")).rfind("550", 0) == 0);
    std::filesystem::remove(path);

    Fixture w({"--helo-whitelist", "mx.helo.example"});
    CHECK(w.act(w.req("192.0.2.10", "a@fail.example", "mx.helo.example")) == "DUNNO");       // forward-confirmed
    CHECK(w.act(w.req("198.51.100.7", "a@fail.example", "mx.helo.example", "u@l", "i5")).rfind("550", 0) == 0);  // not confirmed
    Fixture d({"--domain-whitelist", "pass.example"});
    CHECK(d.act(d.req("192.0.2.10", "a@fail.example")) == "DUNNO");
}

TEST_CASE("mail data in Received-SPF is quoted and stripped of control bytes", "[spfd]") {
    Fixture f({"--helo-reject", "never"});
    auto r = f.req("192.0.2.10", "a@pass.example", "evil\"; receiver=x\r\nX-Injected: 1", "u@l", "q1");
    const auto got = f.act(r);
    INFO(got);
    CHECK(got.find('\r') == std::string::npos);
    CHECK(got.find('\n') == std::string::npos);
    CHECK(got.find("helo=\"evil\\\"; receiver=xX-Injected: 1\";") != std::string::npos);
}

TEST_CASE("bad settings are config errors naming the key", "[spfd]") {
    CHECK_THROWS_WITH(spfd::build_settings(values({"--helo-reject", "sometimes"})), Catch::Contains("helo-reject"));
    CHECK_THROWS_WITH(spfd::build_settings(values({"--mail-from-reject", "null"})), Catch::Contains("mail-from-reject"));
    CHECK_THROWS_WITH(spfd::build_settings(values({"--header", "x"})), Catch::Contains("header"));
    CHECK_THROWS_WITH(spfd::build_settings(values({"--skip-networks", "10.0.0.0/33"})), Catch::Contains("skip-networks"));
    CHECK_THROWS_WITH(spfd::build_settings(values({"--authserv-id", "a b"})), Catch::Contains("authserv-id"));
    CHECK_THROWS_WITH(spfd::build_settings(values({"--time-budget", "0s"})), Catch::Contains("time-budget"));
}
