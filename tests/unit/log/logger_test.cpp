// tests/unit/log/logger_test.cpp - key=value lines, escaping of mail data, level filtering.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "common/log/logger.hpp"

namespace mlog = mailmoat::log;

namespace {
struct Capture {
    std::vector<std::string> lines;
    Capture() {
        mlog::set_sink([this](mlog::Level, std::string_view line) { lines.emplace_back(line); });
        mlog::set_level(mlog::Level::info);
    }
    ~Capture() { mlog::set_sink({}); }
};
}  // namespace

TEST_CASE("a decision line has queue id and key=value pairs", "[log]") {
    Capture cap;
    mlog::info().queue_id("3F2A1B2C").kv("client", "203.0.113.5").kv("from", "<a@b>").kv("result", "pass").kv("n", 3);
    REQUIRE(cap.lines.size() == 1);
    CHECK(cap.lines[0] == "3F2A1B2C: client=203.0.113.5 from=<a@b> result=pass n=3");
}

TEST_CASE("mail data is escaped and truncated", "[log]") {
    CHECK(mlog::escape("a b") == "\"a b\"");
    CHECK(mlog::escape("x\r\ny") == "x\\x0d\\x0ay");
    CHECK(mlog::escape("q\"\\") == "q\\\"\\\\");
    CHECK(mlog::escape("") == "\"\"");
    CHECK(mlog::escape("k=v") == "\"k=v\"");
    CHECK(mlog::escape("\xc3\xa9") == "\\xc3\\xa9");
    CHECK(mlog::escape(std::string(1000, 'a'), 10) == "aaaaaaaaaa...");
}

TEST_CASE("levels filter lines", "[log]") {
    Capture cap;
    mlog::set_level(mlog::Level::warning);
    mlog::info().kv("a", "1");
    mlog::warning().kv("b", "2");
    mlog::error().kv("c", "3");
    CHECK(cap.lines == std::vector<std::string>{"b=2", "c=3"});
    CHECK(mlog::parse_level("debug") == mlog::Level::debug);
    CHECK_FALSE(mlog::parse_level("loud"));
}
