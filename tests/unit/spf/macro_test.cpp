// tests/unit/spf/macro_test.cpp - RFC 7208 §7 macro validation and expansion, bounds included.
#include <catch2/catch.hpp>

#include "common/spf/macro.hpp"

using namespace mailmoat;
using spf::MacroContext;
using spf::MacroStatus;

namespace {

spf::MacroEnv rfc_env(const char* ip) {
    // §7.4: sender strong-bad@email.example.com, PTR name mx.example.org.
    spf::MacroEnv e;
    e.local_part = "strong-bad";
    e.sender_domain = "email.example.com";
    e.domain = "email.example.com";
    e.helo = "mx.example.org";
    e.ip = *util::IpAddress::parse(ip);
    e.timestamp = 1700000000;
    e.validated_name = [] { return std::string("mx.example.org"); };
    return e;
}

std::string expand(const std::string& s, const spf::MacroEnv& env, MacroContext ctx = MacroContext::domain) {
    auto r = spf::expand_macro_string(s, ctx, env);
    INFO(s << " -> " << spf::macro_status_name(r.status) << " " << r.error);
    REQUIRE(r.status == MacroStatus::ok);
    return r.text;
}

}  // namespace

TEST_CASE("RFC 7208 §7.4 single-macro examples", "[spf][macro]") {
    const auto env = rfc_env("192.0.2.3");
    auto [macro, want] = GENERATE(table<std::string, std::string>({
        {"%{s}", "strong-bad@email.example.com"},
        {"%{o}", "email.example.com"},
        {"%{d}", "email.example.com"},
        {"%{d4}", "email.example.com"},
        {"%{d3}", "email.example.com"},
        {"%{d2}", "example.com"},
        {"%{d1}", "com"},
        {"%{dr}", "com.example.email"},
        {"%{d2r}", "example.email"},
        {"%{l}", "strong-bad"},
        {"%{l-}", "strong.bad"},
        {"%{lr}", "strong-bad"},
        {"%{lr-}", "bad.strong"},
        {"%{l1r-}", "strong"},
    }));
    CHECK(expand(macro, env) == want);
}

