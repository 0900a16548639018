// tests/unit/dmarcd/dmarc_session_test.cpp - mailmoat-dmarc session: From rules, header inputs, disposition, overrides, A-R, records.
#include <catch2/catch.hpp>

#include <map>
#include <mutex>

#include "common/mail/auth_results.hpp"
#include "fakes/fake_clock.hpp"
#include "fakes/fake_resolver.hpp"
#include "milters/dmarc/dmarc_session.hpp"

using namespace mailmoat;

namespace {

class FakeContext : public milter::Context {
public:
    std::map<std::string, std::string> macros{{"i", "QID1"}};
    struct Op {
        std::string what;
        int index;
        std::string name;
        std::string value;
    };
    std::vector<Op> ops;
    std::string reply;
    std::string quarantined;

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
    milter::Outcome quarantine(std::string_view reason) override {
        quarantined = std::string(reason);
        return milter::Outcome::ok;
    }
    milter::Outcome replace_body_chunk(std::string_view) override { return milter::Outcome::invalid; }

    /// The Authentication-Results value inserted, unfolded (RFC 5322 §2.2.3).
    [[nodiscard]] std::string inserted_ar() const {
        for (const auto& o : ops) {
            if (o.what != "insert" || o.name != "Authentication-Results") continue;
            std::string out;
            for (char c : o.value)
                if (c != '\n') out.push_back(c);
            return out;
        }
        return {};
    }
};

class MemoryStore : public store::DmarcStore {
public:
    std::vector<dmarc::ReportRecord> rows;
    bool fail = false;
    store::RecordResult add(const dmarc::ReportRecord& r) override {
        if (fail) return {store::Status::tempfail, "disk full"};
        rows.push_back(r);
        return {};
    }
    store::RecordsResult records(const std::string&, std::int64_t, std::int64_t, std::size_t) override { return {}; }
    std::string describe() const override { return "memory:"; }
};

dmarc::Evaluation eval(dmarc::Result r, const std::string& p, dmarc::Disposition d, bool testing = false) {
    dmarc::Evaluation e;
    e.result = r;
    e.disposition = d;
    e.testing = testing;
    e.applied_policy = "p";
    e.lookup.status = p.empty() ? dmarc::Result::none : dmarc::Result::pass;
    e.lookup.policy.p = p.empty() ? "none" : p;
    e.lookup.applied_policy = "p";
    e.lookup.effective_policy = p;
    if (r == dmarc::Result::fail) e.reason = "SPF not aligned; no aligned DKIM pass";
    return e;
}

struct Fixture {
    dmarcd::Settings settings;
    std::shared_ptr<test::FakeResolver> resolver = std::make_shared<test::FakeResolver>();
    std::shared_ptr<MemoryStore> store = std::make_shared<MemoryStore>();
    std::map<std::string, dmarc::Evaluation> answers;  // by from_domain
    std::vector<dmarc::Inputs> seen;
    std::shared_ptr<dmarcd::Runtime> rt;
    FakeContext ctx;
    std::unique_ptr<dmarcd::DmarcSession> session;
    std::shared_ptr<const table::Table> overrides;
    dmarcd::ArcVerdict arc;

    Fixture() {
        settings.authserv_id = "mx.example.net";
        settings.trusted_authserv_ids = {"mx.example.net"};
        settings.store = "sqlite:/unused";
        // SPF self: sender.example publishes -all for everyone but 192.0.2.1.
        resolver->add("sender.example TXT \"v=spf1 ip4:192.0.2.1 -all\"\n");
    }

