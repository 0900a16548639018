// tests/fuzz/fuzz_policy_action.cpp - libFuzzer target: policy answer text is always one bounded, clean UTF-8 line.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/policy/action.hpp"

namespace {

bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > s.size()) return false;
        for (std::size_t k = 1; k < len; ++k)
            if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
        i += len;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using mailmoat::policy::Action;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    for (const Action& a : {Action::reject(text), Action::raw(text), Action::defer_if_permit(text), Action::redirect(text)}) {
        const std::string wire = a.wire();
        if (!wire.starts_with("action=") || !wire.ends_with("\n\n")) std::abort();
        const std::string_view line(wire.data(), wire.size() - 2);
        for (const char ch : line) {
            const auto c = static_cast<unsigned char>(ch);
            if (c < 0x20 || c == 0x7f) std::abort();
        }
        if (!valid_utf8(line)) std::abort();
        if (a.text().size() > Action::max_text_length + 40) std::abort();
        if (a.text().empty()) std::abort();
    }
    return 0;
}
