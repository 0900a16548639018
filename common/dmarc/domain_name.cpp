// common/dmarc/domain_name.cpp - domain name helpers for DMARC.
#include "common/dmarc/domain_name.hpp"

#include <algorithm>

#include "common/mail/address.hpp"

namespace mailmoat::dmarc {

std::string to_a_label(std::string_view domain) {
    const auto r = mail::normalize_domain(domain);
    if (r.status != mail::DomainResult::Status::ok || r.domain.empty() || r.domain.front() == '[') return {};
    const bool ldh = std::all_of(r.domain.begin(), r.domain.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    });
    return ldh ? r.domain : std::string();
}

std::size_t label_count(std::string_view name) noexcept {
    if (name.empty()) return 0;
    return static_cast<std::size_t>(std::count(name.begin(), name.end(), '.')) + 1;
}

std::string last_labels(std::string_view name, std::size_t n) {
    std::size_t have = label_count(name);
    if (n >= have) return std::string(name);
    std::size_t pos = 0;
    for (std::size_t skip = have - n; skip > 0; --skip) pos = name.find('.', pos) + 1;
    return std::string(name.substr(pos));
}

}  // namespace mailmoat::dmarc
