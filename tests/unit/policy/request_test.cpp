// tests/unit/policy/request_test.cpp - policy request parsing: attributes, bounds, splits, errors.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "common/policy/request.hpp"

using mailmoat::policy::Limits;
using mailmoat::policy::ParseResult;
using mailmoat::policy::Request;
using mailmoat::policy::RequestParser;
using Status = ParseResult::Status;

namespace {

// A request as Postfix 3.8 sends it at RCPT time, every attribute set.
const std::string full_request =
    "request=smtpd_access_policy\n"
    "protocol_state=RCPT\n"
    "protocol_name=ESMTP\n"
    "helo_name=mail.example.org\n"
    "queue_id=8045F2AB23\n"
    "sender=alice@example.org\n"
    "recipient=bob@example.net\n"
    "recipient_count=0\n"
    "client_address=2001:db8::25\n"
    "client_name=mail.example.org\n"
    "reverse_client_name=mail.example.org\n"
    "client_port=40512\n"
    "instance=123.456.7\n"
    "sasl_method=plain\n"
    "sasl_username=alice\n"
    "sasl_sender=\n"
    "size=12345\n"
    "ccert_subject=solaris9.porcupine.org\n"
    "ccert_issuer=Wietse+20Venema\n"
    "ccert_fingerprint=C2:9D:F4:87:71:73:73:D9:18:E7:C2:F3:C1:DA:6E:04\n"
    "ccert_pubkey_fingerprint=68:B3:29:DA:98:93:E3:40:99:C7:D8:AD:5C:B9:C9:40\n"
    "encryption_protocol=TLSv1.3\n"
    "encryption_cipher=TLS_AES_256_GCM_SHA384\n"
    "encryption_keysize=256\n"
    "etrn_domain=\n"
    "stress=yes\n"
    "server_address=192.0.2.10\n"
    "server_port=25\n"
    "policy_context=submission\n"
    "compatibility_level=3.6\n"
    "mail_version=3.8.1\n"
    "tls_sni=mx.example.net\n"
    "\n";

std::vector<Request> parse_all(RequestParser& parser, std::string_view bytes) {
    parser.feed(bytes);
    std::vector<Request> out;
    while (true) {
        auto r = parser.next();
        if (r.status != Status::complete) {
            REQUIRE(r.status == Status::need_more);
            return out;
        }
        out.push_back(std::move(r.request));
    }
}

ParseResult parse_error(std::string_view bytes, Limits limits = {}) {
    RequestParser parser(limits);
    parser.feed(bytes);
    ParseResult r = parser.next();
    while (r.status == Status::complete) r = parser.next();
    return r;
}

}  // namespace

TEST_CASE("every attribute Postfix sends is typed", "[policy]") {
    RequestParser parser;
    auto requests = parse_all(parser, full_request);
    REQUIRE(requests.size() == 1);
    const Request& r = requests[0];
    CHECK(r.request == "smtpd_access_policy");
    CHECK(r.protocol_state == "RCPT");
    CHECK(r.protocol_name == "ESMTP");
    CHECK(r.helo_name == "mail.example.org");
    CHECK(r.queue_id == "8045F2AB23");
    CHECK(r.sender == "alice@example.org");
    CHECK(r.recipient == "bob@example.net");
    CHECK(r.recipient_count == 0);
    REQUIRE(r.client_address);
    CHECK(r.client_address->is_v6());
    CHECK(r.client_address->to_string() == "2001:db8::25");
    CHECK(r.client_address_raw == "2001:db8::25");
    CHECK(r.client_name == "mail.example.org");
    CHECK(r.reverse_client_name == "mail.example.org");
    CHECK(r.client_port == 40512);
    CHECK(r.instance == "123.456.7");
    CHECK(r.sasl_method == "plain");
    CHECK(r.sasl_username == "alice");
    CHECK(r.sasl_sender.empty());
    CHECK(r.size == 12345);
    CHECK(r.ccert_subject == "solaris9.porcupine.org");
    CHECK(r.ccert_issuer == "Wietse+20Venema");
    CHECK(r.ccert_fingerprint == "C2:9D:F4:87:71:73:73:D9:18:E7:C2:F3:C1:DA:6E:04");
    CHECK(r.ccert_pubkey_fingerprint == "68:B3:29:DA:98:93:E3:40:99:C7:D8:AD:5C:B9:C9:40");
    CHECK(r.encryption_protocol == "TLSv1.3");
    CHECK(r.encryption_cipher == "TLS_AES_256_GCM_SHA384");
    CHECK(r.encryption_keysize == 256);
    CHECK(r.etrn_domain.empty());
    CHECK(r.stress == "yes");
    REQUIRE(r.server_address);
    CHECK(r.server_address->to_string() == "192.0.2.10");
    CHECK(r.server_address_raw == "192.0.2.10");
    CHECK(r.server_port == 25);
    CHECK(r.policy_context == "submission");
    CHECK(r.compatibility_level == "3.6");
    CHECK(r.mail_version == "3.8.1");
    CHECK(r.tls_sni == "mx.example.net");
    CHECK(r.attributes.size() == 32);
    REQUIRE(r.find("sasl_sender") != nullptr);
    CHECK(r.find("sasl_sender")->empty());
    CHECK(r.find("nonexistent") == nullptr);
    CHECK(r.get("recipient") == "bob@example.net");
}

