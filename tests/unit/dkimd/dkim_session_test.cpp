// tests/unit/dkimd/dkim_session_test.cpp - mailmoat-dkim session: sign/verify choice, headers inserted and deleted.
#include <catch2/catch.hpp>

#include <map>

#include "milters/dkim/dkim_session.hpp"
#include "unit/dkim/dkim_test_support.hpp"

using namespace mailmoat;

namespace {

/// Records what the session asks of the MTA.
class FakeContext : public milter::Context {
public:
    std::map<std::string, std::string> macros;
    struct Op {
        std::string what;  // insert, change
        int index;
        std::string name;
        std::string value;
    };
    std::vector<Op> ops;
    std::string reply;

    std::optional<std::string> macro(std::string_view name) const override {
        auto it = macros.find(std::string(name));
        if (it == macros.end()) return std::nullopt;
        return it->second;
    }
    milter::Outcome set_reply(std::string_view rcode, std::string_view xcode, const std::vector<std::string>& lines) override {
        reply = std::string(rcode) + " " + std::string(xcode) + " " + (lines.empty() ? "" : lines[0]);
        return milter::Outcome::ok;
    }
    milter::Outcome add_header(std::string_view n, std::string_view v) override {
        ops.push_back({"add", -1, std::string(n), std::string(v)});
        return milter::Outcome::ok;
    }
    milter::Outcome insert_header(int i, std::string_view n, std::string_view v) override {
        ops.push_back({"insert", i, std::string(n), std::string(v)});
        return milter::Outcome::ok;
    }
    milter::Outcome change_header(std::string_view n, int i, std::string_view v) override {
        ops.push_back({"change", i, std::string(n), std::string(v)});
        return milter::Outcome::ok;
    }
    milter::Outcome add_rcpt(std::string_view, std::string_view) override { return milter::Outcome::invalid; }
    milter::Outcome del_rcpt(std::string_view) override { return milter::Outcome::invalid; }
    milter::Outcome change_from(std::string_view, std::string_view) override { return milter::Outcome::invalid; }
    milter::Outcome quarantine(std::string_view) override { return milter::Outcome::invalid; }
    milter::Outcome replace_body_chunk(std::string_view) override { return milter::Outcome::invalid; }
};

struct Fixture {
    std::shared_ptr<dkimtest::FakeResolver> resolver = std::make_shared<dkimtest::FakeResolver>();
    std::shared_ptr<dkimtest::FakeClock> clock = std::make_shared<dkimtest::FakeClock>(1764547200);
    std::shared_ptr<const crypto::SigningKey> key = crypto::SigningKey::generate(crypto::KeyType::ed25519);
    dkimd::Settings settings;

    Fixture() {
        settings.mode = dkimd::Mode::sign_verify;
        settings.keys.push_back({"k", "example.com", "sel", "/nonexistent", key});
        settings.rules.push_back({"example.com", "k"});
        settings.internal_hosts.push_back(*util::IpNetwork::parse("127.0.0.1"));
        settings.sign_headers = dkim::default_sign_headers();
        settings.oversign_headers = dkim::default_oversign_headers();
        settings.authserv_id = "mx.example.net";
        resolver->txt["sel._domainkey.example.com"] = {"v=DKIM1; k=ed25519; p=" + key->public_key_base64()};
    }
    std::shared_ptr<const dkimd::Runtime> runtime() const {
        auto rt = std::make_shared<dkimd::Runtime>();
        rt->settings = std::make_shared<const dkimd::Settings>(settings);
        rt->resolver = resolver;
        rt->key_cache = std::make_shared<dkim::PublicKeyCache>();
        rt->clock = clock;
        return rt;
    }
};

using Headers = std::vector<std::pair<std::string, std::string>>;

/// Runs one message through a session as Postfix would (header values without the leading space).
milter::Status run(dkimd::DkimSession& s, FakeContext& ctx, const char* client, const Headers& headers,
                   const std::string& body) {
    s.attach(&ctx);
    milter::ConnectInfo ci;
    ci.family = milter::ConnectInfo::Family::inet;
    ci.address = util::IpAddress::parse(client);
    REQUIRE(s.on_connect(ci) == milter::Status::continue_);
    REQUIRE(s.on_envfrom({"<a@example.com>"}) == milter::Status::continue_);
    for (const auto& [n, v] : headers) REQUIRE(s.on_header(n, v) == milter::Status::continue_);
    REQUIRE(s.on_eoh() == milter::Status::continue_);
    for (std::size_t i = 0; i < body.size(); i += 7) REQUIRE(s.on_body(body.substr(i, 7)) == milter::Status::continue_);
    milter::Modifier m(ctx);
    const auto st = s.on_eom(m);
    s.reset();
    return st;
}

const Headers message = {{"Received", "from x by y"},
                         {"From", "Alice <alice@example.com>"},
                         {"To", "bob@example.net"},
                         {"Subject", "hello\r\n\tworld"},
                         {"Date", "Mon, 1 Dec 2025 00:00:00 +0000"}};
const std::string body = "Hello.\r\n\r\nSecond line  \r\n";

}  // namespace

