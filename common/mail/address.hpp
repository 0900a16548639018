// common/mail/address.hpp - RFC 5322 §3.4 address lists, RFC 2047 encoded words, domain normalisation.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mailmoat::mail {

/// One mailbox of an address list.
struct Mailbox {
    std::string display_name;  // phrase with RFC 2047 encoded words decoded to UTF-8; comments not included
    std::string local_part;    // as written without CFWS: dot-atom, or a quoted-string with its quotes
    std::string domain;        // normalised (see normalize_domain); "[...]" literals kept as written
    std::string group;         // display name of the enclosing group, empty outside a group

    /// "local@domain".
    [[nodiscard]] std::string address() const { return local_part + "@" + domain; }
};

struct AddressLimits {
    std::size_t max_value_bytes = 65536;  // longer values are invalid
    std::size_t max_mailboxes = 1000;
    std::size_t max_comment_depth = 64;
};

struct [[nodiscard]] AddressList {
    /// ok: at least one mailbox and no error; empty: syntactically fine but no mailbox (empty value,
    /// "undisclosed-recipients:;"); invalid: a syntax error or bound (mailboxes holds those parsed before it).
    enum class Status { ok, empty, invalid };
    Status status = Status::empty;
    std::vector<Mailbox> mailboxes;
    std::vector<std::string> groups;  // names of groups seen, including empty ones
    std::string error;                // why invalid, with the byte offset
};

/// Parses an address-list / mailbox-list header value (From, To, Cc, Sender, Reply-To) per RFC 5322
/// §3.4 including the §4.4 obsolete forms (routes, empty list elements, phrases with dots, CFWS
/// between tokens). Accepts UTF-8 in atoms (RFC 6532). An address without a domain, unbalanced quotes,
/// comments or angle brackets, or a bad IDN make the result invalid. Never throws for bad input.
[[nodiscard]] AddressList parse_address_list(std::string_view value, const AddressLimits& limits = {});

/// RFC 2047 decoding of a phrase or unstructured text: each encoded word =?charset[*lang]?B|Q?text?=
/// in utf-8, us-ascii or iso-8859-1 is decoded to UTF-8; whitespace between two adjacent encoded words
/// is dropped (§6.2). Words in other charsets and malformed words are left as written.
[[nodiscard]] std::string decode_encoded_words(std::string_view text);

struct [[nodiscard]] DomainResult {
    /// ok: domain holds the normalised name; empty: no domain (null sender); invalid: bad syntax/IDN.
    enum class Status { ok, empty, invalid };
    Status status = Status::empty;
    std::string domain;
    std::string error;
};

/// Normalises a domain: trailing dot stripped, ASCII lower-cased, U-labels converted to A-labels
/// (IDNA2008 via libidn2, RFC 5891 §5), address literals "[192.0.2.1]" / "[IPv6:...]" kept as written. Empty input is
/// `empty`; labels that are empty, over 63 octets, or a name over 253 octets are `invalid`, as is anything libidn2
/// rejects.
[[nodiscard]] DomainResult normalize_domain(std::string_view domain);

/// The domain of an SMTP MAIL FROM / RCPT TO argument (RFC 5321 §4.1.2): "<user@example.com>",
/// "user@example.com", "<@relay:user@example.com>" → "example.com" (normalised). "<>" and "" → empty.
/// No '@', a missing '>' or input over 1024 bytes → invalid.
[[nodiscard]] DomainResult envelope_domain(std::string_view path);

}  // namespace mailmoat::mail
