// tests/unit/milter/engine_test.cpp - the milter protocol engine: Conversation fed packets directly
// (negotiation, pipelining, macros per stage, modifications, K/QUIT/abort, malformed input).
#include <catch2/catch.hpp>

#include "unit/milter/engine_test_support.hpp"

using namespace mailmoat;
using namespace mailmoat::milter;
using namespace mailmoat::milter::test;
using V = StepReply::Verdict;

namespace {

std::string connect_pkts() {
    return wire::macros('C', {{"j", "mx.example"}}) + wire::connect("client.example", '4', 2525, "192.0.2.7") +
           wire::helo("helo.example");
}

std::string message_pkts(const std::string& qid, const std::string& extra_header = {}) {
    std::string s = wire::macros('M', {{"i", qid}, {"{auth_authen}", "alice"}}) + wire::mail({"<a@x>", "SIZE=10"}) +
                    wire::macros('R', {{"{rcpt_addr}", "b@y"}}) + wire::rcpt({"<b@y>"}) + wire::simple('T') +
                    wire::header("Subject", "hello");
    if (!extra_header.empty()) s += wire::header(extra_header, "1");
    return s + wire::simple('N') + wire::body("body\r\n") + wire::macros('E', {{"i", qid}}) + wire::simple('E');
}

}  // namespace

TEST_CASE("Engine: negotiation answers version, actions, protocol and macro lists", "[milter][engine]") {
    RunnerOptions o = Conv::defaults();
    o.stages = Stages::all().remove(Stage::unknown);
    o.macros[MacroStage::connect] = "j {daemon_name}";
    o.macros[MacroStage::eom] = "i";
    Conv c(o);
    auto out = packets(c.negotiate());
    REQUIRE(out.size() == 1);
    const auto n = wire::parse_optneg(out[0]);
    REQUIRE(n);
    CHECK(n->version == 6);
    CHECK(n->actions == (proto::f_addhdrs | proto::f_chghdrs | proto::f_chgbody | proto::f_setsymlist));
    CHECK(n->protocol == (proto::p_nr_conn | proto::p_nr_helo | proto::p_nr_mail | proto::p_nr_data |
                          proto::p_nr_hdr | proto::p_nr_body | proto::p_nounknown | proto::p_nr_unkn | proto::p_skip));
    CHECK(n->macro_lists.at(0) == std::vector<std::string>{"j", "{daemon_name}"});
    CHECK(n->macro_lists.at(5) == std::vector<std::string>{"i"});

    SECTION("an older MTA gets its version and no macro lists") {
        Conv old(o);
        auto p = packets(old.negotiate(2, 0x3F, 0x7F));
        const auto n2 = wire::parse_optneg(p.at(0));
        REQUIRE(n2);
        CHECK(n2->version == 2);
        CHECK(n2->macro_lists.empty());
        CHECK((n2->protocol & ~0x7FU) == 0);
    }
    SECTION("version 1, missing actions, short data and a second negotiation close the connection") {
        Conv v1(o);
        CHECK(v1.negotiate(1).empty());
        CHECK(v1.last == Conversation::Result::close);
        Conv na(o);
        CHECK(na.negotiate(6, proto::f_addhdrs).empty());
        CHECK(na.last == Conversation::Result::close);
        Conv sh(o);
        CHECK(sh.feed(wire::packet('O', "123")).empty());
        CHECK(sh.last == Conversation::Result::close);
        (void)c.negotiate();
        CHECK(c.last == Conversation::Result::close);
    }
}

TEST_CASE("Engine: pipelined no-reply packets in one buffer get one answer", "[milter][engine]") {
    Conv c;
    (void)c.negotiate();
    const std::string all = connect_pkts() + message_pkts("Q1");
    SECTION("in one piece") {
        const auto out = c.feed(all);
        // rcpt, eoh and eom answer; the end of message carries its modification.
        CHECK(commands(out) == "cchc");
    }
    SECTION("byte by byte") {
        std::string out, pending;
        for (char ch : all) {
            pending += ch;
            std::size_t used = 0;
            REQUIRE(c.conv->process(pending, &used, out) == Conversation::Result::more);
            pending.erase(0, used);
        }
        CHECK(pending.empty());
        CHECK(commands(out) == "cchc");
    }
    CHECK(c.journal.has("connect client.example 192.0.2.7 2525 "));
    CHECK(c.journal.has("helo helo.example"));
    CHECK(c.journal.has("mail <a@x> args=2"));
    CHECK(c.journal.has("header Subject:hello"));
    CHECK(c.journal.has("body 6"));
    CHECK(c.journal.has("eom i=Q1 auth=alice j=mx.example rcpt=b@y session=1"));
}

