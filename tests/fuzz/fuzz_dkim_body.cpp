// tests/fuzz/fuzz_dkim_body.cpp - libFuzzer target: streaming body canonicalization must not depend
// on where the chunks are split (differential: one update vs three).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/dkim/canonicalizer.hpp"

using namespace mailmoat::dkim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 3) return 0;
    const Canon canon = (data[0] & 1) ? Canon::relaxed : Canon::simple;
    const std::string_view body(reinterpret_cast<const char*>(data) + 3, size - 3);
    const std::size_t a = body.empty() ? 0 : data[1] % (body.size() + 1);
    const std::size_t b = body.empty() ? 0 : a + data[2] % (body.size() - a + 1);
    BodyHasher whole(canon, mailmoat::crypto::HashAlgorithm::sha256);
    whole.update(body);
    BodyHasher parts(canon, mailmoat::crypto::HashAlgorithm::sha256);
    parts.update(body.substr(0, a));
    parts.update(body.substr(a, b - a));
    parts.update(body.substr(b));
    if (whole.finish() != parts.finish() || whole.canonical_length() != parts.canonical_length()) std::abort();
    return 0;
}
