// common/checks/blocklist.hpp - the managed blocklist of `mailmoat checks block`: the keys mailmoat-checks
// derives from a message and its envelope ("subject=...", "client-ip=..."), PCRE quoting, and the
// managed pcre table file (entries with stable ids, append, remove, list).
#pragma once
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailmoat::checks {

/// What a blocklist entry matches. sender and client-ip come from the SMTP envelope (MAIL FROM, the
/// client address the MTA gives the milter), the others from the message headers.
enum class BlockBy { sender, from_domain, subject, client_ip, message_id_domain };
inline constexpr std::array<BlockBy, 5> all_block_by{BlockBy::client_ip, BlockBy::sender, BlockBy::from_domain,
                                                     BlockBy::message_id_domain, BlockBy::subject};

/// "sender", "from-domain", "subject", "client-ip", "message-id-domain".
[[nodiscard]] const char* block_by_name(BlockBy by) noexcept;
/// The inverse of block_by_name(); nullopt for anything else.
[[nodiscard]] std::optional<BlockBy> parse_block_by(std::string_view name) noexcept;

/// The Subject as keyed: unfolded (RFC 5322 §2.2.3), RFC 2047 encoded words decoded to UTF-8, leading
/// and trailing whitespace removed, other control characters turned into spaces. Never fails.
[[nodiscard]] std::string subject_value(std::string_view raw_value);
/// The domain of the first mailbox of a From value (RFC 5322 §3.6.2), normalised (lower case, A-labels).
/// nullopt when the value has no mailbox.
[[nodiscard]] std::optional<std::string> from_domain_value(std::string_view raw_value);
/// The lower-case part after the last '@' of a Message-ID (RFC 5322 §3.6.4 id-right); nullopt without '@'.
[[nodiscard]] std::optional<std::string> message_id_domain_value(std::string_view raw_value);
/// The MAIL FROM address without angle brackets (RFC 5321 §4.1.2 reverse-path); nullopt for the null
/// sender "<>" and for an empty or overlong (> 1024 bytes) argument.
[[nodiscard]] std::optional<std::string> sender_value(std::string_view mail_from);
/// The client address in canonical text form; nullopt when it is not an IP address.
[[nodiscard]] std::optional<std::string> client_ip_value(std::string_view ip);

/// The lookup key of a value: "subject=Cheap pills", "client-ip=192.0.2.1".
[[nodiscard]] std::string blocklist_key(BlockBy by, std::string_view value);

/// Quotes text for a PCRE pattern inside a pcre table: every ASCII character that is not a letter or a
/// digit gets a backslash (so the table delimiter '/' and all metacharacters are literal), control
/// characters and DEL become \xHH, bytes >= 0x80 (UTF-8) are kept as they are (matched byte for byte).
[[nodiscard]] std::string pcre_quote(std::string_view text);

/// The table rule of an entry: "/^subject=Cheap\ pills$/ ACTION".
[[nodiscard]] std::string blocklist_rule(BlockBy by, std::string_view value, std::string_view action);

/// The value a message gives for `by`, as `mailmoat checks block` derives it from a stored message:
/// subject, from-domain and message-id-domain from the first such header, sender from the Return-Path
/// header (written at delivery), client-ip from the topmost Received header naming a client "[address]"
/// (the one the receiving MTA wrote). nullopt (with `why`) when the message does not say.
[[nodiscard]] std::optional<std::string> value_from_message(BlockBy by, std::string_view message, std::string& why);

/// One managed entry of the blocklist file.
struct BlockEntry {
    std::size_t id = 0;
    BlockBy by = BlockBy::subject;
    std::string value;
    std::string added;   // UTC time "2026-12-01T04:40:00Z"
    std::string reason;
    std::size_t comment_line = 0;  // 1-based line of its "# [id]" comment
    std::size_t rule_line = 0;     // 1-based line of its rule
};

/// The managed table file: its text, the entries found in it and the next id. Lines that are not managed
/// entries (hand-written rules, comments) are kept as they are.
struct ManagedTable {
    std::string text;
    std::vector<BlockEntry> entries;
    std::size_t next_id = 1;
};

/// Reads the entries of a managed table text. Never throws for bad input: lines that do not look like
/// entries are left alone.
[[nodiscard]] ManagedTable parse_managed_table(std::string text);

/// The entry with the same `by` and value (ASCII case-insensitive, as the rule matches), or nullptr.
[[nodiscard]] const BlockEntry* find_entry(const ManagedTable& t, BlockBy by, std::string_view value);

/// The text with one more entry at the end (a comment line with id, time, kind, value and reason, then
/// the rule) and the header line's next-id advanced. Returns the new text; `id` receives the entry's id.
[[nodiscard]] std::string append_entry(const ManagedTable& t, BlockBy by, std::string_view value, std::string_view action,
                                       std::string_view reason, std::string_view added_utc, std::size_t& id);

/// The text without the given entries (their comment and rule lines).
[[nodiscard]] std::string remove_entries(const ManagedTable& t, const std::vector<std::size_t>& ids);

/// Quotes a value for the comment line: "..." with \\, \" and \xHH for control bytes; unquote reverses it.
[[nodiscard]] std::string quote_value(std::string_view v);
[[nodiscard]] std::optional<std::string> unquote_value(std::string_view quoted, std::size_t* consumed = nullptr);

}  // namespace mailmoat::checks
