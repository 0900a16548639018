// tests/fuzz/fuzz_address.cpp - libFuzzer target: address lists, RFC 2047 decoding, domains, envelope paths.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/mail/address.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto list = mailmoat::mail::parse_address_list(text);
    if (list.status == mailmoat::mail::AddressList::Status::invalid && list.error.empty()) std::abort();
    for (const auto& m : list.mailboxes) {
        // A normalised domain normalises to itself.
        const auto again = mailmoat::mail::normalize_domain(m.domain);
        if (again.status != mailmoat::mail::DomainResult::Status::ok || again.domain != m.domain) std::abort();
    }
    (void)mailmoat::mail::decode_encoded_words(text);
    (void)mailmoat::mail::envelope_domain(text);
    return 0;
}