TEST_CASE("value conversions between Postfix's milter form and the wire form", "[dkimd]") {
    CHECK(dkimd::wire_value("a\n\tb") == " a\r\n\tb");
    CHECK(dkimd::wire_value("  x") == "  x");
    CHECK(dkimd::wire_value("") == " ");
    CHECK(dkimd::wire_value("a\r\n b") == " a\r\n b");
    CHECK(dkimd::milter_value(" v=1;\r\n\tb=x") == "v=1;\n\tb=x");
    CHECK(dkimd::first_from_address("Alice <alice@example.com>") == "alice@example.com");
    CHECK(dkimd::first_from_address("\"Bob <b@evil.test>\" <bob@example.com>") == "bob@example.com");
    CHECK(dkimd::first_from_address("carol@example.com (Carol <c@x.test>)") == "carol@example.com");
    CHECK(dkimd::first_from_address("a@one.test, b@two.test") == "a@one.test");
    CHECK(dkimd::first_from_address("undisclosed-recipients:;") == "");
    CHECK(dkimd::first_from_address("<@route.test:d@example.com>") == "d@example.com");
}

TEST_CASE("internal client: one DKIM-Signature at the top, nothing else touched, and it verifies", "[dkimd]") {
    Fixture f;
    FakeContext ctx;
    dkimd::DkimSession s(f.runtime());
    REQUIRE(run(s, ctx, "127.0.0.1", message, body) == milter::Status::continue_);
    REQUIRE(ctx.ops.size() == 1);
    CHECK(ctx.ops[0].what == "insert");
    CHECK(ctx.ops[0].index == 0);
    CHECK(ctx.ops[0].name == "DKIM-Signature");
    const auto& sig = ctx.ops[0].value;
    CHECK(sig.rfind("v=1; a=ed25519-sha256;", 0) == 0);
    CHECK(sig.find('\r') == std::string::npos);
    CHECK(sig.find("d=example.com") != std::string::npos);
    CHECK(sig.find("s=sel") != std::string::npos);

    // The engine verifies the message as Postfix would deliver it.
    dkim::Verifier v(*f.resolver, *f.clock);
    v.add_header("DKIM-Signature", dkimd::wire_value(sig));
    for (const auto& [n, val] : message) v.add_header(n, dkimd::wire_value(val));
    v.add_body(body);
    auto r = v.finish();
    REQUIRE(r.size() == 1);
    CHECK(dkim::result_name(r[0].result) == std::string("pass"));

    // A SASL-authenticated external client is signed as well; an unknown From domain is not.
    FakeContext auth;
    auth.macros["{auth_authen}"] = "alice";
    dkimd::DkimSession s2(f.runtime());
    REQUIRE(run(s2, auth, "192.0.2.9", message, body) == milter::Status::continue_);
    REQUIRE(auth.ops.size() == 1);
    CHECK(auth.ops[0].name == "DKIM-Signature");
    FakeContext other;
    dkimd::DkimSession s3(f.runtime());
    Headers foreign = message;
    foreign[1].second = "eve@elsewhere.test";
    REQUIRE(run(s3, other, "127.0.0.1", foreign, body) == milter::Status::continue_);
    CHECK(other.ops.empty());
}