    void start(const std::string& ip = "192.0.2.1") {
        rt = std::make_shared<dmarcd::Runtime>();
        rt->settings = std::make_shared<const dmarcd::Settings>(settings);
        rt->resolver = resolver;
        rt->clock = std::make_shared<test::FakeClock>(std::chrono::system_clock::time_point(std::chrono::seconds(1764547200)));
        rt->store = store;
        rt->overrides = overrides;
        rt->sample = [] { return 0U; };
        rt->engine.evaluate = [this](const dmarc::Inputs& in, dns::Resolver&, const dmarc::Options&, unsigned) {
            seen.push_back(in);
            auto it = answers.find(in.from_domain);
            return it == answers.end() ? eval(dmarc::Result::none, "", dmarc::Disposition::none) : it->second;
        };
        rt->engine.fill_record = [](const dmarc::Evaluation& e, dmarc::ReportRecord& r) {
            r.dmarc_result = dmarc::result_name(e.result);
            r.policy = e.lookup.policy;
        };
        rt->arc = [this](const std::vector<mail::HeaderField>&) { return arc; };
        session = std::make_unique<dmarcd::DmarcSession>(rt);
        session->attach(&ctx);
        milter::ConnectInfo ci;
        ci.family = milter::ConnectInfo::Family::inet;
        ci.address = util::IpAddress::parse(ip);
        ci.host_name = "relay.lists.example";
        REQUIRE(session->on_connect(ci) == milter::Status::continue_);
        REQUIRE(session->on_helo("relay.lists.example") == milter::Status::continue_);
    }

    milter::Status message(const std::vector<std::pair<std::string, std::string>>& headers, const std::string& from = "<a@sender.example>") {
        std::vector<std::string_view> args{from};
        REQUIRE(session->on_envfrom(args) == milter::Status::continue_);
        std::vector<std::string_view> rcpt{"<u@rcpt.example>"};
        REQUIRE(session->on_envrcpt(rcpt) == milter::Status::continue_);
        for (const auto& [n, v] : headers) REQUIRE(session->on_header(n, v) == milter::Status::continue_);
        REQUIRE(session->on_eoh() == milter::Status::continue_);
        REQUIRE(session->on_body("hello\r\n") == milter::Status::continue_);
        milter::Modifier m(ctx);
        const auto st = session->on_eom(m);
        session->reset();
        return st;
    }
};

}  // namespace

TEST_CASE("dmarcd author_domains: one From with one address, or which rule applies", "[dmarcd]") {
    using S = dmarcd::Authors::Status;
    auto one = dmarcd::author_domains({"Alice <alice@Example.COM>"}, 1);
    CHECK(one.status == S::one);
    CHECK(one.domains == std::vector<std::string>{"example.com"});
    CHECK(dmarcd::author_domains({}, 0).status == S::absent);
    auto two_fields = dmarcd::author_domains({"a@x.example", "b@y.example"}, 2);
    CHECK(two_fields.status == S::several);
    CHECK(two_fields.domains == std::vector<std::string>{"x.example", "y.example"});
    CHECK(two_fields.why == "2 From fields");
    auto two_addrs = dmarcd::author_domains({"a@x.example, b@x.example"}, 1);
    CHECK(two_addrs.status == S::several);
    CHECK(two_addrs.domains == std::vector<std::string>{"x.example"});
    // 50 From fields, only 10 kept: still "several" with the count of fields seen.
    std::vector<std::string> many(10, "a@x.example");
    auto fifty = dmarcd::author_domains(many, 50);
    CHECK(fifty.status == S::several);
    CHECK(fifty.why == "50 From fields");
    CHECK(dmarcd::author_domains({"not an address"}, 1).status == S::unparseable);
    CHECK(dmarcd::author_domains({"a@[192.0.2.1]"}, 1).status == S::unparseable);
    auto empty_group = dmarcd::author_domains({"undisclosed:;"}, 1);
    CHECK(empty_group.status == S::absent);
    CHECK(empty_group.group);
    auto group = dmarcd::author_domains({"team: a@x.example;"}, 1);
    CHECK(group.status == S::one);
    CHECK(group.group);
    // Encoded words in the display name and an IDN domain.
    auto idn = dmarcd::author_domains({"=?utf-8?q?J=C3=B6rg?= <j@bücher.example>"}, 1);
    CHECK(idn.status == S::one);
    CHECK(idn.domains == std::vector<std::string>{"xn--bcher-kva.example"});
}

TEST_CASE("dmarcd Received-SPF parsing", "[dmarcd]") {
    auto r = dmarcd::parse_received_spf(" Pass (mx.example.net: domain of a@s.example designates 192.0.2.1 as permitted sender) "
                                        "identity=mailfrom; client-ip=192.0.2.1; helo=h.example; envelope-from=\"a@s.example\"; "
                                        "receiver=MX.example.net;");
    CHECK(r.result == "pass");
    CHECK(r.identity == "mailfrom");
    CHECK(r.envelope_from == "a@s.example");
    CHECK(r.helo == "h.example");
    CHECK(r.receiver == "mx.example.net");
    CHECK(dmarcd::parse_received_spf("bogus (x) identity=mailfrom").result.empty());
    CHECK(dmarcd::parse_received_spf("").result.empty());
    CHECK(dmarcd::parse_received_spf("fail (((unbalanced").result == "fail");
}

