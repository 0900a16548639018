// common/util/ip_address.cpp - IpAddress parsing/formatting via inet_pton/inet_ntop, prefix matching.
#include "common/util/ip_address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace mailmoat::util {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
    if (text.size() > 5 && (text.substr(0, 5) == "IPv6:" || text.substr(0, 5) == "ipv6:")) text = text.substr(5);
    if (text.empty() || text.size() > 45) return std::nullopt;
    char buf[64];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    IpAddress out;
    in_addr a4{};
    if (text.find(':') == std::string_view::npos) {
        if (inet_pton(AF_INET, buf, &a4) != 1) return std::nullopt;
        std::memcpy(out.bytes_.data(), &a4, 4);
        out.v4_ = true;
        return out;
    }
    in6_addr a6{};
    if (inet_pton(AF_INET6, buf, &a6) != 1) return std::nullopt;
    static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(&a6, mapped, 12) == 0) {
        std::memcpy(out.bytes_.data(), reinterpret_cast<const std::uint8_t*>(&a6) + 12, 4);
        out.v4_ = true;
        return out;
    }
    std::memcpy(out.bytes_.data(), &a6, 16);
    out.v4_ = false;
    return out;
}

IpAddress IpAddress::v4(std::uint32_t host_order) {
    IpAddress out;
    out.bytes_[0] = static_cast<std::uint8_t>(host_order >> 24);
    out.bytes_[1] = static_cast<std::uint8_t>(host_order >> 16);
    out.bytes_[2] = static_cast<std::uint8_t>(host_order >> 8);
    out.bytes_[3] = static_cast<std::uint8_t>(host_order);
    out.v4_ = true;
    return out;
}

IpAddress IpAddress::from_bytes(const std::uint8_t* bytes, bool is_v4) {
    IpAddress out;
    std::memcpy(out.bytes_.data(), bytes, is_v4 ? 4 : 16);
    out.v4_ = is_v4;
    return out;
}

std::string IpAddress::to_string() const {
    if (v4_) {  // dotted quad by hand: inet_ntop formats IPv4 with sprintf, and this runs per request
        char buf[16];
        std::size_t n = 0;
        for (std::size_t i = 0; i < 4; ++i) {
            const unsigned b = bytes_[i];
            if (i > 0) buf[n++] = '.';
            if (b >= 100) buf[n++] = static_cast<char>('0' + b / 100);
            if (b >= 10) buf[n++] = static_cast<char>('0' + b / 10 % 10);
            buf[n++] = static_cast<char>('0' + b % 10);
        }
        return std::string(buf, n);
    }
    char buf[INET6_ADDRSTRLEN];
    if (inet_ntop(v4_ ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof buf) == nullptr) return {};
    return buf;
}

namespace {
constexpr char hex_digits[] = "0123456789abcdef";
}

std::string IpAddress::reverse_name() const {
    std::string out;
    if (v4_) {
        for (int i = 3; i >= 0; --i) {
            out += std::to_string(bytes_[static_cast<std::size_t>(i)]);
            out += '.';
        }
        return out + "in-addr.arpa";
    }
    for (int i = 15; i >= 0; --i) {
        const auto b = bytes_[static_cast<std::size_t>(i)];
        out += hex_digits[b & 0xf];
        out += '.';
        out += hex_digits[b >> 4];
        out += '.';
    }
    return out + "ip6.arpa";
}

std::string IpAddress::spf_macro_form() const {
    if (v4_) return to_string();
    std::string out;
    for (std::size_t i = 0; i < 16; ++i) {
        if (i) out += '.';
        out += hex_digits[bytes_[i] >> 4];
        out += '.';
        out += hex_digits[bytes_[i] & 0xf];
    }
    return out;
}

bool IpAddress::in_network(const IpAddress& network, unsigned prefix_len) const noexcept {
    if (v4_ != network.v4_ || prefix_len > bit_length()) return false;
    const unsigned full = prefix_len / 8;
    const unsigned rest = prefix_len % 8;
    if (std::memcmp(bytes_.data(), network.bytes_.data(), full) != 0) return false;
    if (rest == 0) return true;
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (bytes_[full] & mask) == (network.bytes_[full] & mask);
}

IpAddress IpAddress::masked(unsigned prefix_len) const noexcept {
    IpAddress out = *this;
    const unsigned len = bit_length() / 8;
    for (unsigned i = 0; i < len; ++i) {
        const unsigned bit = i * 8;
        if (bit >= prefix_len) {
            out.bytes_[i] = 0;
        } else if (prefix_len - bit < 8) {
            out.bytes_[i] &= static_cast<std::uint8_t>(0xff << (8 - (prefix_len - bit)));
        }
    }
    return out;
}

std::optional<IpNetwork> IpNetwork::parse(std::string_view text) {
    const auto slash = text.find('/');
    auto addr = IpAddress::parse(text.substr(0, slash));
    if (!addr) return std::nullopt;
    IpNetwork net{*addr, addr->bit_length()};
    if (slash != std::string_view::npos) {
        const auto len_text = text.substr(slash + 1);
        unsigned len = 0;
        const auto* end = len_text.data() + len_text.size();
        auto [p, ec] = std::from_chars(len_text.data(), end, len);
        if (len_text.empty() || ec != std::errc{} || p != end || len > addr->bit_length()) return std::nullopt;
        // "::ffff:1.2.3.4/104" is an IPv4 network /8 after normalisation.
        if (addr->is_v4() && text.substr(0, slash).find(':') != std::string_view::npos) {
            if (len < 96) return std::nullopt;
            len -= 96;
        }
        net.prefix_len = len;
    }
    return net;
}

std::string IpNetwork::to_string() const {
    return address.to_string() + "/" + std::to_string(prefix_len);
}

}  // namespace mailmoat::util