TEST_CASE("a session that missed the connect event tempfails its messages instead of guessing", "[dkimd]") {
    Fixture f;
    FakeContext ctx;
    dkimd::DkimSession s(f.runtime());
    s.attach(&ctx);
    for (int i = 0; i < 2; ++i) {
        CHECK(s.on_envfrom({"<a@example.com>"}) == milter::Status::tempfail);
        s.reset();
    }
    CHECK(ctx.ops.empty());
    CHECK(ctx.reply.rfind("451 4.7.0 ", 0) == 0);
    // A session that saw the connect event signs.
    dkimd::DkimSession ok(f.runtime());
    FakeContext ctx2;
    REQUIRE(run(ok, ctx2, "127.0.0.1", message, body) == milter::Status::continue_);
    CHECK(ctx2.ops.size() == 1);
}

TEST_CASE("external client: Authentication-Results per signature, forged ones removed", "[dkimd]") {
    Fixture f;
    FakeContext signer_ctx;
    dkimd::DkimSession signer(f.runtime());
    REQUIRE(run(signer, signer_ctx, "127.0.0.1", message, body) == milter::Status::continue_);
    const auto sig = signer_ctx.ops.at(0).value;

    Headers inbound = {{"DKIM-Signature", sig}};
    inbound.insert(inbound.end(), message.begin(), message.end());
    inbound.push_back({"Authentication-Results", "other.example; spf=pass smtp.mailfrom=a@example.com"});
    inbound.push_back({"Authentication-Results", "MX.example.net; dkim=pass header.d=bank.test"});
    inbound.push_back({"Authentication-Results", "mx.example.net; arc=pass"});

    FakeContext ctx;
    dkimd::DkimSession s(f.runtime());
    REQUIRE(run(s, ctx, "192.0.2.7", inbound, body) == milter::Status::continue_);
    REQUIRE(ctx.ops.size() == 3);
    // Ours are the 2nd and 3rd A-R fields: deleted last first, so the numbers stay valid.
    CHECK((ctx.ops[0].what == "change" && ctx.ops[0].index == 3 && ctx.ops[0].value.empty()));
    CHECK((ctx.ops[1].what == "change" && ctx.ops[1].index == 2 && ctx.ops[1].value.empty()));
    CHECK(ctx.ops[2].what == "insert");
    CHECK(ctx.ops[2].index == 0);
    CHECK(ctx.ops[2].name == "Authentication-Results");
    const auto b8 = sig.substr(sig.find("b=", sig.find("bh=") + 3) + 2, 8);
    // RFC 8601 values are tokens (RFC 2045) or quoted-strings: base64 with '/' must be quoted.
    const auto b_value = b8.find('/') != std::string::npos ? "\"" + b8 + "\"" : b8;
    // Folded at 78 columns with LF + whitespace (libmilter's form); unfolded it is the one-line value.
    std::string unfolded = ctx.ops[2].value;
    for (std::size_t p; (p = unfolded.find('\n')) != std::string::npos;) unfolded.erase(p, 1);
    CHECK(unfolded == "mx.example.net; dkim=pass header.d=example.com header.s=sel header.i=@example.com "
                      "header.b=" + b_value);
    CHECK(ctx.ops[2].value.find('\n') != std::string::npos);
    CHECK(ctx.ops[2].value.find('\r') == std::string::npos);

    SECTION("an altered body fails") {
        FakeContext c2;
        dkimd::DkimSession s2(f.runtime());
        REQUIRE(run(s2, c2, "192.0.2.7", inbound, body + "appended\r\n") == milter::Status::continue_);
        CHECK(c2.ops.back().value.rfind("mx.example.net; dkim=fail", 0) == 0);
    }
    SECTION("a temporary key lookup failure is temperror, or a tempfail when configured") {
        f.resolver->tempfail["sel._domainkey.example.com"] = "SERVFAIL";
        FakeContext c2;
        dkimd::DkimSession s2(f.runtime());
        REQUIRE(run(s2, c2, "192.0.2.7", inbound, body) == milter::Status::continue_);
        CHECK(c2.ops.back().value.rfind("mx.example.net; dkim=temperror", 0) == 0);

        f.settings.tempfail_on_dns_error = true;
        FakeContext c3;
        dkimd::DkimSession s3(f.runtime());
        CHECK(run(s3, c3, "192.0.2.7", inbound, body) == milter::Status::tempfail);
        CHECK(c3.ops.empty());
        CHECK(c3.reply.rfind("451 4.7.5", 0) == 0);
    }
    SECTION("unsigned mail gets dkim=none; mode s leaves external mail alone") {
        FakeContext c2;
        dkimd::DkimSession s2(f.runtime());
        REQUIRE(run(s2, c2, "192.0.2.7", message, body) == milter::Status::continue_);
        REQUIRE(c2.ops.size() == 1);
        CHECK(c2.ops[0].value == "mx.example.net; dkim=none");

        f.settings.mode = dkimd::Mode::sign;
        FakeContext c3;
        dkimd::DkimSession s3(f.runtime());
        REQUIRE(run(s3, c3, "192.0.2.7", inbound, body) == milter::Status::continue_);
        CHECK(c3.ops.empty());
    }
    SECTION("mode v verifies internal mail too") {
        f.settings.mode = dkimd::Mode::verify;
        FakeContext c2;
        dkimd::DkimSession s2(f.runtime());
        REQUIRE(run(s2, c2, "127.0.0.1", inbound, body) == milter::Status::continue_);
        CHECK(c2.ops.back().value.rfind("mx.example.net; dkim=pass", 0) == 0);
    }
}