TEST_CASE("dmarcd inputs_from_headers: only trusted ids, only the MAIL FROM identity", "[dmarcd]") {
    auto field = [](const std::string& v) {
        mail::HeaderField f;
        f.name = "Authentication-Results";
        f.raw_value = " " + v;
        return f;
    };
    std::vector<mail::HeaderField> ar{
        field("mx.example.net; dkim=pass header.d=sender.example header.s=sel; spf=pass smtp.mailfrom=a@sender.example"),
        field("evil.example; dkim=pass header.d=victim.example header.s=x; spf=pass smtp.mailfrom=a@victim.example"),
    };
    auto in = dmarcd::inputs_from_headers(ar, {}, {"mx.example.net"}, "sender.example");
    REQUIRE(in.dkim.size() == 1);
    CHECK(in.dkim[0].domain == "sender.example");
    CHECK(in.dkim[0].selector == "sel");
    CHECK(in.dkim[0].result == "pass");
    REQUIRE(in.spf);
    CHECK(in.spf->result == "pass");
    CHECK(in.spf->domain == "sender.example");
    // A HELO-scope pass never stands in for the MAIL FROM identity (CVE-2019-20790).
    auto helo = dmarcd::inputs_from_headers({field("mx.example.net; spf=pass smtp.helo=sender.example")}, {}, {"mx.example.net"}, "sender.example");
    CHECK_FALSE(helo.spf);
    // A result for another MAIL FROM domain is not this message's.
    CHECK_FALSE(dmarcd::inputs_from_headers(ar, {}, {"mx.example.net"}, "other.example").spf);
    // Received-SPF: only with a trusted receiver, topmost only, identity mailfrom only.
    const std::vector<std::string> rspf{"pass (x) identity=mailfrom; envelope-from=a@sender.example; receiver=mx.example.net;"};
    auto r = dmarcd::inputs_from_headers({}, rspf, {"mx.example.net"}, "sender.example");
    REQUIRE(r.spf);
    CHECK(r.spf->result == "pass");
    CHECK_FALSE(dmarcd::inputs_from_headers({}, rspf, {"other.example"}, "sender.example").spf);
    CHECK_FALSE(dmarcd::inputs_from_headers({}, {"pass identity=helo; helo=sender.example; receiver=mx.example.net;"},
                                            {"mx.example.net"}, "sender.example").spf);
}

TEST_CASE("dmarcd session: pass is accepted with dmarc=pass in Authentication-Results and recorded", "[dmarcd]") {
    Fixture f;
    f.answers["sender.example"] = eval(dmarc::Result::pass, "reject", dmarc::Disposition::none);
    f.start();
    CHECK(f.message({{"From", "A <a@sender.example>"}, {"Subject", "x"}}) == milter::Status::continue_);
    const auto ar = f.ctx.inserted_ar();
    CHECK_THAT(ar, Catch::StartsWith("mx.example.net;"));
    CHECK_THAT(ar, Catch::Contains("dmarc=pass (p=reject dis=none) header.from=sender.example policy.dmarc=reject"));
    CHECK_THAT(ar, Catch::Contains("spf=pass smtp.mailfrom=a@sender.example"));
    CHECK_THAT(ar, Catch::Contains("dkim=none"));
    REQUIRE(f.seen.size() == 1);
    CHECK(f.seen[0].spf_result == "pass");  // computed by SPF itself from the connection data
    CHECK(f.seen[0].mail_from_domain == "sender.example");
    REQUIRE(f.store->rows.size() == 1);
    const auto& row = f.store->rows[0];
    CHECK(row.source_ip == "192.0.2.1");
    CHECK(row.header_from == "sender.example");
    CHECK(row.envelope_from == "sender.example");
    CHECK(row.envelope_to == "rcpt.example");
    CHECK(row.disposition == "none");
    CHECK(row.time == 1764547200);
    REQUIRE(row.spf.size() == 1);
    CHECK(row.spf[0].scope == "mfrom");
    CHECK(row.spf[0].result == "pass");
}