TEST_CASE("Engine: modifications and the final answer come out of one end-of-message", "[milter][engine]") {
    Conv c;
    (void)c.negotiate();
    (void)c.feed(connect_pkts());
    std::string msg = message_pkts("Q2", "X-Mods");
    const auto eom_at = msg.rfind(wire::simple('E'));
    REQUIRE(commands(c.feed(msg.substr(0, eom_at))) == "cc");
    const auto out = c.feed(msg.substr(eom_at));
    CHECK(commands(out) == "himba");
    const auto p = packets(out);
    CHECK(parse_modification(p[1])->index == 0);
    CHECK(parse_modification(p[2])->value.empty());  // empty value: delete
    CHECK(p[3].data == "new body\r\n");
    CHECK(c.journal.count("reset") == 1);
}

TEST_CASE("Engine: macros per stage, most recent stage first, cleared by a new message and abort",
          "[milter][engine]") {
    Conv c;
    (void)c.negotiate();
    (void)c.feed(connect_pkts());
    (void)c.feed(message_pkts("Q1"));
    CHECK(c.journal.has("eom i=Q1 auth=alice j=mx.example rcpt=b@y session=1"));
    // A second message without rcpt macros: the first message's are gone, mail's are replaced.
    std::string m2 = wire::macros('M', {{"i", "Q2"}}) + wire::mail({"<a@x>"}) + wire::rcpt({"<c@y>"}) +
                     wire::simple('T') + wire::simple('N') + wire::simple('E');
    CHECK(commands(c.feed(m2)) == "cchc");
    CHECK(c.journal.has("eom i=Q2 auth=- j=mx.example rcpt=- session=1"));
    // An abort clears the message stages, not the connection's.
    (void)c.feed(wire::macros('M', {{"i", "Q3"}}) + wire::mail({"<a@x>"}) + wire::simple('A'));
    CHECK(commands(c.feed(wire::unknown("NOOP"))) == "c");
    CHECK(c.journal.has("unknown NOOP i=- j=mx.example"));
    // A new macro packet for a stage replaces that stage's set.
    (void)c.feed(wire::macros('C', {{"{daemon_name}", "smtpd"}}));
    CHECK(commands(c.feed(wire::unknown("X"))) == "c");
    CHECK(c.journal.has("unknown X i=- j=-"));
}

TEST_CASE("Engine: abort, QUIT and QUIT_NC", "[milter][engine]") {
    Conv c;
    (void)c.negotiate();
    (void)c.feed(connect_pkts());
    // Abort outside a message reaches no session; inside one it does, then reset.
    (void)c.feed(wire::simple('A'));
    CHECK(c.journal.count("abort") == 0);
    (void)c.feed(wire::mail({"<a@x>"}) + wire::rcpt({"<b@y>"}) + wire::simple('A'));
    CHECK(c.journal.count("abort") == 1);
    CHECK(c.journal.count("reset") == 1);
    CHECK_FALSE(c.conv->in_message());
    // A rejected recipient ends only that recipient.
    CHECK(commands(c.feed(wire::mail({"<a@x>"}) + wire::rcpt({"<reject@x>"}))) == "r");
    CHECK(c.conv->in_message());
    (void)c.feed(wire::simple('A'));
    CHECK(c.journal.count("abort") == 2);
    // QUIT_NC: the session closes, the next connection on this socket gets a new one.
    (void)c.feed(wire::simple('K'));
    CHECK(c.journal.has("close 1"));
    CHECK(c.last == Conversation::Result::more);
    (void)c.feed(connect_pkts());
    CHECK(c.journal.count("connect client.example 192.0.2.7 2525 ") == 2);
    CHECK(commands(c.feed(message_pkts("K1"))) == "cchc");
    CHECK(c.journal.has("eom i=K1 auth=alice j=mx.example rcpt=b@y session=2"));
    // QUIT mid-message: the connection ends; finish() aborts and closes the session.
    (void)c.feed(wire::mail({"<a@x>"}) + wire::simple('Q'));
    CHECK(c.last == Conversation::Result::close);
    c.conv->finish();
    CHECK(c.journal.count("abort") == 3);
    CHECK(c.journal.has("close 2"));
}

