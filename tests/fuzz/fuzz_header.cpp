// tests/fuzz/fuzz_header.cpp - libFuzzer target: header block parsing, unfolding and folding.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/mail/header.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto block = mailmoat::mail::parse_header_block(text);
    if (block.body_offset > text.size()) std::abort();
    for (const auto& f : block.fields) {
        if (f.name.empty()) std::abort();
        const std::string u = f.unfolded();
        if (u.find("\n ") != std::string::npos || u.find("\n\t") != std::string::npos) std::abort();
        (void)mailmoat::mail::fold_header(f.name, u);
    }
    return 0;
}