TEST_CASE("dmarcd session: with store-write background the records go through the writer", "[dmarcd]") {
    Fixture f;
    f.answers["sender.example"] = eval(dmarc::Result::pass, "reject", dmarc::Disposition::none);
    f.answers["victim.example"] = eval(dmarc::Result::fail, "reject", dmarc::Disposition::reject);
    f.start();
    auto failures = std::make_shared<std::atomic<std::uint64_t>>(0);
    auto writer = std::make_shared<dmarcd::RecordWriter>(f.store, failures);
    f.rt->writer = writer;
    CHECK(f.message({{"From", "A <a@sender.example>"}}) == milter::Status::continue_);
    CHECK(f.message({{"From", "CEO <ceo@victim.example>"}}) == milter::Status::reject);
    f.rt->writer.reset();
    f.session.reset();
    writer.reset();  // the last owner: writes what is queued and stops
    REQUIRE(f.store->rows.size() == 2);
    CHECK(f.store->rows[0].header_from == "sender.example");
    CHECK(f.store->rows[1].header_from == "victim.example");
    CHECK(f.store->rows[1].disposition == "reject");
    CHECK(failures->load() == 0);
}

TEST_CASE("dmarcd session: p=reject failure is rejected 550 5.7.1 naming the domain, and recorded", "[dmarcd]") {
    Fixture f;
    f.answers["victim.example"] = eval(dmarc::Result::fail, "reject", dmarc::Disposition::reject);
    f.start("198.51.100.7");
    CHECK(f.message({{"From", "CEO <ceo@victim.example>"}}) == milter::Status::reject);
    CHECK_THAT(f.ctx.reply, Catch::StartsWith("550 5.7.1 "));
    CHECK_THAT(f.ctx.reply, Catch::Contains("victim.example"));
    REQUIRE(f.store->rows.size() == 1);
    CHECK(f.store->rows[0].disposition == "reject");
    CHECK(f.seen[0].spf_result == "fail");
}

TEST_CASE("dmarcd session: quarantine holds, or adds a header; t=y steps down", "[dmarcd]") {
    Fixture f;
    f.answers["q.example"] = eval(dmarc::Result::fail, "quarantine", dmarc::Disposition::quarantine);
    // t=y: the engine gives the next less strict disposition; the session applies it as it is.
    f.answers["t.example"] = eval(dmarc::Result::fail, "reject", dmarc::Disposition::quarantine, true);
    SECTION("hold") {
        f.start();
        CHECK(f.message({{"From", "q@q.example"}}) == milter::Status::continue_);
        CHECK_THAT(f.ctx.quarantined, Catch::Contains("q.example"));
        CHECK_THAT(f.ctx.inserted_ar(), Catch::Contains("dmarc=fail (p=quarantine dis=quarantine; SPF not aligned"));
        CHECK(f.store->rows.at(0).disposition == "quarantine");
    }
    SECTION("header") {
        f.settings.quarantine_action = dmarcd::QuarantineAction::header;
        f.start();
        CHECK(f.message({{"From", "q@q.example"}}) == milter::Status::continue_);
        CHECK(f.ctx.quarantined.empty());
        REQUIRE(std::any_of(f.ctx.ops.begin(), f.ctx.ops.end(), [](const FakeContext::Op& o) {
            return o.what == "add" && o.name == "X-Mailmoat-DMARC-Quarantine";
        }));
    }
    SECTION("t=y: the lowered disposition is applied once, not lowered again") {
        f.start();
        CHECK(f.message({{"From", "x@t.example"}}) == milter::Status::continue_);
        CHECK_FALSE(f.ctx.quarantined.empty());
        CHECK(f.store->rows.at(0).disposition == "quarantine");
    }
    SECTION("not enforced: reported only, recorded as local_policy") {
        f.settings.enforce_quarantine = false;
        f.start();
        CHECK(f.message({{"From", "q@q.example"}}) == milter::Status::continue_);
        CHECK(f.ctx.quarantined.empty());
        const auto& row = f.store->rows.at(0);
        CHECK(row.disposition == "none");
        REQUIRE(row.overrides.size() == 1);
        CHECK(row.overrides[0].type == "local_policy");
    }
}

