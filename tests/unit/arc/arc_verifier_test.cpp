// tests/unit/arc/arc_verifier_test.cpp - ARC chain validation (RFC 8617 §5.2) against the vectors that
// dkimpy sealed and judged (tests/data/arc, built by make_vectors.py), plus DNS failures, bounds and
// the Authentication-Results entry.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/arc/arc_verifier.hpp"
#include "tests/fakes/fake_resolver.hpp"

using namespace mailmoat;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string data(const std::string& name) { return std::string(MAILMOAT_TEST_DATA) + "/arc/" + name; }

struct Message {
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

Message split(const std::string& text) {
    Message m;
    std::size_t pos = 0;
    while (pos < text.size()) {
        if (text.compare(pos, 2, "\r\n") == 0) {
            pos += 2;
            break;
        }
        std::size_t end = pos;
        while (true) {
            const auto crlf = text.find("\r\n", end);
            if (crlf == std::string::npos) {
                end = text.size();
                break;
            }
            end = crlf + 2;
            if (end >= text.size() || (text[end] != ' ' && text[end] != '\t')) break;
        }
        std::string field = text.substr(pos, end - pos - (text.compare(end - 2, 2, "\r\n") == 0 ? 2 : 0));
        const auto colon = field.find(':');
        m.headers.emplace_back(field.substr(0, colon), colon == std::string::npos ? "" : field.substr(colon + 1));
        pos = end;
    }
    m.body = text.substr(std::min(pos, text.size()));
    return m;
}

arc::ArcResult verify(const Message& m, dns::Resolver& r, std::size_t chunk = 0, arc::VerifierConfig cfg = {}) {
    arc::Verifier v(r, cfg);
    for (const auto& [n, val] : m.headers) v.add_header(n, val);
    v.end_of_headers();
    if (chunk == 0) {
        v.add_body(m.body);
    } else {
        for (std::size_t p = 0; p < m.body.size(); p += chunk) v.add_body(std::string_view(m.body).substr(p, chunk));
    }
    return v.finish();
}

struct Expected {
    std::string name, dkimpy, expect, reason;
    unsigned oldest_pass = 0;
};

std::vector<Expected> expectations() {
    std::vector<Expected> out;
    std::istringstream in(slurp(data("expected.txt")));
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ls(line);
        Expected e;
        std::string word;
        ls >> e.name;
        while (ls >> word) {
            const auto eq = word.find('=');
            const std::string k = word.substr(0, eq), v = word.substr(eq + 1);
            if (k == "dkimpy") e.dkimpy = v;
            else if (k == "expect") e.expect = v;
            else if (k == "reason") e.reason = v;
            else if (k == "oldest_pass") e.oldest_pass = static_cast<unsigned>(std::stoul(v));
        }
        out.push_back(e);
    }
    return out;
}

test::FakeResolver keys() { return test::FakeResolver(slurp(data("keys.zone"))); }

Message vector_message(const std::string& name) { return split(slurp(data(name + ".eml"))); }

}  // namespace

TEST_CASE("ARC verdicts agree with dkimpy's arc_verify on every vector") {
    const auto all = expectations();
    REQUIRE(all.size() >= 20);
    for (const auto& e : all) {
        INFO("vector " << e.name);
        // The checked-in expectation itself must be consistent with dkimpy's verdict: dkimpy's None
        // ("terminated", a cv=fail seal) is RFC 8617's fail.
        const std::string dkimpy_status = e.dkimpy == "terminated" ? "fail" : e.dkimpy;
        REQUIRE(dkimpy_status == e.expect);
        auto dns = keys();
        const Message m = vector_message(e.name);
        for (const std::size_t chunk : {std::size_t{0}, std::size_t{7}}) {
            INFO("chunk " << chunk);
            const auto r = verify(m, dns, chunk);
            INFO("reason_text " << r.reason_text);
            CHECK(arc::chain_status_name(r.status) == e.expect);
            CHECK(arc::fail_reason_name(r.reason) == e.reason);
            CHECK(r.oldest_pass == e.oldest_pass);
        }
    }
}

// RFC 8617 §5.2 step 6 (a validator MAY compute oldest-pass): the AMSs from i=N-1 down are checked; the
// first that fails at instance M makes oldest-pass M+1 ("the lowest AMS instance number that passed");
// when all validate, oldest-pass is 0 - not 1, the lowest instance (which Exim reports instead). Checked
// here from each vector's own per-set AMS results, not from the numbers in expected.txt.
TEST_CASE("oldest-pass follows RFC 8617 section 5.2: 0 when every AMS validates, else the failing instance + 1") {
    unsigned all_pass = 0, with_failure = 0;
    for (const auto& e : expectations()) {
        auto dns = keys();
        const auto r = verify(vector_message(e.name), dns);
        if (r.status != arc::ChainStatus::pass) {
            CHECK(r.oldest_pass == 0);
            continue;
        }
        INFO("vector " << e.name);
        REQUIRE(r.sets.size() == r.instances);
        unsigned expected = 0;
        for (unsigned i = r.instances; i >= 1; --i) {
            if (r.sets[i - 1].ams != dkim::Result::pass) {
                expected = i + 1;
                break;
            }
        }
        CHECK(r.oldest_pass == expected);
        CHECK(r.oldest_pass != 1);  // never 1: a failure at M >= 1 gives M+1 >= 2, none gives 0
        ++(expected == 0 ? all_pass : with_failure);
        const auto text = arc::auth_result_text(r, "");
        CHECK(text == "arc=pass header.oldest-pass=" + std::to_string(expected));
    }
    CHECK(all_pass >= 3);      // chain1, chain2, chain3, chain50
    CHECK(with_failure >= 2);  // list footers
}

