// tests/fuzz/fuzz_log_escape.cpp - libFuzzer target: log::escape never emits control bytes or unbounded output.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/log/logger.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto out = mailmoat::log::escape(text, 64);
    if (out.size() > 64 * 4 + 8) std::abort();
    for (const char c : out) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f) std::abort();
    }
    return 0;
}
