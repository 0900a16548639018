// tests/unit/dkim/tag_list_test.cpp - RFC 6376 §3.2 tag=value lists.
#include <catch2/catch.hpp>

#include "common/dkim/tag_list.hpp"

using mailmoat::dkim::parse_tag_list;
using mailmoat::dkim::TagListStatus;

TEST_CASE("tag lists parse with FWS around names, '=' and values", "[dkim][tags]") {
    const auto t = parse_tag_list(" v=1;  a = rsa-sha256 ;\r\n\tb=abc\r\n def;h=from : to;");
    REQUIRE(t.status == TagListStatus::ok);
    REQUIRE(t.tags.size() == 4);
    CHECK(t.tags[0].name == "v");
    CHECK(*t.find("a") == "rsa-sha256");
    CHECK(*t.find("b") == "abc\r\n def");
    CHECK(*t.find("h") == "from : to");
    CHECK(t.find("x") == nullptr);
    CHECK(parse_tag_list("p=").status == TagListStatus::ok);
    CHECK(parse_tag_list("p=").tags.size() == 1);
}

TEST_CASE("malformed tag lists", "[dkim][tags]") {
    CHECK(parse_tag_list("").status == TagListStatus::syntax_error);
    CHECK(parse_tag_list(";").status == TagListStatus::syntax_error);
    CHECK(parse_tag_list("a=1;;b=2").status == TagListStatus::syntax_error);
    CHECK(parse_tag_list("a").status == TagListStatus::syntax_error);
    CHECK(parse_tag_list("1a=x").status == TagListStatus::syntax_error);
    CHECK(parse_tag_list("a b=x").status == TagListStatus::syntax_error);
    CHECK(parse_tag_list("a=x\x01y").status == TagListStatus::syntax_error);
    CHECK(parse_tag_list("a=x\r\ny=1").status == TagListStatus::syntax_error);  // line break without WSP
    CHECK(parse_tag_list("a=1; a=2").status == TagListStatus::duplicate_tag);
    CHECK(parse_tag_list("A=1; a=2").status == TagListStatus::ok);  // names are case-sensitive
}
