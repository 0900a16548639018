// tests/unit/checksd/checks_session_test.cpp - mailmoat-checks session: each action as milter requests.
#include <catch2/catch.hpp>

#include <map>

#include "milters/checks/checks_session.hpp"

using namespace mailmoat;

namespace {

/// Records what the session asks of the MTA.
class FakeContext : public milter::Context {
public:
    std::vector<std::string> ops;
    std::string body;

    std::optional<std::string> macro(std::string_view name) const override {
        if (name == "i") return std::string("QID1");
        return std::nullopt;
    }
    milter::Outcome set_reply(std::string_view rcode, std::string_view xcode, const std::vector<std::string>& lines) override {
        ops.push_back("reply " + std::string(rcode) + " " + std::string(xcode) + " " + (lines.empty() ? "" : lines[0]));
        return milter::Outcome::ok;
    }
    milter::Outcome add_header(std::string_view n, std::string_view v) override {
        ops.push_back("add " + std::string(n) + ": " + std::string(v));
        return milter::Outcome::ok;
    }
    milter::Outcome insert_header(int i, std::string_view n, std::string_view v) override {
        ops.push_back("insert " + std::to_string(i) + " " + std::string(n) + ": " + std::string(v));
        return milter::Outcome::ok;
    }
    milter::Outcome change_header(std::string_view n, int i, std::string_view v) override {
        ops.push_back("change " + std::string(n) + " " + std::to_string(i) + " " + std::string(v));
        return milter::Outcome::ok;
    }
    milter::Outcome add_rcpt(std::string_view r, std::string_view) override {
        ops.push_back("addrcpt " + std::string(r));
        return milter::Outcome::ok;
    }
    milter::Outcome del_rcpt(std::string_view r) override {
        ops.push_back("delrcpt " + std::string(r));
        return milter::Outcome::ok;
    }
    milter::Outcome change_from(std::string_view, std::string_view) override { return milter::Outcome::invalid; }
    milter::Outcome quarantine(std::string_view reason) override {
        ops.push_back("quarantine " + std::string(reason));
        return milter::Outcome::ok;
    }
    milter::Outcome replace_body_chunk(std::string_view c) override {
        body.append(c);
        return milter::Outcome::ok;
    }
};

std::shared_ptr<const checksd::Settings> settings(const std::string& header, const std::string& body = {}) {
    auto s = std::make_shared<checksd::Settings>();
    auto r = std::make_shared<checks::RuleSet>();
    if (!header.empty()) r->header = checks::open_tables({header});
    if (!body.empty()) r->body = checks::open_tables({body});
    s->rules = r;
    return s;
}

struct Run {
    FakeContext ctx;
    milter::Status status = milter::Status::continue_;
};

void run(Run& run, std::shared_ptr<const checksd::Settings> s,
         const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body) {
    checksd::ChecksSession session(std::move(s));
    session.attach(&run.ctx);
    (void)session.on_envrcpt({"<a@example.org>"});
    (void)session.on_envrcpt({"<b@example.org>"});
    for (const auto& [n, v] : headers) (void)session.on_header(n, v);
    (void)session.on_eoh();
    (void)session.on_body(body);
    milter::Modifier m(run.ctx);
    run.status = session.on_eom(m);
}

}  // namespace

TEST_CASE("session: REJECT with and without a 4.x.x status") {
    auto s = settings("pcre:{{/^Subject: bad/ REJECT go away}, {/^Subject: later/ REJECT 4.7.1 try later}, {/^Subject: plain/ REJECT}}");
    Run a;
    run(a, s, {{"Subject", "bad one"}}, "x\r\n");
    CHECK(a.status == milter::Status::reject);
    CHECK(a.ctx.ops == std::vector<std::string>{"reply 550 5.7.1 go away"});
    Run b;
    run(b, s, {{"Subject", "later"}}, "x\r\n");
    CHECK(b.status == milter::Status::tempfail);
    CHECK(b.ctx.ops == std::vector<std::string>{"reply 451 4.7.1 try later"});
    Run c;
    run(c, s, {{"Subject", "plain"}}, "x\r\n");
    CHECK(c.ctx.ops == std::vector<std::string>{"reply 550 5.7.1 message content rejected"});
}