TEST_CASE("unknown attributes are kept, odd values do not fail", "[policy]") {
    RequestParser parser;
    auto requests = parse_all(parser,
                              "request=smtpd_access_policy\nx_future_attr=a=b=c\nclient_address=not-an-ip\n"
                              "size=huge\nclient_port=99999\nsender=first\nsender=last\n\n");
    REQUIRE(requests.size() == 1);
    const Request& r = requests[0];
    CHECK(r.get("x_future_attr") == "a=b=c");
    CHECK_FALSE(r.client_address);
    CHECK(r.client_address_raw == "not-an-ip");
    CHECK(r.size == 0);
    CHECK(r.get("size") == "huge");
    CHECK(r.client_port == 0);
    CHECK(r.sender == "last");
    CHECK(r.get("sender") == "last");
}

TEST_CASE("IPv4-mapped client address is normalised, raw text kept", "[policy]") {
    RequestParser parser;
    auto requests = parse_all(parser, "client_address=::ffff:192.0.2.7\n\n");
    REQUIRE(requests.size() == 1);
    REQUIRE(requests[0].client_address);
    CHECK(requests[0].client_address->is_v4());
    CHECK(requests[0].client_address->to_string() == "192.0.2.7");
    CHECK(requests[0].client_address_raw == "::ffff:192.0.2.7");
}

TEST_CASE("a request split at every byte boundary parses the same", "[policy]") {
    const std::size_t chunk = GENERATE(1, 2, 3, 7, 64, 1000);
    RequestParser parser;
    std::vector<Request> got;
    for (std::size_t i = 0; i < full_request.size(); i += chunk) {
        auto part = parse_all(parser, std::string_view(full_request).substr(i, chunk));
        if (i + chunk < full_request.size()) CHECK(part.empty());
        for (auto& r : part) got.push_back(std::move(r));
    }
    REQUIRE(got.size() == 1);
    CHECK(got[0].recipient == "bob@example.net");
    CHECK(got[0].attributes.size() == 32);
    CHECK(parser.bytes_in_request() == 0);
}

TEST_CASE("several requests in one read come out one by one", "[policy]") {
    RequestParser parser;
    std::string bytes;
    for (int i = 0; i < 5; ++i) bytes += "protocol_state=RCPT\nrecipient=r" + std::to_string(i) + "@example.net\n\n";
    bytes += "protocol_state=DATA\n";  // start of a sixth
    auto requests = parse_all(parser, bytes);
    REQUIRE(requests.size() == 5);
    for (int i = 0; i < 5; ++i) CHECK(requests[static_cast<std::size_t>(i)].recipient == "r" + std::to_string(i) + "@example.net");
    CHECK(parser.bytes_in_request() == 20);
    auto rest = parse_all(parser, "recipient_count=2\n\n");
    REQUIRE(rest.size() == 1);
    CHECK(rest[0].protocol_state == "DATA");
    CHECK(rest[0].recipient_count == 2);
}

TEST_CASE("CRLF line ends are tolerated", "[policy]") {
    RequestParser parser;
    auto requests = parse_all(parser, "protocol_state=RCPT\r\nsender=a@b\r\n\r\n");
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].sender == "a@b");
    CHECK(requests[0].protocol_state == "RCPT");
}

TEST_CASE("malformed lines are errors with a reason and an excerpt", "[policy]") {
    auto [bytes, reason] = GENERATE(table<std::string, std::string>({
        {"request=smtpd_access_policy\ngarbage line\n\n", "line without '='"},
        {"=value\n\n", "empty attribute name"},
        {std::string("sender=a\0b\n\n", 12), "NUL byte in attribute"},
        {"\n", "empty request"},
    }));
    auto r = parse_error(bytes);
    INFO(bytes);
    CHECK(r.status == Status::error);
    CHECK(r.reason == reason);
}