TEST_CASE("RFC 7208 §7.4 macro-string examples", "[spf][macro]") {
    const auto env = rfc_env("192.0.2.3");
    CHECK(expand("%{ir}.%{v}._spf.%{d2}", env) == "3.2.0.192.in-addr._spf.example.com");
    CHECK(expand("%{lr-}.lp._spf.%{d2}", env) == "bad.strong.lp._spf.example.com");
    CHECK(expand("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", env) == "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
    CHECK(expand("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", env) == "3.2.0.192.in-addr.strong.lp._spf.example.com");
    CHECK(expand("%{d2}.trusted-domains.example.net", env) == "example.com.trusted-domains.example.net");
    const auto env6 = rfc_env("2001:db8::cb01");
    CHECK(expand("%{ir}.%{v}._spf.%{d2}", env6) ==
          "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
}

TEST_CASE("other letters, escapes and URL encoding", "[spf][macro]") {
    const auto env = rfc_env("192.0.2.3");
    CHECK(expand("%{h}", env) == "mx.example.org");
    CHECK(expand("%{p}", env) == "mx.example.org");
    CHECK(expand("%%%_%-", env) == "% %20");
    CHECK(expand("%{c} %{r} %{t}", env, MacroContext::explanation) == "192.0.2.3 unknown 1700000000");
    CHECK(expand("%{S}", env) == "strong-bad%40email.example.com");
    CHECK(expand("%{L}", env) == "strong-bad");
    CHECK(expand("%{d99}", env) == "email.example.com");
    CHECK(expand("%{d000000000000000000001}", env) == "com");
    CHECK(expand("%{l+-}", env) == "strong.bad");
    const auto env6 = rfc_env("2001:db8::cb01");
    CHECK(expand("%{c}", env6, MacroContext::explanation) == "2001:db8::cb01");
    CHECK(expand("%{v}", env6) == "ip6");
    // Explanation text shows IPv6 nibbles upper-case (as the RFC 7208 test suite expects).
    CHECK(expand("%{i}", env6, MacroContext::explanation).substr(0, 9) == "2.0.0.1.0");
    CHECK(expand("%{ir}", env6, MacroContext::explanation).substr(0, 8) == "1.0.B.C.");
    // Without a %{p} resolver the name is "unknown".
    auto bare = env;
    bare.validated_name = nullptr;
    CHECK(expand("%{p}", bare) == "unknown");
}

TEST_CASE("invalid macro-strings are rejected", "[spf][macro]") {
    const auto bad = GENERATE(as<std::string>{}, "%", "%(ir)", "foo%.bar", "%{", "%{d", "%{x}", "%{d0}", "%{d2x}",
                              "%{dr2}", "%{c}", "%{r}", "%{t}", "a b", "\x7f", "\xc3\xa9", "%{d}%");
    std::string err;
    CHECK(spf::validate_macro_string(bad, MacroContext::domain, &err) == MacroStatus::syntax_error);
    CHECK_FALSE(err.empty());
}

TEST_CASE("exp-only letters are fine in explanation text", "[spf][macro]") {
    for (const auto* s : {"%{c}", "%{r}", "%{t}", "%{C}", "Not allowed: %{i} %{s}"}) {
        CHECK(spf::validate_macro_string(s, MacroContext::explanation) == MacroStatus::ok);
    }
    CHECK(spf::validate_macro_string("%{x}", MacroContext::explanation) == MacroStatus::syntax_error);
}

TEST_CASE("expansion is bounded", "[spf][macro]") {
    auto env = rfc_env("192.0.2.3");
    const std::string long_local(64, 'x');
    env.local_part = long_local;
    // 200 upper-case %{S} (each ~80 octets, URL-escaped) would be 16 KB: refused, not produced.
    std::string bomb;
    for (int i = 0; i < 200; ++i) bomb += "%{S}";
    const auto r = spf::expand_macro_string(bomb, MacroContext::domain, env);
    CHECK(r.status == MacroStatus::too_long);
    CHECK(r.text.empty());
    // Oversized input is refused before any work.
    CHECK(spf::validate_macro_string(std::string(spf::max_macro_input + 1, 'a'), MacroContext::domain) ==
          MacroStatus::too_long);
    // Just under the output bound works.
    std::string fits;
    for (int i = 0; i < 50; ++i) fits += "%{l}";
    CHECK(spf::expand_macro_string(fits, MacroContext::domain, env).text.size() == 50 * 64);
}

TEST_CASE("§7.3 truncation of expanded domains", "[spf][macro]") {
    CHECK(spf::truncate_domain("example.com.") == "example.com");
    std::string name;
    for (int i = 0; i < 40; ++i) name += "label" + std::to_string(i) + ".";
    name += "example.com";
    const auto t = spf::truncate_domain(name);
    CHECK(t.size() <= 253);
    CHECK(name.size() > 253);
    CHECK(name.substr(name.size() - t.size()) == t);
    CHECK(t.front() != '.');
    CHECK(spf::truncate_domain(std::string(300, 'a')).empty());
}

TEST_CASE("random macro-strings expand within bounds or fail cleanly", "[spf][macro]") {
    auto env = rfc_env("2001:db8::cb01");
    const std::string local(64, 'q');
    env.local_part = local;
    static constexpr char alphabet[] = "%{}slodiphcrtvSLODIPHCRTV0123456789r.-+,/_=x ";
    std::uint32_t state = 777;
    const auto next = [&state] {
        state = state * 1664525U + 1013904223U;
        return state >> 10;
    };
    unsigned ok = 0;
    for (int round = 0; round < 20000; ++round) {
        std::string s;
        const std::size_t len = next() % 48;
        for (std::size_t i = 0; i < len; ++i) s += alphabet[next() % (sizeof alphabet - 1)];
        for (const auto ctx : {MacroContext::domain, MacroContext::explanation}) {
            const auto valid = spf::validate_macro_string(s, ctx);
            const auto r = spf::expand_macro_string(s, ctx, env);
            REQUIRE(r.status == valid);  // validation and expansion agree
            REQUIRE(r.text.size() <= spf::max_macro_output);
            if (r.status == MacroStatus::ok) {
                ++ok;
                REQUIRE(spf::truncate_domain(r.text).size() <= spf::max_domain_length);
            } else {
                REQUIRE(!r.error.empty());
            }
        }
    }
    CHECK(ok > 0);
}
