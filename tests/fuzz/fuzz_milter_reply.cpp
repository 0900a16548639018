// tests/fuzz/fuzz_milter_reply.cpp - libFuzzer target: milter reply stream decoding, negotiation and
// modification parsing (what MilterClient reads from a milter), and the reply-text helpers.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/milter/milter_client.hpp"
#include "common/milter/session.hpp"

using namespace mailmoat::milter;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    for (int n = 0; n < 1000 && !in.empty(); ++n) {
        wire::Packet p;
        std::size_t used = 0;
        const auto d = wire::decode(in, 1 << 16, &p, &used);
        if (d != wire::Decode::ok) break;
        if (used < 5 || used > in.size() || used != 5 + p.data.size()) std::abort();
        // Re-encoding gives back the same bytes.
        if (wire::packet(p.command, p.data) != in.substr(0, used)) std::abort();
        in.remove_prefix(used);
        if (const auto neg = wire::parse_optneg(p)) {
            for (const auto& [stage, names] : neg->macro_lists)
                if (stage < 0 || stage > 6) std::abort();
        }
        if (const auto m = parse_modification(p)) {
            if (m->kind == Modification::Kind::add_header &&
                parse_modification({'h', m->name + std::string(1, '\0') + m->value + std::string(1, '\0')}) != m)
                std::abort();
        }
    }
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto lines = reply_lines(text);
    for (const auto& l : lines)
        if (l.find_first_of(std::string_view("\r\n", 2)) != std::string::npos) std::abort();
    (void)valid_reply("550", "5.7.1", lines);
    return 0;
}
