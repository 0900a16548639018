// common/dmarc/domain_name.hpp - domain name helpers for DMARC: A-label normalisation and label arithmetic
// for the RFC 9989 §4.10 tree walk.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace mailmoat::dmarc {

/// `domain` as a lower-case A-label name without trailing dot (U-labels converted, RFC 9989 §5.3.1), or
/// empty when it is empty, an address literal, has an empty or over-long label, is over 253 octets,
/// or holds a character other than letters, digits, '-' and '_'.
[[nodiscard]] std::string to_a_label(std::string_view domain);

/// Number of labels of a normalised name ("a.example.com" -> 3; "" -> 0).
[[nodiscard]] std::size_t label_count(std::string_view name) noexcept;

/// The right-most `n` labels of a normalised name (all of it when n >= label_count).
[[nodiscard]] std::string last_labels(std::string_view name, std::size_t n);

}  // namespace mailmoat::dmarc
