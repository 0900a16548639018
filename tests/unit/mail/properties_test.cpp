// tests/unit/mail/properties_test.cpp - random inputs: parsers never crash, and their outputs round-trip.
#include <catch2/catch.hpp>

#include <random>

#include "common/mail/address.hpp"
#include "common/mail/auth_results.hpp"
#include "common/mail/header.hpp"

namespace {

/// Random text over an alphabet rich in the characters the parsers treat specially.
std::string random_text(std::mt19937& rng, std::size_t max_len) {
    static const std::string alphabet =
        "abcXYZ019 .@<>,;:\"\\()[]=?_-+/\t\r\n!#$%&'*^`{|}~\x80\xc3\xa9\xff=?utf-8?q?B?";
    std::uniform_int_distribution<std::size_t> len(0, max_len);
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    std::string out(len(rng), ' ');
    for (char& c : out) c = alphabet[pick(rng)];
    return out;
}

/// A random Authentication-Results value: valid structure with random CFWS, values that need quoting,
/// and now and then a broken piece, so that both the round trip and the error paths are exercised.
std::string random_ar(std::mt19937& rng) {
    auto one_of = [&](const std::vector<std::string>& v) {
        return v[std::uniform_int_distribution<std::size_t>(0, v.size() - 1)(rng)];
    };
    auto chance = [&](int percent) { return std::uniform_int_distribution<int>(0, 99)(rng) < percent; };
    auto cfws = [&]() { return one_of({"", " ", "  ", "\r\n\t", " (c) ", "(nested (deep) c)", " (q \\) x) "}); };
    std::string out = one_of({"mx.example.org", "\"quoted id\"", "MX.Example.ORG"});
    if (chance(30)) out += " " + cfws() + "1";
    const int n = std::uniform_int_distribution<int>(0, 4)(rng);
    if (n == 0) return out + cfws() + ";" + cfws() + "none" + cfws();
    for (int i = 0; i < n; ++i) {
        out += cfws() + ";" + cfws() + one_of({"spf", "dkim", "DMARC", "x-local", "iprev", "auth"});
        if (chance(20)) out += cfws() + "/" + cfws() + "1";
        out += cfws() + "=" + cfws() + one_of({"pass", "fail", "none", "TempError", "neutral"});
        if (chance(40)) out += " (" + one_of({"good", "2048-bit key; secure", "a \\( b"}) + ")";
        if (chance(30)) out += " reason" + cfws() + "=" + cfws() + one_of({"tok", "\"two words\"", "\"q \\\" q\""});
        const int props = std::uniform_int_distribution<int>(0, 3)(rng);
        for (int k = 0; k < props; ++k)
            out += " " + one_of({"smtp", "header", "policy", "body"}) + cfws() + "." + cfws() +
                   one_of({"mailfrom", "d", "i", "from", "b"}) + cfws() + "=" + cfws() +
                   one_of({"a@b.c", "@x.y", "example.com", "\"v w\"", "dGVzdA==", "\"x y\"@z.org"});
        if (chance(5)) out += one_of({"=", "\"", "(", ".", "@@"});
    }
    return out + cfws();
}

}  // namespace

TEST_CASE("random input never breaks the parsers", "[mail][properties]") {
    std::mt19937 rng(20261130);
    for (int i = 0; i < 3000; ++i) {
        const std::string t = random_text(rng, 120);
        auto h = mailmoat::mail::parse_header_block(t);
        CHECK(h.body_offset <= t.size());
        auto a = mailmoat::mail::parse_address_list(t);
        if (a.status == mailmoat::mail::AddressList::Status::invalid) CHECK_FALSE(a.error.empty());
        for (const auto& m : a.mailboxes) CHECK_FALSE(m.domain.empty());
        (void)mailmoat::mail::decode_encoded_words(t);
        (void)mailmoat::mail::envelope_domain(t);
        auto r = mailmoat::mail::parse_auth_results(t);
        if (r.status == mailmoat::mail::ParsedAuthResults::Status::invalid) CHECK(r.value.authserv_id.empty());
    }
}

TEST_CASE("any Authentication-Results that parses survives build and parse again", "[mail][properties]") {
    std::mt19937 rng(8601);
    int parsed_ok = 0;
    for (int i = 0; i < 3000; ++i) {
        const std::string v = random_ar(rng);
        auto first = mailmoat::mail::parse_auth_results(v);
        if (first.status != mailmoat::mail::ParsedAuthResults::Status::ok) continue;
        ++parsed_ok;
        const std::string field = mailmoat::mail::auth_results_field(first.value, 50);
        auto second = mailmoat::mail::parse_auth_results(field.substr(field.find(':') + 1));
        CAPTURE(v, field);
        REQUIRE(second.status == mailmoat::mail::ParsedAuthResults::Status::ok);
        CHECK(second.value == first.value);
    }
    CHECK(parsed_ok > 100);  // the generator must exercise the round trip, not just the error paths
}

TEST_CASE("fold_header output unfolds to the input", "[mail][properties]") {
    std::mt19937 rng(5322);
    static const std::string alphabet = "abcdefgh  \t\"()\\;=.@";
    std::uniform_int_distribution<std::size_t> len(0, 400);
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    for (int i = 0; i < 2000; ++i) {
        std::string v(len(rng), ' ');
        for (char& c : v) c = alphabet[pick(rng)];
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(0, 1);
        while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
        const std::string folded = mailmoat::mail::fold_header("X-Test", v);
        mailmoat::mail::HeaderField f{"X-Test", folded.substr(7), 1};
        CAPTURE(v, folded);
        CHECK(f.unfolded() == v);
        auto block = mailmoat::mail::parse_header_block(folded + "\r\n\r\n");
        REQUIRE(block.fields.size() == 1);
        CHECK(block.fields[0].unfolded() == v);
    }
}
