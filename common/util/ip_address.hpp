// common/util/ip_address.hpp - IPv4/IPv6 address value with parsing, formatting and prefix matching.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mailmoat::util {

/// An IP address. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are normalised to IPv4 on parse,
/// as RFC 7208 §5 and Postfix's client_address handling expect.
class IpAddress {
public:
    IpAddress() = default;

    /// Parses "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1", "[2001:db8::1]" and "IPv6:2001:db8::1".
    /// Returns nullopt for anything else (no host names, no ports, no zone ids).
    [[nodiscard]] static std::optional<IpAddress> parse(std::string_view text);
    [[nodiscard]] static IpAddress v4(std::uint32_t host_order);
    [[nodiscard]] static IpAddress from_bytes(const std::uint8_t* bytes, bool is_v4);

    [[nodiscard]] bool is_v4() const noexcept { return v4_; }
    [[nodiscard]] bool is_v6() const noexcept { return !v4_; }
    /// 4 or 16 significant bytes (IPv4 uses bytes()[0..3]).
    [[nodiscard]] const std::array<std::uint8_t, 16>& bytes() const noexcept { return bytes_; }
    [[nodiscard]] unsigned bit_length() const noexcept { return v4_ ? 32U : 128U; }

    /// Canonical text: dotted quad, or RFC 5952 compressed IPv6.
    [[nodiscard]] std::string to_string() const;
    /// Reverse-DNS name: "1.2.0.192.in-addr.arpa" or nibble form under ip6.arpa (no trailing dot).
    [[nodiscard]] std::string reverse_name() const;
    /// RFC 7208 %{i} form: dotted quad, or dot-separated nibbles for IPv6.
    [[nodiscard]] std::string spf_macro_form() const;

    /// True when the first prefix_len bits equal those of network and the families match.
    /// prefix_len larger than the family's bit length never matches.
    [[nodiscard]] bool in_network(const IpAddress& network, unsigned prefix_len) const noexcept;
    /// This address with all bits after prefix_len cleared.
    [[nodiscard]] IpAddress masked(unsigned prefix_len) const noexcept;

    friend bool operator==(const IpAddress&, const IpAddress&) = default;
    friend auto operator<=>(const IpAddress&, const IpAddress&) = default;

private:
    std::array<std::uint8_t, 16> bytes_{};
    bool v4_ = true;
};

/// A network "addr/len" (len defaults to the full length). nullopt on bad syntax or len out of range.
struct IpNetwork {
    IpAddress address;
    unsigned prefix_len = 32;
    [[nodiscard]] static std::optional<IpNetwork> parse(std::string_view text);
    [[nodiscard]] bool contains(const IpAddress& a) const noexcept { return a.in_network(address, prefix_len); }
    [[nodiscard]] std::string to_string() const;
};

}  // namespace mailmoat::util
