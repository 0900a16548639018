// tests/unit/table/prefilter_test.cpp - large pattern tables give the same first-match answers (value and
// rule line) with the Hyperscan prefilter as without it, also with if/endif, negation and odd patterns.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <random>
#include <vector>
#include <unistd.h>

#include "common/table/prefilter.hpp"
#include "common/table/table.hpp"

using namespace mailmoat::table;

namespace {

struct TempFile {
    std::string dir, path;
    explicit TempFile(const std::string& text) {
        char tmpl[] = "/tmp/mm-prefilter-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        dir = tmpl;
        path = dir + "/t";
        std::ofstream(path) << text;
    }
    ~TempFile() {
        std::remove(path.c_str());
        ::rmdir(dir.c_str());
    }
};

std::vector<std::string> used;  // words placed in rules, so that keys can contain them

std::string word(std::mt19937& rng, int len) {
    std::string w;
    for (int i = 0; i < len; ++i) w.push_back(static_cast<char>('a' + rng() % 12));
    return w;
}

}  // namespace

TEST_CASE("prefilter: same answers as trying every rule") {
    const bool with_if = GENERATE(false, true);
    const std::string type = GENERATE(std::string("pcre"), std::string("regexp"));
    std::mt19937 rng(with_if ? 7 : 11);
    std::string text;
    const char* forms[] = {"/%s/ R%d", "/^%s/ R%d", "/%s$/ R%d", "/%s.*%s/ R%d", "/(%s|%s)[0-9]+/ R%d $1",
                           "/%s/i R%d", "/\\b%s\\b/ R%d", "/%s\\s+%s/x R%d", "/(?=%s)/ R%d"};
    for (int i = 0; i < 600; ++i) {
        if (with_if && i % 50 == 10) text += "if /" + word(rng, 1) + "/\n";
        if (with_if && i % 50 == 30) text += "endif\n";
        if (with_if && i % 97 == 5) text += "!/" + word(rng, 3) + "/ NEG" + std::to_string(i) + "\n";
        std::string f = forms[rng() % (type == "pcre" ? 9 : 7)];
        std::string line;
        for (std::size_t k = 0; k < f.size(); ++k) {
            if (f[k] == '%' && f[k + 1] == 's') {
                used.push_back(word(rng, 3 + static_cast<int>(rng() % 3)));
                line += used.back();
                ++k;
            } else if (f[k] == '%' && f[k + 1] == 'd') {
                line += std::to_string(i);
                ++k;
            } else {
                line.push_back(f[k]);
            }
        }
        if (type == "regexp") {
            // POSIX: no \b in glibc ERE spelled this way is fine, (?=) is not POSIX (excluded above)
        }
        text += line + "\n";
    }
    TempFile t(text);
    Limits plain;
    plain.prefilter_min_rules = 1U << 30;
    Limits filtered;
    filtered.prefilter_min_rules = 1;
    auto a = open_table(type + ":" + t.path, plain);
    auto b = open_table(type + ":" + t.path, filtered);
    std::size_t hits = 0;
    for (int k = 0; k < 3000; ++k) {
        std::string key = word(rng, 2 + static_cast<int>(rng() % 30));
        if (k % 3 == 0) key += " " + word(rng, 4) + std::to_string(k);
        if (k % 5 == 0) key = "ABC" + key;
        if (k % 4 == 0) key.insert(rng() % key.size(), used[rng() % used.size()] + (k % 8 == 0 ? " 42" : ""));
        if (k % 7 == 0) for (char& ch : key) ch = static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
        const RuleLookup x = a->lookup_rule(key);
        const RuleLookup y = b->lookup_rule(key);
        CAPTURE(key);
        REQUIRE(x.lookup.status == y.lookup.status);
        REQUIRE(x.lookup.value == y.lookup.value);
        REQUIRE(x.line == y.line);
        hits += x.lookup.found();
    }
    CHECK(hits > 300);  // the keys really exercise the rules
    if (!with_if) CHECK(hits < 2700);  // (with if blocks, negated rules match most keys)
}

TEST_CASE("prefilter: available in this build, and patterns Hyperscan refuses are still tried") {
    CHECK(prefilter_available());
    // Backreferences and possessive quantifiers are outside Hyperscan's syntax: always candidates.
    std::string text;
    for (int i = 0; i < 40; ++i) text += "/filler" + std::to_string(i) + "x/ F\n";
    text += "/(ab)\\1/ BACKREF\n/c++d/ POSSESSIVE\n";
    TempFile t(text);
    Limits filtered;
    filtered.prefilter_min_rules = 1;
    auto tb = open_table("pcre:" + t.path, filtered);
    CHECK(tb->lookup("xxababyy").value == "BACKREF");
    CHECK(tb->lookup("cccd").value == "POSSESSIVE");
    CHECK_FALSE(tb->lookup("filler3").found());
    CHECK(tb->lookup("filler3x").value == "F");
}