TEST_CASE("a passing chain reports sealers, per-set results and instances in order") {
    auto dns = keys();
    const auto r = verify(vector_message("chain3"), dns);
    REQUIRE(r.status == arc::ChainStatus::pass);
    CHECK(r.instances == 3);
    CHECK(r.sealers == std::vector<std::string>{"hop1.example", "hop2.example", "hop3.example"});
    REQUIRE(r.sets.size() == 3);
    for (unsigned i = 0; i < 3; ++i) {
        CHECK(r.sets[i].instance == i + 1);
        CHECK(r.sets[i].ams == dkim::Result::pass);
        CHECK(r.sets[i].seal == dkim::Result::pass);
        CHECK(r.sets[i].ams_domain == "hop" + std::to_string(i + 1) + ".example");
        CHECK(r.sets[i].aar_value.find("i=" + std::to_string(i + 1) + ";") != std::string::npos);
        // What hop i+1 recorded, as the DMARC override reads it from a trusted sealer's set.
        const auto aar = arc::parse_aar(r.sets[i].aar_value);
        REQUIRE(aar.status == mail::ParsedAuthResults::Status::ok);
        CHECK(aar.value.authserv_id == "relay" + std::to_string(i + 1) + ".hop" + std::to_string(i + 1) + ".example");
        CHECK(aar.value.results.at(0).method == "spf");
        CHECK(aar.value.results.back().method == (i == 0 ? "spf" : "arc"));
    }
    CHECK(r.sets[0].cv == arc::Cv::none);
    CHECK(r.sets[1].cv == arc::Cv::pass);
    // One query per distinct key, however many fields use it.
    CHECK(dns.total_queries() == 3);
    CHECK(dns.queries("arc._domainkey.hop2.example", dns::RrType::txt) == 1);
}

TEST_CASE("the 50-set chain passes with one key lookup") {
    auto dns = keys();
    const auto r = verify(vector_message("chain50"), dns);
    CHECK(r.status == arc::ChainStatus::pass);
    CHECK(r.instances == 50);
    CHECK(r.sealers.size() == 50);
    CHECK(dns.total_queries() == 1);
}

TEST_CASE("a mailing-list footer at hop 2 keeps the chain and gives oldest-pass 2") {
    auto dns = keys();
    const auto l = verify(vector_message("list_footer_at_hop2"), dns);
    REQUIRE(l.status == arc::ChainStatus::pass);
    CHECK(l.oldest_pass == 2);
    CHECK(l.sets[0].ams == dkim::Result::fail);
    CHECK(l.sets[0].ams_reason == "body hash mismatch");
    CHECK(l.sets[1].ams == dkim::Result::pass);
}

TEST_CASE("oldest-pass search can be turned off") {
    auto dns = keys();
    arc::VerifierConfig cfg;
    cfg.find_oldest_pass = false;
    const auto r = verify(vector_message("chain3"), dns, 0, cfg);
    CHECK(r.status == arc::ChainStatus::pass);
    CHECK(r.oldest_pass == 3);
    CHECK(r.sets[0].ams == dkim::Result::neutral);
}

TEST_CASE("failures name their reason and do not verify more than needed") {
    auto dns = keys();
    const auto missing = verify(vector_message("missing_i2"), dns);
    CHECK(missing.status == arc::ChainStatus::fail);
    CHECK(missing.reason_text == "no ARC set with i=2, the highest is i=3");
    CHECK(missing.sets.empty());
    CHECK(dns.total_queries() == 0);  // structure failures cost no DNS
    const auto cv = verify(vector_message("cv_fail_in_chain"), dns);
    CHECK(cv.reason == arc::FailReason::cv_fail);
    CHECK(cv.sealers == std::vector<std::string>{"hop1.example", "hop2.example", "hop3.example"});
    CHECK(dns.total_queries() == 0);
    const auto seal = verify(vector_message("seal3_b_altered"), dns);
    CHECK(seal.reason_text == "ARC-Seal i=3: seal did not verify");
    CHECK(seal.sets[2].seal == dkim::Result::fail);
    CHECK(seal.sets[0].seal == dkim::Result::neutral);  // older seals not evaluated after a failure
}

