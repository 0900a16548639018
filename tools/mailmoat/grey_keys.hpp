// tools/mailmoat/grey_keys.hpp - reading mailmoat-grey's store keys back into client, sender, recipient for the CLI.
#pragma once
#include <string>
#include <string_view>

namespace mailmoat::cli::grey_keys {

/// An entry key as common/grey builds it: "n:GROUP/SENDER/RECIPIENT" (client network or address),
/// "s:DOMAIN/SENDER/RECIPIENT" (SPF-authenticated sender domain) or "h:HEX" (privacy mode).
struct EntryKey {
    std::string kind;  // "network", "exact", "spf", "hashed" or "unknown"
    std::string client;  // the group ("192.0.2.0/24", "2001:db8::1") or the SPF domain; empty when hashed
    std::string sender;  // normalised; empty for the null sender
    std::string recipient;
};

/// Splits a key. A key of another shape is kind "unknown" with the whole key as client. Sender and
/// recipient are the last two '/'-separated fields (a '/' inside a sender's local part is not told
/// apart).
[[nodiscard]] EntryKey parse_entry_key(std::string_view key);

/// The client group of an auto-whitelist counter key ("c:GROUP"); a hashed key as it is.
[[nodiscard]] std::string client_of_counter(std::string_view key);

/// What `mailmoat grey list/delete` select by; empty fields select everything.
struct Filter {
    std::string client;     // an address (inside the entry's network), a network or SPF domain (equal)
    std::string sender;     // case-insensitive substring of the sender
    std::string recipient;  // case-insensitive substring of the recipient
    std::string domain;     // the SPF key's domain or a parent of it; or the sender's / recipient's domain
    std::string key;        // substring of the raw key (the only way to select hashed entries)
    [[nodiscard]] bool empty() const noexcept {
        return client.empty() && sender.empty() && recipient.empty() && domain.empty() && key.empty();
    }
};

/// A network in canonical form: host bits cleared ("192.0.2.7/24" -> "192.0.2.0/24"), a full-length
/// prefix as the bare address. Returns "" for text that is not an address or network.
[[nodiscard]] std::string canonical_network(std::string_view text);

/// True when the client part (group or SPF domain) matches `wanted` as Filter::client says; true for
/// an empty `wanted`.
[[nodiscard]] bool client_matches(std::string_view client, std::string_view wanted);
/// True when every non-empty field of the filter matches.
[[nodiscard]] bool matches(const EntryKey& k, std::string_view raw_key, const Filter& f);

}  // namespace mailmoat::cli::grey_keys
