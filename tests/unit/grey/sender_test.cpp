// tests/unit/grey/sender_test.cpp - sender normalisation: case, BATV, SRS0/SRS1, +ext, VERP numbers, rules off.
#include <catch2/catch.hpp>

#include "common/grey/sender.hpp"

using mailmoat::grey::normalise_sender;
using mailmoat::grey::SenderRules;

TEST_CASE("normalise_sender with every rule", "[grey][sender]") {
    auto [in, out] = GENERATE(table<const char*, const char*>({
        {"", ""},
        {"User@Example.COM", "user@example.com"},
        {"prvs=1234abcdef=user@example.com", "user@example.com"},
        {"PRVS=0123456789=Bounce@Example.com", "bounce@example.com"},
        {"msprvs1=17abcdef=user@example.com", "user@example.com"},
        {"btv1==123abcd==user@example.com", "user@example.com"},
        {"SRS0=HHH=TT=orig.example=alice@forwarder.example", "alice@orig.example"},
        {"srs0+abcd=zz=orig.example=alice@fwd.example", "alice@orig.example"},
        {"SRS1=HHH=first.example==HHH=TT=orig.example=alice@second.example", "alice@orig.example"},
        {"SRS0=HHH=TT=orig.example=prvs=1234=alice@fwd.example", "alice@orig.example"},
        {"user+tag@example.com", "user@example.com"},
        {"bounces+12345-abc@lists.example", "bounces@lists.example"},
        {"bounce-12345-67@lists.example", "bounce-#-#@lists.example"},
        {"msg.2024.77@example.com", "msg.#.#@example.com"},
        {"user42@example.com", "user42@example.com"},  // digits inside a word stay
        {"42@example.com", "#@example.com"},
        {"no-at-sign", "no-at-sign"},
        {"prvs=@example.com", "prvs=@example.com"},  // malformed BATV left alone
        {"SRS0=broken@fwd.example", "srs0=broken@fwd.example"},
        {"+only@example.com", "+only@example.com"},  // an empty local-part is not made
    }));
    CAPTURE(in);
    CHECK(normalise_sender(in) == out);
}

TEST_CASE("normalise_sender honours rules switched off", "[grey][sender]") {
    SenderRules none{false, false, false, false};
    CHECK(normalise_sender("prvs=12ab=User+x-77@Example.com", none) == "prvs=12ab=user+x-77@example.com");
    SenderRules only_ext{false, false, true, false};
    CHECK(normalise_sender("bounce-77+x@example.com", only_ext) == "bounce-77@example.com");
    SenderRules no_srs{true, false, true, true};
    CHECK(normalise_sender("SRS0=HHH=TT=orig.example=alice@fwd.example", no_srs) ==
          "srs0=hhh=tt=orig.example=alice@fwd.example");
}