TEST_CASE("DNS: a temporary failure gives temperror, a definite failure still wins, no key is fail") {
    SECTION("seal key lookup tempfails") {
        auto dns = keys();
        dns.add("arc._domainkey.hop2.example TEMPFAIL SERVFAIL");
        const auto r = verify(vector_message("chain2"), dns);
        CHECK(r.status == arc::ChainStatus::temperror);
        CHECK(r.reason == arc::FailReason::dns_temperror);
        CHECK(r.reason_text.find("SERVFAIL") != std::string::npos);
        CHECK(arc::auth_result_text(r, "") == "arc=temperror (ARC-Message-Signature i=2: key lookup failed: SERVFAIL)");
    }
    SECTION("tempfail on an old key but the newest seal is broken") {
        auto dns = keys();
        dns.add("arc._domainkey.hop1.example TEMPFAIL timeout");
        const auto r = verify(vector_message("seal3_b_altered"), dns);
        CHECK(r.status == arc::ChainStatus::fail);
        CHECK(r.reason == arc::FailReason::seal_fail);
    }
    SECTION("no key record") {
        test::FakeResolver dns;
        const auto r = verify(vector_message("chain1"), dns);
        CHECK(r.status == arc::ChainStatus::fail);
        CHECK(r.reason == arc::FailReason::ams_fail);
        CHECK(r.sets[0].ams == dkim::Result::permerror);
    }
    SECTION("revoked key") {
        test::FakeResolver dns("arc._domainkey.hop1.example TXT \"v=DKIM1; k=rsa; p=\"");
        const auto r = verify(vector_message("chain1"), dns);
        CHECK(r.status == arc::ChainStatus::fail);
        CHECK(r.sets[0].seal_reason == "key revoked, empty p=");
    }
}

TEST_CASE("bounds: long fields, too many ARC fields, too many header fields") {
    auto dns = keys();
    SECTION("an ARC field over max_field_bytes") {
        Message m = vector_message("chain1");
        m.headers.insert(m.headers.begin(), {"ARC-Authentication-Results", " i=2; x; " + std::string(20000, 'a')});
        const auto r = verify(m, dns);
        CHECK(r.reason == arc::FailReason::field_too_long);
    }
    SECTION("151 ARC fields") {
        Message m = vector_message("chain1");
        for (int i = 0; i < 151; ++i) m.headers.insert(m.headers.begin(), {"ARC-Authentication-Results", " i=1; x; none"});
        const auto r = verify(m, dns);
        CHECK(r.reason == arc::FailReason::too_many_sets);
    }
    SECTION("more header fields than kept") {
        Message m = vector_message("chain2");
        arc::VerifierConfig cfg;
        cfg.max_headers = 5;
        const auto r = verify(m, dns, 0, cfg);
        CHECK(r.status == arc::ChainStatus::fail);
        CHECK(r.reason == arc::FailReason::header_limits);
    }
    SECTION("an ARC field without instance") {
        Message m = vector_message("chain1");
        m.headers.insert(m.headers.begin(), {"ARC-Seal", " a=rsa-sha256; cv=none; d=x.example; s=s; b=abcd"});
        CHECK(verify(m, dns).reason == arc::FailReason::bad_instance);
    }
}

TEST_CASE("the Authentication-Results entry uses the RFC 8601 registry names") {
    auto dns = keys();
    const auto pass = verify(vector_message("list_footer_at_hop2"), dns);
    CHECK(arc::auth_result_text(pass, "192.0.2.1") == "arc=pass header.oldest-pass=2 smtp.remote-ip=192.0.2.1");
    const auto all = verify(vector_message("chain2"), dns);
    // An IPv6 address is not an RFC 2045 token, so it is quoted.
    CHECK(arc::auth_result_text(all, "2001:db8::1") == "arc=pass header.oldest-pass=0 smtp.remote-ip=\"2001:db8::1\"");
    const auto none = verify(vector_message("unsigned"), dns);
    CHECK(arc::auth_result_text(none, "192.0.2.1") == "arc=none smtp.remote-ip=192.0.2.1");
    const auto fail = verify(vector_message("missing_ams2"), dns);
    CHECK(arc::auth_result_text(fail, "") == "arc=fail (ARC set i=2 has no ARC-Message-Signature)");
    const auto a = arc::auth_result(pass, "192.0.2.1");
    CHECK(a.method == "arc");
    CHECK(a.result == "pass");
    REQUIRE(a.properties.size() == 2);
    CHECK(a.properties[0].ptype == "header");
    CHECK(a.properties[0].property == "oldest-pass");
}

TEST_CASE("finish twice and a body without headers are harmless") {
    auto dns = keys();
    arc::Verifier v(dns);
    v.add_body("body\r\n");
    CHECK(v.finish().status == arc::ChainStatus::none);
    CHECK(v.finish().status == arc::ChainStatus::none);
    CHECK_FALSE(v.needs_body());
}
