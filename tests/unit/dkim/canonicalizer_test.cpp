// tests/unit/dkim/canonicalizer_test.cpp - RFC 6376 §3.4 canonicalization: RFC examples, chunking, edge cases.
#include <catch2/catch.hpp>

#include <string>

#include "common/crypto/base64.hpp"
#include "common/crypto/digest.hpp"
#include "common/dkim/canonicalizer.hpp"

using mailmoat::crypto::Digest;
using mailmoat::crypto::HashAlgorithm;
using mailmoat::dkim::BodyHasher;
using mailmoat::dkim::Canon;
using mailmoat::dkim::canonicalize_header;

namespace {

/// Independent whole-body reference: split into CRLF lines, transform, drop trailing empty lines.
std::string reference_body(Canon c, const std::string& body) {
    std::vector<std::string> lines;
    std::size_t pos = 0;
    bool last_terminated = true;
    while (pos < body.size()) {
        const auto crlf = body.find("\r\n", pos);
        if (crlf == std::string::npos) {
            lines.push_back(body.substr(pos));
            last_terminated = false;
            break;
        }
        lines.push_back(body.substr(pos, crlf - pos));
        pos = crlf + 2;
    }
    (void)last_terminated;  // a missing final CRLF is added either way
    if (c == Canon::relaxed) {
        for (auto& l : lines) {
            std::string out;
            bool ws = false;
            for (char ch : l) {
                if (ch == ' ' || ch == '\t') {
                    ws = true;
                    continue;
                }
                if (ws) out += ' ';
                ws = false;
                out += ch;
            }
            l = out;  // trailing whitespace dropped by never emitting the pending space
        }
    }
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    std::string out;
    for (auto& l : lines) out += l + "\r\n";
    if (out.empty() && c == Canon::simple) out = "\r\n";
    return out;
}

std::string hash_in_chunks(Canon c, const std::string& body, std::size_t split1, std::size_t split2 = std::string::npos) {
    BodyHasher h(c, HashAlgorithm::sha256);
    split1 = std::min(split1, body.size());
    split2 = std::min(std::max(split2, split1), body.size());
    h.update(body.substr(0, split1));
    h.update(body.substr(split1, split2 - split1));
    h.update(body.substr(split2));
    return h.finish();
}

std::string sha(const std::string& s) { return Digest::of(HashAlgorithm::sha256, s); }

}  // namespace

TEST_CASE("RFC 6376 §3.4.5 example: relaxed and simple headers", "[dkim][canon]") {
    CHECK(canonicalize_header(Canon::relaxed, "A", " X") == "a:X\r\n");
    CHECK(canonicalize_header(Canon::relaxed, "B ", " Y\t\r\n\tZ  ") == "b:Y Z\r\n");
    CHECK(canonicalize_header(Canon::simple, "A", " X") == "A: X\r\n");
    CHECK(canonicalize_header(Canon::simple, "B ", " Y\t\r\n\tZ  ") == "B : Y\t\r\n\tZ  \r\n");
}

TEST_CASE("RFC 6376 §3.4.5 example: relaxed and simple body", "[dkim][canon]") {
    const std::string body = " C \r\nD \t E\r\n\r\n\r\n";
    BodyHasher relaxed(Canon::relaxed, HashAlgorithm::sha256);
    relaxed.update(body);
    CHECK(relaxed.finish() == sha(" C\r\nD E\r\n"));
    CHECK(relaxed.canonical_length() == 9);
    BodyHasher simple(Canon::simple, HashAlgorithm::sha256);
    simple.update(body);
    CHECK(simple.finish() == sha(" C \r\nD \t E\r\n"));
}

TEST_CASE("relaxed header details", "[dkim][canon]") {
    CHECK(canonicalize_header(Canon::relaxed, "Subject", "   hello   world \t ") == "subject:hello world\r\n");
    CHECK(canonicalize_header(Canon::relaxed, "SUBJECT", "") == "subject:\r\n");
    CHECK(canonicalize_header(Canon::relaxed, "To", " a@b,\r\n  c@d") == "to:a@b, c@d\r\n");
    // A bare LF as folding is treated like CRLF (what some MTAs hand to milters).
    CHECK(canonicalize_header(Canon::relaxed, "To", " a@b,\n c@d") == "to:a@b, c@d\r\n");
    CHECK(canonicalize_header(Canon::simple, "To", " a@b,\n c@d") == "To: a@b,\r\n c@d\r\n");
    CHECK(canonicalize_header(Canon::simple, "To", " a@b,\r\n c@d") == "To: a@b,\r\n c@d\r\n");
    // 8-bit octets pass through untouched.
    CHECK(canonicalize_header(Canon::relaxed, "Subject", " Gr\xc3\xbc\xc3\x9f""e") == "subject:Gr\xc3\xbc\xc3\x9f""e\r\n");
}

