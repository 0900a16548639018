// common/dmarc_report/destination.cpp - rua parsing and the _report._dmarc check.
#include "common/dmarc_report/destination.hpp"

#include <cctype>

namespace mailmoat::dmarc_report {
namespace {

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return std::string(s);
}

int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

bool is_below(const std::string& domain, const std::string& org) {
    return domain == org || (domain.size() > org.size() && domain.compare(domain.size() - org.size(), org.size(), org) == 0 &&
                             domain[domain.size() - org.size() - 1] == '.');
}

}  // namespace

std::optional<Destination> parse_rua(std::string_view uri_in) {
    Destination d;
    d.uri = trim(uri_in);
    std::string_view u = d.uri;
    if (u.size() < 7 || lower(std::string(u.substr(0, 7))) != "mailto:") return std::nullopt;
    u.remove_prefix(7);
    if (const auto bang = u.rfind('!'); bang != std::string_view::npos) {
        std::string_view size = u.substr(bang + 1);
        u = u.substr(0, bang);
        if (size.empty()) return std::nullopt;
        std::uint64_t mult = 1;
        const char unit = static_cast<char>(std::tolower(static_cast<unsigned char>(size.back())));
        if (unit == 'k' || unit == 'm' || unit == 'g' || unit == 't') {
            mult = unit == 'k' ? 1ull << 10 : unit == 'm' ? 1ull << 20 : unit == 'g' ? 1ull << 30 : 1ull << 40;
            size.remove_suffix(1);
        }
        if (size.empty() || size.size() > 12) return std::nullopt;
        std::uint64_t n = 0;
        for (char c : size) {
            if (c < '0' || c > '9') return std::nullopt;
            n = n * 10 + static_cast<unsigned>(c - '0');
        }
        d.max_bytes = n * mult;
    }
    for (std::size_t i = 0; i < u.size(); ++i) {
        if (u[i] == '%' && i + 2 < u.size() && hexval(u[i + 1]) >= 0 && hexval(u[i + 2]) >= 0) {
            d.address += static_cast<char>(hexval(u[i + 1]) * 16 + hexval(u[i + 2]));
            i += 2;
        } else if (u[i] == '?') {
            break;  // mailto header fields: ignored
        } else {
            d.address += u[i];
        }
    }
    const auto at = d.address.rfind('@');
    if (at == std::string::npos || at == 0 || at + 1 == d.address.size()) return std::nullopt;
    for (char c : d.address)
        if (std::isspace(static_cast<unsigned char>(c)) || c == '<' || c == '>' || c == ',') return std::nullopt;
    d.domain = lower(d.address.substr(at + 1));
    return d;
}

const char* authorization_name(Authorization a) noexcept {
    switch (a) {
        case Authorization::internal: return "internal";
        case Authorization::authorized: return "authorized";
        case Authorization::not_authorized: return "not_authorized";
        case Authorization::tempfail: return "tempfail";
    }
    return "?";
}

Authorization verify_destination(dns::Resolver& resolver, const std::string& policy_domain,
                                 const std::string& org_domain, const Destination& dest) {
    const std::string org = lower(org_domain.empty() ? policy_domain : org_domain);
    if (is_below(dest.domain, org) || is_below(dest.domain, lower(policy_domain))) return Authorization::internal;
    const auto answer = resolver.query(lower(policy_domain) + "._report._dmarc." + dest.domain, dns::RrType::txt);
    switch (answer.status) {
        case dns::Status::tempfail: return Authorization::tempfail;
        case dns::Status::nxdomain:
        case dns::Status::nodata: return Authorization::not_authorized;
        case dns::Status::ok: break;
    }
    for (const auto& txt : answer.txt) {
        const std::string t = lower(trim(txt));
        if (t.rfind("v=dmarc1", 0) == 0 && (t.size() == 8 || t[8] == ';' || std::isspace(static_cast<unsigned char>(t[8]))))
            return Authorization::authorized;
    }
    return Authorization::not_authorized;
}

}  // namespace mailmoat::dmarc_report