TEST_CASE("bad input: 12,000 header fields, 300 Subjects and a malformed signature give clear results", "[dkimd]") {
    Fixture f;
    Headers many = message;
    for (int i = 0; i < 12000; ++i) many.push_back({"X-Filler", "value " + std::to_string(i)});
    SECTION("unsigned fields are not kept: the message is signed") {
        FakeContext ctx;
        dkimd::DkimSession s(f.runtime());
        REQUIRE(run(s, ctx, "127.0.0.1", many, body) == milter::Status::continue_);
        REQUIRE(ctx.ops.size() == 1);
        CHECK(ctx.ops[0].name == "DKIM-Signature");
    }
    SECTION("more signed fields than the signer covers: passed on unsigned, not tempfailed") {
        Headers subjects = message;
        for (int i = 0; i < 300; ++i) subjects.push_back({"Subject", "again " + std::to_string(i)});
        FakeContext ctx;
        dkimd::DkimSession s(f.runtime());
        REQUIRE(run(s, ctx, "127.0.0.1", subjects, body) == milter::Status::continue_);
        CHECK(ctx.ops.empty());
    }
    SECTION("beyond max_kept_headers signed fields: not signed") {
        Headers tos = message;
        for (std::size_t i = 0; i < dkimd::max_kept_headers + 5; ++i) tos.push_back({"To", "x@example.net"});
        FakeContext ctx;
        dkimd::DkimSession s(f.runtime());
        REQUIRE(run(s, ctx, "127.0.0.1", tos, body) == milter::Status::continue_);
        CHECK(ctx.ops.empty());
    }
    SECTION("verifying still reports, and a garbage DKIM-Signature is a permerror") {
        many.insert(many.begin(), {"DKIM-Signature", "v=1; this is not a tag list"});
        FakeContext ctx;
        dkimd::DkimSession s(f.runtime());
        REQUIRE(run(s, ctx, "192.0.2.7", many, body) == milter::Status::continue_);
        REQUIRE(ctx.ops.size() == 1);
        CHECK(ctx.ops[0].value.rfind("mx.example.net; dkim=permerror", 0) == 0);
    }
}
