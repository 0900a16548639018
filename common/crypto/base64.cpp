// common/crypto/base64.cpp - strict base64 encoder/decoder.
#include "common/crypto/base64.hpp"

#include <array>
#include <cstdint>

namespace mailmoat::crypto {
namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> make_table() {
    std::array<std::int8_t, 256> t{};
    for (auto& v : t) v = -1;
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
    return t;
}
constexpr auto table = make_table();

}  // namespace

std::string base64_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                                (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                                static_cast<unsigned char>(bytes[i + 2]);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    const std::size_t rest = bytes.size() - i;
    if (rest == 1) {
        const std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += "==";
    } else if (rest == 2) {
        const std::uint32_t v =
            (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    std::string clean;
    clean.reserve(text.size());
    for (const char c : text) {
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
        clean += c;
    }
    if (clean.size() % 4 != 0) return std::nullopt;
    std::string out;
    out.reserve(clean.size() / 4 * 3);
    for (std::size_t i = 0; i < clean.size(); i += 4) {
        const bool last = i + 4 == clean.size();
        int pad = 0;
        std::uint32_t acc = 0;
        for (std::size_t j = 0; j < 4; ++j) {
            const char c = clean[i + j];
            if (c == '=') {
                if (!last || j < 2) return std::nullopt;
                ++pad;
                acc <<= 6;
                continue;
            }
            const int v = table[static_cast<unsigned char>(c)];
            if (v < 0 || pad > 0) return std::nullopt;  // bad character, or data after '='
            acc = (acc << 6) | static_cast<std::uint32_t>(v);
        }
        out += static_cast<char>((acc >> 16) & 0xff);
        if (pad == 2) {
            if (((acc >> 8) & 0xff) != 0) return std::nullopt;  // non-canonical trailing bits
        } else {
            out += static_cast<char>((acc >> 8) & 0xff);
        }
        if (pad >= 1) {
            if ((acc & 0xff) != 0) return std::nullopt;
        } else {
            out += static_cast<char>(acc & 0xff);
        }
    }
    return out;
}

}  // namespace mailmoat::crypto
