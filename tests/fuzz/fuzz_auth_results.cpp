// tests/fuzz/fuzz_auth_results.cpp - libFuzzer target: Authentication-Results parsing; what parses must
// survive build and parse again unchanged.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/mail/auth_results.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto first = mailmoat::mail::parse_auth_results(text);
    if (first.status != mailmoat::mail::ParsedAuthResults::Status::ok) return 0;
    const std::string field = mailmoat::mail::auth_results_field(first.value);
    const auto second = mailmoat::mail::parse_auth_results(std::string_view(field).substr(field.find(':') + 1));
    if (second.status != mailmoat::mail::ParsedAuthResults::Status::ok) std::abort();
    if (!(second.value == first.value)) std::abort();
    return 0;
}
