// tests/unit/milter/session_test.cpp - reply text helpers and Modifier chunking over a recording Context.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "common/milter/session.hpp"

using namespace mailmoat::milter;

namespace {

struct RecordingContext final : Context {
    std::vector<std::string> chunks;
    std::vector<std::string> reply;
    std::optional<std::string> macro(std::string_view name) const override {
        if (name == "i") return std::string("QID1");
        return std::nullopt;
    }
    Outcome set_reply(std::string_view rcode, std::string_view xcode, const std::vector<std::string>& lines) override {
        if (!valid_reply(rcode, xcode, lines)) return Outcome::invalid;
        reply = lines;
        return Outcome::ok;
    }
    Outcome add_header(std::string_view, std::string_view) override { return Outcome::ok; }
    Outcome insert_header(int, std::string_view, std::string_view) override { return Outcome::ok; }
    Outcome change_header(std::string_view, int, std::string_view) override { return Outcome::ok; }
    Outcome add_rcpt(std::string_view, std::string_view) override { return Outcome::ok; }
    Outcome del_rcpt(std::string_view) override { return Outcome::ok; }
    Outcome change_from(std::string_view, std::string_view) override { return Outcome::ok; }
    Outcome quarantine(std::string_view) override { return Outcome::ok; }
    Outcome replace_body_chunk(std::string_view c) override {
        if (c.size() > 65535) return Outcome::invalid;
        chunks.emplace_back(c);
        return Outcome::ok;
    }
};

struct MacroSession final : Session {
    std::string qid() const { return queue_id(); }
    std::string auth() const { return auth_authen(); }
};

}  // namespace

TEST_CASE("reply_lines splits lines, doubles percent signs and blanks control characters", "[milter][session]") {
    CHECK(reply_lines("") == std::vector<std::string>{});
    CHECK(reply_lines("one line") == std::vector<std::string>{"one line"});
    CHECK(reply_lines("100% spam") == std::vector<std::string>{"100%% spam"});
    CHECK(reply_lines("a\r\nb\nc") == std::vector<std::string>{"a", "b", "c"});
    CHECK(reply_lines("tab\there\x01") == std::vector<std::string>{"tab here "});
}

TEST_CASE("valid_reply follows RFC 5321 reply codes and RFC 3463 enhanced codes", "[milter][session]") {
    const std::vector<std::string> one{"text"};
    CHECK(valid_reply("550", "5.7.1", one));
    CHECK(valid_reply("451", "4.3.0", one));
    CHECK(valid_reply("550", "", one));
    CHECK(valid_reply("554", "5.123.456", one));
    CHECK_FALSE(valid_reply("250", "2.0.0", one));   // not a failure code
    CHECK_FALSE(valid_reply("550", "4.7.1", one));   // class mismatch
    CHECK_FALSE(valid_reply("55", "5.7.1", one));
    CHECK_FALSE(valid_reply("550", "5.7", one));
    CHECK_FALSE(valid_reply("550", "5.7.1234", one));
    CHECK_FALSE(valid_reply("550", "5.x.1", one));
    CHECK_FALSE(valid_reply("550", "5.7.1", {}));
    CHECK_FALSE(valid_reply("550", "5.7.1", std::vector<std::string>(33, "x")));
    CHECK(valid_reply("550", "5.7.1", std::vector<std::string>(32, "x")));
    CHECK_FALSE(valid_reply("550", "5.7.1", {"bad\r\nline"}));
    CHECK_FALSE(valid_reply("550", "5.7.1", {std::string(901, 'x')}));
}

TEST_CASE("Modifier splits a replacement body into protocol-sized chunks", "[milter][session]") {
    RecordingContext ctx;
    Modifier m(ctx);
    const std::string body(65535 * 2 + 10, 'b');
    REQUIRE(m.replace_body(body) == Outcome::ok);
    REQUIRE(ctx.chunks.size() == 3);
    CHECK(ctx.chunks[0].size() == 65535);
    CHECK(ctx.chunks[1].size() == 65535);
    CHECK(ctx.chunks[2].size() == 10);
    CHECK(m.set_reply("550", "5.7.1", "first\nsecond 50%") == Outcome::ok);
    CHECK(ctx.reply == std::vector<std::string>{"first", "second 50%%"});
    CHECK(m.set_reply("250", "", "no") == Outcome::invalid);
}

TEST_CASE("Session macro helpers read through the attached context", "[milter][session]") {
    MacroSession s;
    CHECK(s.qid().empty());  // no context attached yet
    RecordingContext ctx;
    s.attach(&ctx);
    CHECK(s.qid() == "QID1");
    CHECK(s.auth().empty());
}

TEST_CASE("Stages is a set", "[milter][session]") {
    Stages s{Stage::header, Stage::eom};
    CHECK(s.has(Stage::header));
    CHECK_FALSE(s.has(Stage::body));
    s.add(Stage::body).remove(Stage::header);
    CHECK(s.has(Stage::body));
    CHECK_FALSE(s.has(Stage::header));
    CHECK(Stages::all().has(Stage::unknown));
}