TEST_CASE("dmarcd session: override table by client network or domain", "[dmarcd]") {
    Fixture f;
    f.answers["victim.example"] = eval(dmarc::Result::fail, "reject", dmarc::Disposition::reject);
    SECTION("client network") {
        f.overrides = table::open_table("cidr:{ {198.51.100.0/24 mailing_list lists.example relays} }");
        f.start("198.51.100.7");
        CHECK(f.message({{"From", "ceo@victim.example"}}) == milter::Status::continue_);
        const auto& row = f.store->rows.at(0);
        CHECK(row.disposition == "none");
        REQUIRE(row.overrides.size() == 1);
        CHECK(row.overrides[0].type == "mailing_list");
        CHECK(row.overrides[0].comment == "lists.example relays");
        CHECK_THAT(f.ctx.inserted_ar(), Catch::Contains("override mailing_list"));
    }
    SECTION("MAIL FROM domain") {
        f.overrides = table::open_table("inline:{ sender.example=forwarded }");
        f.start("198.51.100.7");
        CHECK(f.message({{"From", "ceo@victim.example"}}) == milter::Status::continue_);
        CHECK(f.store->rows.at(0).overrides.at(0).type == "forwarded");
    }
    SECTION("a value that is not a reason is ignored") {
        f.overrides = table::open_table("inline:{ sender.example=OK }");
        f.start("198.51.100.7");
        CHECK(f.message({{"From", "ceo@victim.example"}}) == milter::Status::reject);
    }
    SECTION("a passing ARC chain of a trusted sealer") {
        f.settings.trusted_arc_sealers = {"lists.example"};
        f.arc = {dmarcd::ArcVerdict::Status::pass, "Lists.Example"};
        f.start("198.51.100.7");
        CHECK(f.message({{"From", "ceo@victim.example"}}) == milter::Status::continue_);
        CHECK(f.store->rows.at(0).overrides.at(0).type == "trusted_forwarder");
    }
    SECTION("a passing ARC chain of another sealer does not override") {
        f.settings.trusted_arc_sealers = {"lists.example"};
        f.arc = {dmarcd::ArcVerdict::Status::pass, "other.example"};
        f.start("198.51.100.7");
        CHECK(f.message({{"From", "ceo@victim.example"}}) == milter::Status::reject);
    }
}

TEST_CASE("dmarcd session: absent, multiple and unparseable From", "[dmarcd]") {
    Fixture f;
    f.answers["x.example"] = eval(dmarc::Result::pass, "reject", dmarc::Disposition::none);
    f.answers["victim.example"] = eval(dmarc::Result::fail, "reject", dmarc::Disposition::reject);
    SECTION("rejected by default") {
        f.start();
        CHECK(f.message({{"Subject", "no from"}}) == milter::Status::reject);
        CHECK_THAT(f.ctx.reply, Catch::StartsWith("550 5.7.1"));
        std::vector<std::pair<std::string, std::string>> fifty;
        for (int i = 0; i < 50; ++i) fifty.emplace_back("From", "a" + std::to_string(i) + "@x.example");
        CHECK(f.message(fifty) == milter::Status::reject);
        CHECK(f.message({{"From", "a@x.example, ceo@victim.example"}}) == milter::Status::reject);
        CHECK(f.message({{"From", "<<<"}}) == milter::Status::reject);
        CHECK(f.seen.empty());
        CHECK(f.store->rows.empty());
    }
    SECTION("evaluated per domain when allowed: one failing author fails the message (CVE-2019-16378)") {
        f.settings.reject_multiple_from = false;
        f.start();
        CHECK(f.message({{"From", "a@x.example"}, {"From", "ceo@victim.example"}}) == milter::Status::reject);
        CHECK(f.seen.size() == 2);
        CHECK(f.store->rows.size() == 2);
        CHECK_THAT(f.ctx.reply, Catch::Contains("victim.example"));
    }
    SECTION("allowed: no From gives dmarc=none, unparseable gives permerror, nothing recorded") {
        f.settings.reject_multiple_from = false;
        f.start();
        CHECK(f.message({{"Subject", "x"}}) == milter::Status::continue_);
        CHECK_THAT(f.ctx.inserted_ar(), Catch::Contains("dmarc=none"));
        f.ctx.ops.clear();
        CHECK(f.message({{"From", "<<<"}}) == milter::Status::continue_);
        CHECK_THAT(f.ctx.inserted_ar(), Catch::Contains("dmarc=permerror"));
        CHECK(f.store->rows.empty());
    }
    SECTION("allowed but too many author domains: rejected") {
        f.settings.reject_multiple_from = false;
        f.start();
        std::vector<std::pair<std::string, std::string>> many;
        for (int i = 0; i < 50; ++i) many.emplace_back("From", "a@d" + std::to_string(i) + ".example");
        CHECK(f.message(many) == milter::Status::reject);
        CHECK(f.seen.empty());
    }
}

