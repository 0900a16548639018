// common/policy/request.hpp - Postfix policy delegation request (SMTPD_POLICY_README) and its incremental parser.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/util/ip_address.hpp"

namespace mailmoat::policy {

/// Bounds applied while reading a request from a peer. Postfix documents no limit of its own; these
/// keep one connection's memory small whatever a client sends.
struct Limits {
    std::size_t max_line_length = 2048;     // bytes of one "name=value" line, without its '\n'
    std::size_t max_attributes = 100;       // attribute lines in one request
    std::size_t max_request_size = 16384;   // bytes of one request including newlines and the empty line
};

/// One policy request: the attributes Postfix 2.1 .. 3.12 sends, typed, plus every attribute as sent.
/// Unavailable values are empty strings or 0 (Postfix omits them, sends "name=" or "name=0").
/// A numeric attribute that does not parse stays 0; its text is still in attributes.
struct Request {
    std::string request;         // always "smtpd_access_policy" from Postfix
    std::string protocol_state;  // CONNECT EHLO HELO MAIL RCPT DATA END-OF-MESSAGE VRFY ETRN
    std::string protocol_name;   // SMTP or ESMTP
    std::string helo_name;
    std::string queue_id;        // empty until the first accepted RCPT
    std::string sender;          // envelope sender without <>, empty for the null sender
    std::string recipient;
    std::uint64_t recipient_count = 0;
    std::optional<util::IpAddress> client_address;  // nullopt when absent or not an address
    std::string client_address_raw;                 // as sent
    std::string client_name;                        // verified name or "unknown"
    std::string reverse_client_name;
    std::uint16_t client_port = 0;
    std::string instance;  // same value for every request of one delivery on one connection
    std::string sasl_method;
    std::string sasl_username;
    std::string sasl_sender;
    std::uint64_t size = 0;
    std::string ccert_subject;  // xtext-encoded as Postfix sends them
    std::string ccert_issuer;
    std::string ccert_fingerprint;
    std::string ccert_pubkey_fingerprint;
    std::string encryption_protocol;
    std::string encryption_cipher;
    std::uint64_t encryption_keysize = 0;
    std::string etrn_domain;
    std::string stress;  // empty or "yes"
    std::optional<util::IpAddress> server_address;
    std::string server_address_raw;
    std::uint16_t server_port = 0;
    std::string policy_context;
    std::string compatibility_level;
    std::string mail_version;
    std::string tls_sni;

    /// Every attribute as received (name, value), known or not, in arrival order; a repeated name keeps
    /// its first position and takes the last value. A flat list: at most Limits::max_attributes entries.
    std::vector<std::pair<std::string, std::string>> attributes;

    /// Bit i set: the i-th known attribute (by name order) has been set(). set() relies on it to skip
    /// the search for a repeated name, so attributes are filled through set() only.
    std::uint32_t known_present = 0;

    /// Back to a request with no attribute (every field as default-constructed), keeping the storage of
    /// its strings and of the attribute list for the next request.
    void clear() noexcept;

    /// The raw value of an attribute, or nullptr when it was not sent.
    [[nodiscard]] const std::string* find(std::string_view name) const;
    /// The raw value, or "" when it was not sent.
    [[nodiscard]] std::string_view get(std::string_view name) const;

    /// Sets one attribute: stores the raw value and updates the typed field it names (if any).
    void set(std::string_view name, std::string_view value);
    /// As set(), but a new attribute takes its strings from the back of spare when it has any (the
    /// parser's reuse of an answered request's storage).
    void set(std::string_view name, std::string_view value, std::vector<std::pair<std::string, std::string>>& spare);
};

/// The outcome of RequestParser::next().
struct [[nodiscard]] ParseResult {
    enum class Status { complete, need_more, error };
    Status status = Status::need_more;
    Request request;      // valid when complete
    std::string reason;   // set when error: what was wrong, without peer data
    std::string excerpt;  // set when error: up to 64 bytes of the offending line, raw (escape before logging)
};

/// Incremental parser: feed() the bytes read from a connection in any split, then call next() until it
/// says need_more. Lines are "name=value\n", a request ends with an empty line (SMTPD_POLICY_README
/// "Protocol description"). A trailing '\r' before '\n' is tolerated and dropped.
/// Errors (the parser then stays in error until reset()):
///   a line without '=', an empty name, a NUL byte, a line longer than max_line_length, more than
///   max_attributes attributes, a request larger than max_request_size, an empty request (a blank line
///   with no attribute before it).
/// Unknown attribute names are kept, never an error.
class RequestParser {
public:
    explicit RequestParser(Limits limits = {});

    /// Appends bytes; cheap, parsing happens in next(). Feeding after an error is ignored.
    void feed(std::string_view bytes);
    /// The next complete request, need_more when the buffered bytes end inside one, or an error.
    [[nodiscard]] ParseResult next();
    /// Forgets buffered bytes, the request in progress and any error.
    void reset();
    /// Hands back a request returned by next() once it is answered: it is cleared and its strings' and
    /// attribute list's storage is reused for a later request, which saves allocations per request. Optional.
    void recycle(Request&& used) noexcept;

    /// Bytes of the request in progress (0 between requests): tells idle time from a request being read.
    [[nodiscard]] std::size_t bytes_in_request() const noexcept { return request_bytes_ + (buffer_.size() - pos_); }
    [[nodiscard]] const Limits& limits() const noexcept { return limits_; }

private:
    ParseResult fail(std::string reason, std::string_view line);

    Limits limits_;
    std::string buffer_;
    std::size_t pos_ = 0;            // first unconsumed byte of buffer_
    std::size_t request_bytes_ = 0;  // consumed bytes of the request in progress
    std::size_t attribute_count_ = 0;
    Request current_;
    Request spare_;             // from recycle(), cleared
    bool have_spare_ = false;
    std::vector<std::pair<std::string, std::string>> spare_attributes_;  // from recycle(); back = first attribute
    bool failed_ = false;
    std::string failure_;
};

}  // namespace mailmoat::policy
