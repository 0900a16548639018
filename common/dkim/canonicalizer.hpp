// common/dkim/canonicalizer.hpp - RFC 6376 §3.4 header and body canonicalization (streaming body hash).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/crypto/digest.hpp"

namespace mailmoat::dkim {

enum class Canon { simple, relaxed };
[[nodiscard]] const char* canon_name(Canon c) noexcept;  // "simple" / "relaxed"

/// Canonical form of one header field, ending in CRLF (RFC 6376 §3.4.1 simple, §3.4.2 relaxed).
/// `name` is the field name as received; `value` is everything after the colon exactly as received
/// (leading whitespace and folding included). Line breaks inside the value may be CRLF or a bare LF
/// (as some MTAs hand folded values to milters); both are treated as CRLF. Never fails.
[[nodiscard]] std::string canonicalize_header(Canon c, std::string_view name, std::string_view value);

/// Appends the canonical form to `out` instead of returning it (no allocation per header).
void canonicalize_header_into(std::string& out, Canon c, std::string_view name, std::string_view value);

/// Streaming body canonicalization (RFC 6376 §3.4.3 simple, §3.4.4 relaxed) feeding a hash.
/// Chunks may be of any size and split anywhere (inside CRLF, inside whitespace runs); trailing empty
/// lines are held back until non-empty data proves they are not trailing. Empty body: simple hashes
/// one CRLF, relaxed hashes nothing; a missing final CRLF is supplied for a non-empty body.
/// With a limit (l=, §3.5), only the first `limit` canonical octets are hashed; canonical_length()
/// still counts them all so a verifier can tell whether l= covered the whole body.
class BodyHasher {
public:
    BodyHasher(Canon canon, crypto::HashAlgorithm hash, std::optional<std::uint64_t> limit = std::nullopt);

    void update(std::string_view chunk);
    /// Ends the body and returns the raw digest. Call once.
    [[nodiscard]] std::string finish();

    /// Canonical body octets produced so far (after finish(): the full canonical length).
    [[nodiscard]] std::uint64_t canonical_length() const noexcept { return produced_; }
    [[nodiscard]] Canon canon() const noexcept { return canon_; }
    [[nodiscard]] crypto::HashAlgorithm hash() const noexcept { return digest_.algorithm(); }
    [[nodiscard]] std::optional<std::uint64_t> limit() const noexcept { return limit_; }

private:
    void emit(std::string_view bytes);
    void emit_char(char c);
    void data_char(char c);
    void end_of_line();
    void flush();

    Canon canon_;
    crypto::Digest digest_;
    std::optional<std::uint64_t> limit_;
    std::uint64_t produced_ = 0;
    std::uint64_t held_empty_lines_ = 0;  // CRLFs of empty lines not yet known to be non-trailing
    bool cr_pending_ = false;             // last byte was CR (may start a CRLF split across chunks)
    bool wsp_pending_ = false;            // relaxed: a WSP run not yet emitted
    bool line_has_data_ = false;          // current line has emitted content
    bool finished_ = false;
    std::string buf_;                     // canonical output waiting to be hashed
};

}  // namespace mailmoat::dkim