TEST_CASE("the error excerpt is the offending line", "[policy]") {
    auto r = parse_error("sender=a\nGET / HTTP/1.0\n\n");
    REQUIRE(r.status == Status::error);
    CHECK(r.excerpt == "GET / HTTP/1.0");
}

TEST_CASE("line length bound: at the limit passes, one over fails, also before the newline arrives", "[policy]") {
    Limits limits;
    limits.max_line_length = 50;
    const std::string at_limit = "sender=" + std::string(43, 'a');  // 50 bytes
    {
        RequestParser parser(limits);
        auto requests = parse_all(parser, at_limit + "\n\n");
        REQUIRE(requests.size() == 1);
        CHECK(requests[0].sender.size() == 43);
    }
    CHECK(parse_error(at_limit + "a\n\n", limits).reason == "line longer than 50 bytes");
    // No newline yet: the parser must not wait for one once the line is too long.
    RequestParser parser(limits);
    parser.feed(at_limit);
    CHECK(parser.next().status == Status::need_more);
    parser.feed("b");
    auto r = parser.next();
    CHECK(r.status == Status::error);
    CHECK(r.reason == "line longer than 50 bytes");
    // The error sticks until reset.
    parser.feed("\n\n");
    CHECK(parser.next().status == Status::error);
    parser.reset();
    CHECK(parse_all(parser, "a=b\n\n").size() == 1);
}

TEST_CASE("the default line bound is 2048 bytes", "[policy]") {
    const std::string line = "helo_name=" + std::string(2048 - 10, 'h');
    RequestParser ok_parser;
    CHECK(parse_all(ok_parser, line + "\n\n").size() == 1);
    CHECK(parse_error(line + "h\n\n").reason == "line longer than 2048 bytes");
}

TEST_CASE("attribute count bound", "[policy]") {
    std::string bytes;
    for (int i = 0; i < 100; ++i) bytes += "a" + std::to_string(i) + "=v\n";
    {
        RequestParser parser;
        auto requests = parse_all(parser, bytes + "\n");
        REQUIRE(requests.size() == 1);
        CHECK(requests[0].attributes.size() == 100);
    }
    auto r = parse_error(bytes + "one_more=v\n\n");
    CHECK(r.status == Status::error);
    CHECK(r.reason == "more than 100 attributes");
}

TEST_CASE("request size bound, complete lines and a partial one", "[policy]") {
    Limits limits;
    limits.max_attributes = 1000;
    std::string bytes;
    while (bytes.size() < 16384 + 100) bytes += "x_attribute=" + std::string(88, 'v') + "\n";  // 101-byte lines
    auto r = parse_error(bytes + "\n", limits);
    CHECK(r.status == Status::error);
    CHECK(r.reason == "request larger than 16384 bytes");
    // A request that grows past the bound without a newline in sight.
    Limits small;
    small.max_request_size = 100;
    RequestParser parser(small);
    parser.feed("a=" + std::string(60, 'x') + "\nb=" + std::string(40, 'y'));
    auto p = parser.next();
    CHECK(p.status == Status::error);
    CHECK(p.reason == "request larger than 100 bytes");
}

TEST_CASE("request size bound counts each request separately", "[policy]") {
    Limits small;
    small.max_request_size = 64;
    RequestParser parser(small);
    std::string one = "recipient=" + std::string(40, 'r') + "\n\n";  // 52 bytes
    std::string bytes;
    for (int i = 0; i < 10; ++i) bytes += one;
    CHECK(parse_all(parser, bytes).size() == 10);
}

