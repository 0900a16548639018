// common/milter/session.cpp - reply text helpers and body replacement chunking for milter sessions.
#include "common/milter/session.hpp"

#include <algorithm>

namespace mailmoat::milter {
namespace {

constexpr std::size_t max_reply_lines = 32;   // libmilter's smfi_setmlreply limit, kept
constexpr std::size_t max_reply_line = 900;   // keeps "xyz a.b.c " + line under RFC 5321's 512+ in practice
constexpr std::size_t max_packet_data = 65535;

bool digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::vector<std::string> reply_lines(std::string_view text) {
    std::vector<std::string> lines;
    if (text.empty()) return lines;
    std::string current;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\n') {
            lines.push_back(std::move(current));
            current.clear();
            continue;
        }
        if (c == '%') {
            current += "%%";
        } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
            continue;  // CRLF counts as one line break
        } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            current += ' ';
        } else {
            current += c;
        }
    }
    if (!current.empty() || lines.empty()) lines.push_back(std::move(current));
    return lines;
}

bool valid_reply(std::string_view rcode, std::string_view xcode, const std::vector<std::string>& lines) {
    if (rcode.size() != 3 || (rcode[0] != '4' && rcode[0] != '5') || !digit(rcode[1]) || !digit(rcode[2])) return false;
    if (!xcode.empty()) {
        // class "." subject "." detail, class equal to the reply code's first digit
        if (xcode[0] != rcode[0] || xcode.size() < 5 || xcode[1] != '.') return false;
        int dots = 0;
        std::size_t run = 0;
        for (std::size_t i = 2; i < xcode.size(); ++i) {
            if (xcode[i] == '.') {
                if (run == 0 || run > 3) return false;
                ++dots;
                run = 0;
            } else if (digit(xcode[i])) {
                ++run;
            } else {
                return false;
            }
        }
        if (dots != 1 || run == 0 || run > 3) return false;
    }
    if (lines.empty() || lines.size() > max_reply_lines) return false;
    return std::all_of(lines.begin(), lines.end(), [](const std::string& l) {
        return l.size() <= max_reply_line && l.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
    });
}

Outcome Modifier::replace_body(std::string_view data) {
    if (data.empty()) return ctx_.replace_body_chunk(data);
    while (!data.empty()) {
        const auto n = std::min(data.size(), max_packet_data);
        if (const auto r = ctx_.replace_body_chunk(data.substr(0, n)); r != Outcome::ok) return r;
        data.remove_prefix(n);
    }
    return Outcome::ok;
}

}  // namespace mailmoat::milter
