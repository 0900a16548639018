// tests/fuzz/fuzz_dkim_signature.cpp - libFuzzer target: DKIM-Signature parsing, b= stripping,
// header canonicalization; a parsed signature rebuilt by the signer's builder must parse the same.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/crypto/base64.hpp"
#include "common/dkim/canonicalizer.hpp"
#include "common/dkim/signature.hpp"

using namespace mailmoat::dkim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    (void)strip_b_value(text);
    (void)canonicalize_header(Canon::simple, "DKIM-Signature", text);
    (void)canonicalize_header(Canon::relaxed, "DKIM-Signature", text);
    const auto p = parse_signature(text);
    if (p.status != SignatureStatus::ok) return 0;
    const Signature& s = p.signature;
    SignatureFields f;
    f.algorithm = s.algorithm;
    f.header_canon = s.header_canon;
    f.body_canon = s.body_canon;
    f.domain = s.domain;
    f.selector = s.selector;
    f.identity = s.identity;
    f.timestamp = s.timestamp;
    f.expiration = s.expiration;
    f.body_length = s.body_length;
    f.signed_headers = s.signed_headers;
    f.body_hash = s.body_hash;
    const auto again = parse_signature(build_signature_value(f, mailmoat::crypto::base64_encode(s.signature)));
    if (again.status != SignatureStatus::ok) std::abort();
    const Signature& t = again.signature;
    if (t.domain != s.domain || t.selector != s.selector || t.signed_headers != s.signed_headers ||
        t.signature != s.signature || t.body_hash != s.body_hash || t.identity != s.identity)
        std::abort();
    return 0;
}