TEST_CASE("Engine: reply codes, skip and the exception wall", "[milter][engine]") {
    Conv c;
    (void)c.negotiate();
    (void)c.feed(connect_pkts());
    SECTION("single-line reply with '%' as given") {
        auto out = packets(c.feed(message_pkts("R1", "X-Reply")));
        REQUIRE(out.back().command == 'y');
        CHECK(out.back().data == std::string("550 5.7.1 no 100%%") + '\0');
    }
    SECTION("multi-line reply without xcode") {
        std::string msg = message_pkts("R2");
        msg.insert(msg.find(wire::simple('N')), wire::header("X-Reply", "ml"));
        auto out = packets(c.feed(msg));
        REQUIRE(out.back().command == 'y');
        CHECK(out.back().data == std::string("550-5.0.0 first\r\n550 5.0.0 second") + '\0');
    }
    SECTION("a 5xx reply does not go with a tempfail") {
        auto out = packets(c.feed(message_pkts("R3", "X-Tempfail-5xx")));
        CHECK(out.back().command == 't');
    }
    SECTION("skip at a replying body stage") {
        RunnerOptions o = Conv::defaults();
        o.no_reply = {};
        Conv s(o);
        (void)s.negotiate();
        (void)s.feed(connect_pkts());
        std::string msg = message_pkts("S1", "X-Skip");
        const auto out = commands(s.feed(msg));
        CHECK(out == "ccccccshc");  // mail rcpt data 2*header eoh, skip, eom (its header, continue)
        Conv t(o);
        (void)t.negotiate(6, wire::postfix_actions, wire::postfix_protocol & ~proto::p_skip);
        (void)t.feed(connect_pkts());
        CHECK(commands(t.feed(msg)) == "ccccccchc");
    }
    SECTION("an exception at a no-reply stage tempfails at the next reply, and ends the message") {
        CHECK(commands(c.feed(wire::mail({"<a@x>"}) + wire::rcpt({"<b@y>"}) + wire::simple('T') +
                              wire::header("X-Throw", "1") + wire::simple('N'))) == "ct");
        CHECK_FALSE(c.conv->in_message());
        CHECK(c.journal.count("reset") == 1);
        CHECK(commands(c.feed(message_pkts("T2"))) == "cchc");
    }
}

TEST_CASE("Engine: malformed input closes the connection with an error", "[milter][engine]") {
    auto closes = [](const std::string& bytes, bool negotiate = true) {
        Conv c;
        if (negotiate) (void)c.negotiate();
        (void)c.feed(bytes);
        return c.last == Conversation::Result::close;
    };
    std::string zero("\0\0\0\0", 4);
    CHECK(closes(zero));
    CHECK(closes("\xff\xff\xff\xff" "C"));
    CHECK(closes(std::string("\x00\x10\x00\x01", 4)));  // 1 MiB + 1
    CHECK(closes(wire::packet('Z', "")));
    CHECK(closes(wire::helo("x"), false));                    // before negotiation
    CHECK(closes(wire::packet('L', std::string("Subject\0v", 9))));
    CHECK(closes(wire::packet('L', std::string("a\0b\0c\0", 6))));
    CHECK(closes(wire::packet('H', "no-nul")));
    CHECK(closes(wire::packet('M', "")));
    CHECK(closes(wire::packet('D', "")));
    CHECK(closes(wire::packet('D', std::string("Cname\0", 6))));
    CHECK(closes(wire::connect("h", 'X', 1, "1.2.3.4")));
    CHECK(closes(wire::connect("h", '4', 1, "999.1.1.1")));
    CHECK(closes(wire::packet('C', std::string("h\0" "4\x01", 4))));
    CHECK(closes(wire::packet('U', "x")));
    // A full packet just below the limit is fine, a partial one waits.
    Conv c;
    (void)c.negotiate();
    std::string big = wire::packet('B', std::string(Conversation::max_packet - 1, 'x'));
    std::string out;
    std::size_t used = 0;
    CHECK(c.conv->process(std::string_view(big).substr(0, 1000), &used, out) == Conversation::Result::more);
    CHECK(used == 0);
    CHECK(c.conv->process(big, &used, out) == Conversation::Result::more);
    CHECK(used == big.size());
    // IPv6 with sendmail's prefix, a UNIX client and an unknown family.
    CHECK(commands(c.feed(wire::connect("h6", '6', 25, "IPv6:2001:db8::1") + wire::connect("l", 'L', 0, "/path") +
                          wire::connect("u", 'U', 0, ""))) == "");
    CHECK(c.journal.has("connect h6 2001:db8::1 25 "));
    CHECK(c.journal.has("connect l - 0 /path"));
    CHECK(c.journal.has("connect u - 0 "));
}

