// common/grey/whitelist.hpp - client and recipient whitelists in postgrey's whitelist_clients / _recipients formats.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/ip_address.hpp"

namespace mailmoat::grey {

/// A compiled case-insensitive PCRE2 pattern (postgrey's /regex/ lines are Perl regexes).
class Pattern {
public:
    /// Throws std::invalid_argument with PCRE2's message for a bad pattern.
    explicit Pattern(std::string_view pattern);
    ~Pattern();
    Pattern(Pattern&&) noexcept;
    Pattern& operator=(Pattern&&) noexcept;
    /// True when the pattern matches somewhere in subject (a match error counts as no match).
    [[nodiscard]] bool matches(std::string_view subject) const;
    [[nodiscard]] const std::string& text() const noexcept { return text_; }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::string text_;
};

/// postgrey's whitelist_clients: one entry a line, '#' comments.
///   /regex/             matched against the client's verified host name
///   1.2.3.4, 1.2.3      an address, or its first 1-3 octets (a /8, /16, /24 network)
///   1.2.3.0/24, 2001:db8::/32, 2001:db8::1   CIDR networks and IPv6 addresses
///   example.com         the host name example.com and every name under it
/// Host-name entries apply only to a forward-confirmed name (Postfix's client_name, which is
/// "unknown" unless the PTR name resolves back to the client address), so a forged PTR cannot
/// whitelist itself.
class ClientWhitelist {
public:
    /// Reads a file. Throws config::ConfigError "PATH:LINE: problem" for an unreadable file, a bad
    /// regex or a bad network.
    void load_file(const std::string& path);
    /// Adds one entry (a line of the file). Returns an error text, or empty when added/ignored.
    [[nodiscard]] std::string add(std::string_view line);

    /// The entry that matched ("192.0.2.0/24", "example.com", "/^mx\d+\./"), or empty for none.
    /// client_name "unknown" or empty disables the host-name entries.
    [[nodiscard]] std::string match(const util::IpAddress& address, std::string_view client_name) const;
    [[nodiscard]] std::size_t size() const noexcept { return networks_.size() + names_.size() + patterns_.size(); }

private:
    std::vector<util::IpNetwork> networks_;
    std::vector<std::string> names_;  // lower-case
    std::vector<Pattern> patterns_;
};

/// postgrey's whitelist_recipients:
///   /regex/             matched against the whole recipient
///   postmaster@         that local-part at any domain
///   example.com, @example.com   any recipient at that domain or a subdomain of it
///   user@example.com    that address
class RecipientWhitelist {
public:
    void load_file(const std::string& path);
    [[nodiscard]] std::string add(std::string_view line);
    /// The entry that matched, or empty. Case-insensitive.
    [[nodiscard]] std::string match(std::string_view recipient) const;
    [[nodiscard]] std::size_t size() const noexcept {
        return locals_.size() + domains_.size() + addresses_.size() + patterns_.size();
    }

private:
    std::vector<std::string> locals_;
    std::vector<std::string> domains_;
    std::vector<std::string> addresses_;
    std::vector<Pattern> patterns_;
};

}  // namespace mailmoat::grey