TEST_CASE("dmarcd session: temperror tempfails or is accepted as configured", "[dmarcd]") {
    Fixture f;
    f.answers["slow.example"] = eval(dmarc::Result::temperror, "", dmarc::Disposition::none);
    SECTION("accept") {
        f.start();
        CHECK(f.message({{"From", "a@slow.example"}}) == milter::Status::continue_);
        CHECK_THAT(f.ctx.inserted_ar(), Catch::Contains("dmarc=temperror"));
        CHECK(f.store->rows.at(0).dmarc_result == "temperror");
    }
    SECTION("tempfail") {
        f.settings.tempfail_on_dns_error = true;
        f.start();
        CHECK(f.message({{"From", "a@slow.example"}}) == milter::Status::tempfail);
        CHECK_THAT(f.ctx.reply, Catch::StartsWith("451 4.7.5"));
        CHECK_THAT(f.ctx.reply, Catch::Contains("slow.example"));
    }
}

TEST_CASE("dmarcd session: a store failure never blocks mail, it is counted", "[dmarcd]") {
    Fixture f;
    f.answers["sender.example"] = eval(dmarc::Result::pass, "none", dmarc::Disposition::none);
    f.store->fail = true;
    f.start();
    CHECK(f.message({{"From", "a@sender.example"}}) == milter::Status::continue_);
    CHECK(f.message({{"From", "a@sender.example"}}) == milter::Status::continue_);
    CHECK(f.rt->counters->store_failures.load() == 2);
}

TEST_CASE("dmarcd session: forged Authentication-Results of our id are removed and never used", "[dmarcd]") {
    Fixture f;
    f.settings.trusted_authserv_ids = {"dkim.example.net"};
    f.settings.dkim_source = dmarcd::Source::headers;
    f.settings.spf_source = dmarcd::Source::headers;
    f.answers["sender.example"] = eval(dmarc::Result::pass, "none", dmarc::Disposition::none);
    f.start("198.51.100.7");
    CHECK(f.message({{"Authentication-Results", "dkim.example.net; dkim=pass header.d=sender.example header.s=s1"},
                     {"Authentication-Results", "mx.example.net; dkim=pass header.d=forged.example; spf=pass smtp.mailfrom=a@sender.example"},
                     {"Authentication-Results", "elsewhere.example; dmarc=pass"},
                     {"Authentication-Results", "MX.example.net; dmarc=pass"},
                     {"From", "a@sender.example"}}) == milter::Status::continue_);
    std::vector<int> deleted;
    for (const auto& o : f.ctx.ops)
        if (o.what == "change" && o.name == "Authentication-Results" && o.value.empty()) deleted.push_back(o.index);
    CHECK(deleted == std::vector<int>{4, 2});
    REQUIRE(f.seen.size() == 1);
    REQUIRE(f.seen[0].dkim.size() == 1);
    CHECK(f.seen[0].dkim[0].domain == "sender.example");
    CHECK(f.seen[0].spf_result == "none");  // only the forged field claimed an SPF pass
    // Headers sources: no spf=/dkim= of our own in the A-R.
    CHECK_THAT(f.ctx.inserted_ar(), !Catch::Contains("spf="));
}

TEST_CASE("dmarcd session: a null sender never aligns through HELO", "[dmarcd]") {
    Fixture f;
    f.resolver->add("relay.lists.example TXT \"v=spf1 ip4:192.0.2.1 -all\"\n");
    f.start();
    CHECK(f.message({{"From", "a@relay.lists.example"}}, "<>") == milter::Status::continue_);
    REQUIRE(f.seen.size() == 1);
    CHECK(f.seen[0].mail_from_domain.empty());
    CHECK(f.seen[0].spf_result == "none");
    REQUIRE(f.store->rows.size() == 1);
    REQUIRE(f.store->rows[0].spf.size() == 1);
    CHECK(f.store->rows[0].spf[0].scope == "helo");
    CHECK(f.store->rows[0].spf[0].result == "pass");
}

