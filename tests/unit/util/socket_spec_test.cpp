// tests/unit/util/socket_spec_test.cpp - both spellings of socket specs, and their errors.
#include <catch2/catch.hpp>

#include "common/util/socket_spec.hpp"

using mailmoat::util::SocketSpec;

TEST_CASE("socket specs in Postfix and libmilter spelling", "[util]") {
    auto [text, milter, postfix] = GENERATE(table<std::string, std::string, std::string>({
        {"unix:/run/mailmoat/dkim.sock", "unix:/run/mailmoat/dkim.sock", "unix:/run/mailmoat/dkim.sock"},
        {"local:/tmp/x", "unix:/tmp/x", "unix:/tmp/x"},
        {"/tmp/x", "unix:/tmp/x", "unix:/tmp/x"},
        {"inet:127.0.0.1:8891", "inet:8891@127.0.0.1", "inet:127.0.0.1:8891"},
        {"inet:8891@127.0.0.1", "inet:8891@127.0.0.1", "inet:127.0.0.1:8891"},
        {"inet:8891", "inet:8891@127.0.0.1", "inet:127.0.0.1:8891"},
        {"inet6:8891@::1", "inet6:8891@::1", "inet:[::1]:8891"},
        {"inet:[::1]:8891", "inet6:8891@::1", "inet:[::1]:8891"},
        {"inet:localhost:10023", "inet:10023@localhost", "inet:localhost:10023"},
    }));
    std::string error;
    auto spec = SocketSpec::parse(text, &error);
    INFO(text << " " << error);
    REQUIRE(spec);
    CHECK(spec->to_milter() == milter);
    CHECK(spec->to_postfix() == postfix);
}

TEST_CASE("bad socket specs are refused with a reason", "[util]") {
    auto text = GENERATE("", "tcp:1.2.3.4:25", "unix:relative", "inet:0", "inet:65536@127.0.0.1", "inet:host:", "inet:[::1]8891",
                         "inet:x@127.0.0.1");
    std::string error;
    CHECK_FALSE(SocketSpec::parse(text, &error));
    CHECK_FALSE(error.empty());
}