TEST_CASE("a recycled request carries nothing into the next one", "[policy]") {
    RequestParser parser;
    parser.feed(full_request);
    auto first = parser.next();
    REQUIRE(first.status == Status::complete);
    CHECK(first.request.attributes.size() == 32);
    parser.recycle(std::move(first.request));
    // The next request reuses the recycled one's storage: every field not sent must be back to its default.
    parser.feed("request=smtpd_access_policy\nsender=\nx_other=1\n\n");
    auto second = parser.next();
    REQUIRE(second.status == Status::complete);
    RequestParser fresh;
    fresh.feed("request=smtpd_access_policy\nsender=\nx_other=1\n\n");
    auto expected = fresh.next();
    REQUIRE(expected.status == Status::complete);
    const Request& a = second.request;
    const Request& b = expected.request;
    CHECK(a.attributes == b.attributes);
    CHECK(a.attributes.size() == 3);
    for (const auto& name : {"protocol_state", "protocol_name", "helo_name", "queue_id", "recipient", "client_name",
                             "reverse_client_name", "instance", "sasl_method", "sasl_username", "ccert_subject",
                             "ccert_issuer", "ccert_fingerprint", "ccert_pubkey_fingerprint", "encryption_protocol",
                             "encryption_cipher", "stress", "policy_context", "compatibility_level", "mail_version",
                             "tls_sni", "client_address", "server_address"})
        CHECK(a.find(name) == nullptr);
    CHECK(a.request == "smtpd_access_policy");
    CHECK(a.protocol_state.empty());
    CHECK(a.protocol_name.empty());
    CHECK(a.helo_name.empty());
    CHECK(a.queue_id.empty());
    CHECK(a.sender.empty());
    CHECK(a.recipient.empty());
    CHECK(a.recipient_count == 0);
    CHECK_FALSE(a.client_address);
    CHECK(a.client_address_raw.empty());
    CHECK(a.client_name.empty());
    CHECK(a.reverse_client_name.empty());
    CHECK(a.client_port == 0);
    CHECK(a.instance.empty());
    CHECK(a.sasl_method.empty());
    CHECK(a.sasl_username.empty());
    CHECK(a.sasl_sender.empty());
    CHECK(a.size == 0);
    CHECK(a.ccert_subject.empty());
    CHECK(a.ccert_issuer.empty());
    CHECK(a.ccert_fingerprint.empty());
    CHECK(a.ccert_pubkey_fingerprint.empty());
    CHECK(a.encryption_protocol.empty());
    CHECK(a.encryption_cipher.empty());
    CHECK(a.encryption_keysize == 0);
    CHECK(a.etrn_domain.empty());
    CHECK(a.stress.empty());
    CHECK_FALSE(a.server_address);
    CHECK(a.server_address_raw.empty());
    CHECK(a.server_port == 0);
    CHECK(a.policy_context.empty());
    CHECK(a.compatibility_level.empty());
    CHECK(a.mail_version.empty());
    CHECK(a.tls_sni.empty());
    CHECK(a.known_present == b.known_present);
}

TEST_CASE("a repeated name keeps its first position and takes the last value, recycled or not", "[policy]") {
    RequestParser parser;
    for (int round = 0; round < 3; ++round) {
        parser.feed("sender=a\nx_new=1\nrecipient=r\nsender=b\nx_new=2\nsize=5\nsize=7\n\n");
        auto r = parser.next();
        REQUIRE(r.status == Status::complete);
        const auto& at = r.request.attributes;
        REQUIRE(at.size() == 4);
        CHECK(at[0] == std::make_pair(std::string("sender"), std::string("b")));
        CHECK(at[1] == std::make_pair(std::string("x_new"), std::string("2")));
        CHECK(at[2] == std::make_pair(std::string("recipient"), std::string("r")));
        CHECK(at[3] == std::make_pair(std::string("size"), std::string("7")));
        CHECK(r.request.sender == "b");
        CHECK(r.request.size == 7);
        parser.recycle(std::move(r.request));
    }
}

TEST_CASE("recycled attribute storage: other orders, fewer and more attributes, long values", "[policy]") {
    RequestParser parser;
    const std::string long_value(1500, 'v');
    const std::vector<std::string> requests{
        full_request,
        "sender=s1\nrecipient=r1\n\n",
        "x_long=" + long_value + "\nrecipient=r2\nsender=s2\nclient_name=c2\n\n",
        full_request,
        "tls_sni=t\n\n",
    };
    for (int round = 0; round < 2; ++round) {
        for (const auto& text : requests) {
            parser.feed(text);
            auto got = parser.next();
            REQUIRE(got.status == Status::complete);
            RequestParser fresh;
            fresh.feed(text);
            auto want = fresh.next();
            REQUIRE(want.status == Status::complete);
            CHECK(got.request.attributes == want.request.attributes);
            CHECK(got.request.sender == want.request.sender);
            CHECK(got.request.recipient == want.request.recipient);
            CHECK(got.request.client_name == want.request.client_name);
            CHECK(got.request.tls_sni == want.request.tls_sni);
            CHECK(got.request.get("x_long") == want.request.get("x_long"));
            parser.recycle(std::move(got.request));
        }
    }
}