TEST_CASE("dmarcd session: local submission, skip-hosts and authenticated clients are not evaluated", "[dmarcd]") {
    Fixture f;
    f.answers["victim.example"] = eval(dmarc::Result::fail, "reject", dmarc::Disposition::reject);
    SECTION("authenticated") {
        f.ctx.macros["{auth_authen}"] = "alice";
        f.start();
        CHECK(f.message({{"From", "ceo@victim.example"}}) == milter::Status::continue_);
    }
    SECTION("skip-hosts") {
        f.settings.skip_hosts = {*util::IpNetwork::parse("198.51.100.0/24")};
        f.start("198.51.100.7");
        CHECK(f.message({{"From", "ceo@victim.example"}}) == milter::Status::continue_);
    }
    SECTION("no client address") {
        f.start("not an address");
        CHECK(f.message({{"From", "ceo@victim.example"}}) == milter::Status::continue_);
    }
    CHECK(f.seen.empty());
    CHECK(f.store->rows.empty());
    CHECK(f.ctx.ops.empty());
    SECTION("authenticated, but skip-authenticated is off") {
        f.settings.skip_authenticated = false;
        f.ctx.macros["{auth_authen}"] = "alice";
        f.start();
        CHECK(f.message({{"From", "ceo@victim.example"}}) == milter::Status::reject);
    }
}

TEST_CASE("dmarcd failure reports: the end of message queues a report with the header fields, off by default", "[dmarcd]") {
    Fixture f;
    auto e = eval(dmarc::Result::fail, "reject", dmarc::Disposition::reject);
    e.lookup.policy.domain = "victim.example";
    e.lookup.policy.ruf = {"mailto:ruf@victim.example"};
    e.lookup.policy.fo = "1";
    e.lookup.organizational_domain = "victim.example";
    f.answers["victim.example"] = e;
    std::mutex mu;
    std::vector<std::pair<std::string, std::string>> sent;
    auto reporter = std::make_shared<dmarcd::FailureReporter>(
        [&](const dmarcd::Settings&, const std::string&, const std::string& to, const std::string& m) {
            std::lock_guard<std::mutex> lock(mu);
            sent.emplace_back(to, m);
            return dmarc_report::DeliveryResult{dmarc_report::DeliveryStatus::delivered, ""};
        });
    const std::vector<std::pair<std::string, std::string>> hdrs{
        {"From", "CEO <ceo@victim.example>"}, {"To", "staff@rcpt.example"}, {"Subject", "urgent"}};

    // failure-reports = no (the default): nothing, even with a reporter in place.
    f.start("198.51.100.7");
    f.rt->failure_reporter = reporter;
    CHECK(f.message(hdrs, "<ceo@victim.example>") == milter::Status::reject);
    REQUIRE(reporter->drain(std::chrono::seconds(10)));
    CHECK(sent.empty());

    f.settings.failure_reports.enabled = true;
    f.settings.failure_reports.sender = "dmarc@mx.example.net";
    f.start("198.51.100.7");
    f.rt->failure_reporter = reporter;
    CHECK(f.message(hdrs, "<ceo@victim.example>") == milter::Status::reject);  // the report never changes the verdict
    REQUIRE(reporter->drain(std::chrono::seconds(10)));
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].first == "ruf@victim.example");
    const auto& m = sent[0].second;
    CHECK(m.find("Delivery-Result: reject\n") != std::string::npos);
    CHECK(m.find("Source-IP: 198.51.100.7\n") != std::string::npos);
    CHECK(m.find("Original-Envelope-Id: ") != std::string::npos);
    CHECK(m.find("\nSubject: urgent\n") != std::string::npos);
    CHECK(m.find("@victim.example>\n") != std::string::npos);
    CHECK(m.find("ceo@") == std::string::npos);
    CHECK(m.find("staff@") == std::string::npos);
    CHECK(m.find("hello") == std::string::npos);  // no body
}