TEST_CASE("session: DISCARD, HOLD, REDIRECT, BCC") {
    auto s = settings("pcre:{{/^X-D:/ DISCARD}, {/^X-H:/ HOLD suspicious}, {/^X-R:/ REDIRECT abuse@example.net},"
                      " {/^X-B:/ BCC archive@example.net}}");
    Run d;
    run(d, s, {{"X-D", "1"}}, "");
    CHECK(d.status == milter::Status::discard);
    Run h;
    run(h, s, {{"X-H", "1"}, {"X-B", "1"}, {"X-R", "1"}}, "");
    CHECK(h.status == milter::Status::continue_);
    // REDIRECT replaces every recipient, BCC ones included (as Postfix's qmgr does).
    CHECK(h.ctx.ops == std::vector<std::string>{"quarantine suspicious", "delrcpt <a@example.org>",
                                                "delrcpt <b@example.org>", "addrcpt <abuse@example.net>"});
    Run b;
    run(b, s, {{"X-B", "1"}, {"X-H", "1"}}, "");
    CHECK(b.ctx.ops == std::vector<std::string>{"quarantine suspicious", "addrcpt <archive@example.net>"});
}

TEST_CASE("session: header PREPEND/REPLACE/IGNORE become milter header changes, last header first") {
    auto s = settings("pcre:{{/^Subject: (.*)/ REPLACE Subject: [ext] $1}, {/^X-Junk:/ IGNORE},"
                      " {/^To:/ PREPEND X-Note: to seen}, {/^X-Old: (.*)/ REPLACE X-New: $1}}");
    Run r;
    run(r, s, {{"To", "a@example.org"}, {"X-Junk", "1"}, {"Subject", "hi"}, {"X-Junk", "2"}, {"X-Old", "v"}}, "");
    CHECK(r.ctx.ops == std::vector<std::string>{"insert 5 X-New: v", "change X-Old 1 ", "change X-Junk 2 ",
                                                "change Subject 1 [ext] hi", "change X-Junk 1 ",
                                                "insert 1 X-Note: to seen"});
}

TEST_CASE("session: body REPLACE rewrites the body") {
    auto s = settings({}, "pcre:{{/^password: .*/ REPLACE password: [redacted]}}");
    Run r;
    run(r, s, {{"Subject", "x"}}, "hello\r\npassword: hunter2\r\nbye\r\n");
    CHECK(r.ctx.body == "hello\r\npassword: [redacted]\r\nbye\r\n");
}

TEST_CASE("split_header") {
    CHECK(checksd::split_header("X-A: b c") == std::pair<std::string, std::string>{"X-A", "b c"});
    CHECK(checksd::split_header("X-A :b") == std::pair<std::string, std::string>{"X-A", "b"});
}

TEST_CASE("session: blocklist keys from connect and MAIL FROM, kept per connection, reset per message") {
    auto s = std::make_shared<checksd::Settings>();
    auto r = std::make_shared<checks::RuleSet>();
    r->blocklist = checks::open_tables({"pcre:{ {/^client-ip\\=192\\.0\\.2\\.7$/ REJECT 5.7.1 bad client}, "
                                        "{/^sender\\=spam\\@bulk\\.example$/ DISCARD} }"});
    s->rules = r;
    FakeContext ctx;
    checksd::ChecksSession session(s);
    session.attach(&ctx);
    milter::ConnectInfo info;
    info.family = milter::ConnectInfo::Family::inet;
    info.address = util::IpAddress::parse("192.0.2.8");
    (void)session.on_connect(info);
    auto message = [&](const std::string& from) {
        (void)session.on_envfrom({from});
        (void)session.on_envrcpt({"<b@example.org>"});
        (void)session.on_header("Subject", " hi");
        (void)session.on_eoh();
        (void)session.on_body("text\r\n");
        milter::Modifier m(ctx);
        const auto st = session.on_eom(m);
        session.reset();
        return st;
    };
    CHECK(message("<SPAM@bulk.example>") == milter::Status::discard);
    CHECK(message("<ok@fine.example>") == milter::Status::continue_);  // the sender does not stay
    checksd::ChecksSession other(s);
    other.attach(&ctx);
    info.address = util::IpAddress::parse("192.0.2.7");
    (void)other.on_connect(info);
    (void)other.on_envfrom({"<ok@fine.example>"});
    (void)other.on_eoh();
    milter::Modifier m(ctx);
    CHECK(other.on_eom(m) == milter::Status::reject);
    CHECK(ctx.ops.back() == "reply 550 5.7.1 bad client");
}
