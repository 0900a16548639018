// tests/fuzz/fuzz_socket_spec.cpp - libFuzzer target: SocketSpec::parse and its round trip.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/util/socket_spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string error;
    const auto spec = mailmoat::util::SocketSpec::parse(text, &error);
    if (!spec) return 0;
    // What we print must parse back to the same thing in both spellings.
    const auto again = mailmoat::util::SocketSpec::parse(spec->to_milter());
    if (!again || again->to_postfix() != spec->to_postfix()) std::abort();
    return 0;
}
