// tests/unit/dkim/signer_test.cpp - Signer: h= list with oversigning, tags, configuration errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "common/dkim/signature.hpp"
#include "common/dkim/signer.hpp"
#include "unit/dkim/dkim_test_support.hpp"

using namespace mailmoat::dkim;
using mailmoat::crypto::KeyType;
using mailmoat::crypto::SigningKey;
using dkimtest::FakeClock;

namespace {
constexpr std::int64_t now_ts = 1767225600;
SignerConfig config(Canon h, Canon b) {
    SignerConfig c;
    c.domain = "example.org";
    c.selector = "sel";
    c.header_canon = h;
    c.body_canon = b;
    return c;
}
std::shared_ptr<const SigningKey> key_of(KeyType t, unsigned bits) {
    static auto ed = SigningKey::generate(KeyType::ed25519);
    (void)t;
    (void)bits;
    return ed;
}
}  // namespace

TEST_CASE("h= lists each signed field as often as it occurs, oversigned ones once more", "[dkim][sign]") {
    FakeClock clock(now_ts);
    SignerConfig cfg = config(Canon::relaxed, Canon::simple);
    cfg.sign_headers = {"Subject", "X-Custom", "Date"};
    cfg.oversign_headers = {"subject", "To"};
    cfg.expire_after = std::chrono::seconds(86400);
    cfg.identity = "news@lists.example.org";
    Signer s(cfg, key_of(KeyType::ed25519, 256), clock);
    s.add_header("Received", " from a by b");
    s.add_header("Subject", " one");
    s.add_header("x-custom", " yes");
    s.add_header("SUBJECT", " two");
    s.add_header("From", " a@example.org");
    // From is always signed; Date is absent and not oversigned; To is absent but oversigned.
    CHECK(s.signed_header_list() ==
          std::vector<std::string>{"from", "subject", "subject", "subject", "x-custom", "to"});
    s.add_body("body\r\n");
    const auto r = s.finish();
    REQUIRE(r.status == SignStatus::ok);
    CHECK(r.header_name == "DKIM-Signature");
    CHECK(r.value.rfind(" v=1; a=ed25519-sha256; c=relaxed/simple; d=example.org; s=sel;", 0) == 0);
    const auto p = parse_signature(r.value);
    REQUIRE(p.status == SignatureStatus::ok);
    CHECK(p.signature.timestamp == now_ts);
    CHECK(p.signature.expiration == now_ts + 86400);
    CHECK(p.signature.identity == "news@lists.example.org");
    CHECK_FALSE(p.signature.body_length);
    CHECK(p.signature.signature.size() == 64);
}

TEST_CASE("no t= when disabled; the default lists follow RFC 6376 §5.4.1", "[dkim][sign]") {
    FakeClock clock(now_ts);
    SignerConfig cfg = config(Canon::simple, Canon::simple);
    cfg.timestamp = false;
    Signer s(cfg, key_of(KeyType::ed25519, 256), clock);
    s.add_header("From", " a@example.org");
    const auto r = s.finish();
    REQUIRE(r.status == SignStatus::ok);
    const auto p = parse_signature(r.value);
    REQUIRE(p.status == SignatureStatus::ok);
    CHECK_FALSE(p.signature.timestamp);
    const auto& d = default_sign_headers();
    for (const char* h : {"from", "reply-to", "subject", "date", "to", "cc", "resent-date", "resent-from", "resent-to",
                          "resent-cc", "in-reply-to", "references", "list-id", "list-help", "list-unsubscribe",
                          "list-subscribe", "list-post", "list-owner", "list-archive"})
        CHECK(std::find(d.begin(), d.end(), h) != d.end());
    const auto& o = default_oversign_headers();
    for (const char* h : {"from", "to", "subject", "date"}) CHECK(std::find(o.begin(), o.end(), h) != o.end());
}

TEST_CASE("signer refuses bad configuration and excess signed headers", "[dkim][sign]") {
    const auto ed = key_of(KeyType::ed25519, 256);
    FakeClock clock(now_ts);
    SignerConfig cfg = config(Canon::relaxed, Canon::relaxed);
    cfg.identity = "joe@example.com";  // not within example.org
    Signer s(cfg, ed, clock);
    s.add_header("From", " joe@example.org");
    auto r = s.finish();
    CHECK(r.status == SignStatus::bad_config);
    cfg = config(Canon::relaxed, Canon::relaxed);
    cfg.domain = "bad domain";
    Signer s2(cfg, ed, clock);
    CHECK(s2.finish().status == SignStatus::bad_config);
    cfg = config(Canon::relaxed, Canon::relaxed);
    cfg.max_signed_instances = 3;
    Signer s3(cfg, ed, clock);
    for (int i = 0; i < 4; ++i) s3.add_header("To", " x@example.net");
    s3.add_header("Received", " ignored, not signed");
    CHECK(s3.finish().status == SignStatus::too_many_headers);
}