TEST_CASE("empty bodies (RFC 6376 §3.4.3, §3.4.4)", "[dkim][canon]") {
    // Well-known digests: SHA-256 of CRLF and of the empty string.
    const std::string crlf_b64 = "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=";
    const std::string empty_b64 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    for (const std::string body : {"", "\r\n", "\r\n\r\n\r\n"}) {
        BodyHasher s(Canon::simple, HashAlgorithm::sha256);
        s.update(body);
        CHECK(mailmoat::crypto::base64_encode(s.finish()) == crlf_b64);
        BodyHasher r(Canon::relaxed, HashAlgorithm::sha256);
        r.update(body);
        CHECK(mailmoat::crypto::base64_encode(r.finish()) == empty_b64);
    }
    // Whitespace-only lines are empty after relaxed canonicalization, so they are trailing too.
    BodyHasher r(Canon::relaxed, HashAlgorithm::sha256);
    r.update(" \t\r\n  \r\n");
    CHECK(mailmoat::crypto::base64_encode(r.finish()) == empty_b64);
    BodyHasher s(Canon::simple, HashAlgorithm::sha256);
    s.update(" \t\r\n  \r\n");
    CHECK(s.finish() == sha(" \t\r\n  \r\n"));
}

TEST_CASE("missing final CRLF is supplied, trailing WSP of last line", "[dkim][canon]") {
    BodyHasher s(Canon::simple, HashAlgorithm::sha256);
    s.update("abc  ");
    CHECK(s.finish() == sha("abc  \r\n"));
    BodyHasher r(Canon::relaxed, HashAlgorithm::sha256);
    r.update("abc  \t");
    CHECK(r.finish() == sha("abc\r\n"));
    BodyHasher r2(Canon::relaxed, HashAlgorithm::sha256);
    r2.update("abc\r\n\r\n  x \r\n\r\n");
    CHECK(r2.finish() == sha("abc\r\n\r\n x\r\n"));
}

TEST_CASE("lone CR and LF are data", "[dkim][canon]") {
    BodyHasher s(Canon::simple, HashAlgorithm::sha256);
    s.update("a\rb\nc\r\n\r");
    CHECK(s.finish() == sha("a\rb\nc\r\n\r\r\n"));
    BodyHasher r(Canon::relaxed, HashAlgorithm::sha256);
    r.update("a \r b\r\n");
    CHECK(r.finish() == sha("a \r b\r\n"));
}

TEST_CASE("chunk boundaries at every position agree with the reference", "[dkim][canon]") {
    const std::string bodies[] = {
        " C \r\nD \t E\r\n\r\n\r\n",
        "line one\r\n\r\n\r\nline  two \t\r\n \r\n\t\r\nlast",
        "\r\n\r\nstarts with empty lines\r\n",
        "x\r\r\n\r\n \r\n",
        "trailing wsp   \r\n   \r\n",
        "8bit \xe4\xf6\xfc  \xff\r\n",
    };
    for (const auto& body : bodies) {
        for (const Canon c : {Canon::simple, Canon::relaxed}) {
            const std::string expected = sha(reference_body(c, body));
            for (std::size_t i = 0; i <= body.size(); ++i) {
                for (std::size_t j = i; j <= body.size(); ++j) {
                    INFO("canon " << mailmoat::dkim::canon_name(c) << " splits " << i << "," << j);
                    REQUIRE(hash_in_chunks(c, body, i, j) == expected);
                }
            }
            // One byte at a time.
            BodyHasher h(c, HashAlgorithm::sha256);
            for (char ch : body) h.update(std::string(1, ch));
            CHECK(h.finish() == expected);
        }
    }
}

TEST_CASE("large body streams in odd chunk sizes", "[dkim][canon]") {
    std::string body;
    for (int i = 0; i < 5000; ++i) body += "line " + std::to_string(i) + (i % 7 == 0 ? "  \t \r\n" : "\r\n") + (i % 13 == 0 ? "\r\n" : "");
    body += "\r\n\r\n";
    for (const Canon c : {Canon::simple, Canon::relaxed}) {
        const std::string expected = sha(reference_body(c, body));
        for (std::size_t chunk : {1u, 2u, 3u, 7u, 64u, 4093u, 65536u}) {
            BodyHasher h(c, HashAlgorithm::sha256);
            for (std::size_t p = 0; p < body.size(); p += chunk) h.update(std::string_view(body).substr(p, chunk));
            CHECK(h.finish() == expected);
        }
    }
}

TEST_CASE("l= limits the hashed octets, canonical_length counts all", "[dkim][canon]") {
    const std::string body = "Hello\r\nWorld\r\n\r\n";
    BodyHasher h(Canon::simple, HashAlgorithm::sha256, 7);
    h.update(body);
    CHECK(h.finish() == sha("Hello\r\n"));
    CHECK(h.canonical_length() == 14);
    BodyHasher z(Canon::relaxed, HashAlgorithm::sha256, 0);
    z.update(body);
    CHECK(z.finish() == sha(""));
    BodyHasher big(Canon::relaxed, HashAlgorithm::sha256, 1000);
    big.update(body);
    CHECK(big.finish() == sha("Hello\r\nWorld\r\n"));
    CHECK(big.canonical_length() == 14);
}

TEST_CASE("SHA-1 body hash for rsa-sha1 reporting", "[dkim][canon]") {
    BodyHasher h(Canon::simple, HashAlgorithm::sha1);
    h.update("");
    // SHA-1 of CRLF, as in RFC 6376 examples of empty simple bodies.
    CHECK(mailmoat::crypto::base64_encode(h.finish()) == "uoq1oCgLlTqpdDX/iUbLy7J1Wic=");
}
