// common/grey/whitelist.cpp - postgrey-compatible whitelist files: parsing and matching.
#include "common/grey/whitelist.hpp"

#include <cctype>
#include <fstream>
#include <stdexcept>

#include "common/config/options.hpp"
#include "common/table/pcre2_handles.hpp"

namespace mailmoat::grey {
namespace {

constexpr std::size_t max_line = 4096;
constexpr std::size_t max_entries = 200000;

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');  // ASCII, as tolower in the C locale
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
    return s;
}

/// The part of a line before '#', trimmed ("" for comment and blank lines).
std::string_view content(std::string_view line) {
    const auto hash = line.find('#');
    return trim(hash == std::string_view::npos ? line : line.substr(0, hash));
}

bool is_regex(std::string_view s) {
    return s.size() >= 3 && s.front() == '/' && s.back() == '/';
}

bool has_space(std::string_view s) {
    for (const char c : s)
        if (std::isspace(static_cast<unsigned char>(c)) != 0) return true;
    return false;
}

/// "1", "1.2", "1.2.3", "1.2.3.4" -> the network of the given octets.
bool partial_ipv4(std::string_view s, util::IpNetwork& out) {
    std::uint32_t value = 0;
    unsigned octets = 0;
    std::size_t i = 0;
    while (i <= s.size()) {
        std::size_t j = i;
        unsigned v = 0;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j])) != 0 && j - i < 3)
            v = v * 10 + static_cast<unsigned>(s[j++] - '0');
        if (j == i || v > 255) return false;
        value = (value << 8) | v;
        ++octets;
        if (j == s.size()) break;
        if (s[j] != '.' || octets == 4) return false;
        i = j + 1;
        if (i == s.size()) return false;
    }
    out.address = util::IpAddress::v4(value << (8 * (4 - octets)));
    out.prefix_len = 8 * octets;
    return true;
}

template <class List>
void load(List& list, const std::string& path) {
    std::ifstream in(path);
    if (!in) throw config::ConfigError(path + ": cannot read");
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (line.size() > max_line) throw config::ConfigError(path + ":" + std::to_string(n) + ": line too long");
        auto problem = list.add(line);
        if (!problem.empty()) throw config::ConfigError(path + ":" + std::to_string(n) + ": " + problem);
        if (list.size() > max_entries)
            throw config::ConfigError(path + ": more than " + std::to_string(max_entries) + " entries");
    }
}

}  // namespace

struct Pattern::Impl {
    table::Pcre2Code code;
};

Pattern::Pattern(std::string_view pattern) : impl_(std::make_unique<Impl>()), text_(pattern) {
    int err = 0;
    PCRE2_SIZE offset = 0;
    impl_->code.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_CASELESS, &err,
                                    &offset, nullptr));
    if (!impl_->code) {
        PCRE2_UCHAR buf[256];
        pcre2_get_error_message(err, buf, sizeof buf);
        throw std::invalid_argument("bad regex at offset " + std::to_string(offset) + ": " +
                                    reinterpret_cast<const char*>(buf));
    }
}

Pattern::~Pattern() = default;
Pattern::Pattern(Pattern&&) noexcept = default;
Pattern& Pattern::operator=(Pattern&&) noexcept = default;

bool Pattern::matches(std::string_view subject) const {
    table::Pcre2MatchData md(pcre2_match_data_create_from_pattern(impl_->code.get(), nullptr));
    if (!md) return false;
    return pcre2_match(impl_->code.get(), reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0, 0, md.get(),
                       nullptr) >= 0;
}

std::string ClientWhitelist::add(std::string_view line) {
    const auto s = content(line);
    if (s.empty()) return {};
    if (is_regex(s)) {
        try {
            patterns_.emplace_back(s.substr(1, s.size() - 2));
        } catch (const std::invalid_argument& e) {
            return e.what();
        }
        return {};
    }
    if (has_space(s)) return "expected one entry per line";
    util::IpNetwork net;
    if (partial_ipv4(s, net)) {
        networks_.push_back(net);
        return {};
    }
    const bool numeric = s.find_first_not_of("0123456789.") == std::string_view::npos;
    if (s.find(':') != std::string_view::npos || s.find('/') != std::string_view::npos || numeric) {
        auto parsed = util::IpNetwork::parse(s);
        if (!parsed) return "not an address or network: " + std::string(s);
        networks_.push_back(*parsed);
        return {};
    }
    auto name = lower(s);
    if (!name.empty() && name.back() == '.') name.pop_back();
    if (!name.empty() && name.front() == '.') name.erase(0, 1);
    if (name.empty()) return "empty host name";
    names_.push_back(std::move(name));
    return {};
}

void ClientWhitelist::load_file(const std::string& path) {
    load(*this, path);
}

std::string ClientWhitelist::match(const util::IpAddress& address, std::string_view client_name) const {
    for (const auto& n : networks_)
        if (n.contains(address)) return n.prefix_len == n.address.bit_length() ? n.address.to_string() : n.to_string();
    if (names_.empty() && patterns_.empty()) return {};  // no name to lower-case per request
    if (client_name.empty() || client_name == "unknown") return {};
    auto name = lower(client_name);
    if (!name.empty() && name.back() == '.') name.pop_back();
    for (const auto& entry : names_) {
        if (name == entry) return entry;
        if (name.size() > entry.size() && name.compare(name.size() - entry.size(), entry.size(), entry) == 0 &&
            name[name.size() - entry.size() - 1] == '.')
            return entry;
    }
    for (const auto& p : patterns_)
        if (p.matches(name)) return "/" + p.text() + "/";
    return {};
}

std::string RecipientWhitelist::add(std::string_view line) {
    const auto s = content(line);
    if (s.empty()) return {};
    if (is_regex(s)) {
        try {
            patterns_.emplace_back(s.substr(1, s.size() - 2));
        } catch (const std::invalid_argument& e) {
            return e.what();
        }
        return {};
    }
    if (has_space(s)) return "expected one entry per line";
    const auto at = s.find('@');
    if (at == std::string_view::npos) {
        domains_.push_back(lower(s));
    } else if (at == s.size() - 1) {
        if (at == 0) return "empty entry '@'";
        locals_.push_back(lower(s.substr(0, at)));
    } else if (at == 0) {
        domains_.push_back(lower(s.substr(1)));
    } else {
        addresses_.push_back(lower(s));
    }
    return {};
}

void RecipientWhitelist::load_file(const std::string& path) {
    load(*this, path);
}

std::string RecipientWhitelist::match(std::string_view recipient) const {
    if (size() == 0) return {};
    const auto r = lower(recipient);
    const auto at = r.rfind('@');
    const std::string_view local = at == std::string::npos ? std::string_view(r) : std::string_view(r).substr(0, at);
    const std::string_view domain = at == std::string::npos ? std::string_view() : std::string_view(r).substr(at + 1);
    for (const auto& a : addresses_)
        if (a == r) return a;
    for (const auto& l : locals_)
        if (l == local) return l + "@";
    for (const auto& d : domains_) {
        if (domain == d) return d;
        if (domain.size() > d.size() && domain.substr(domain.size() - d.size()) == d &&
            domain[domain.size() - d.size() - 1] == '.')
            return d;
    }
    for (const auto& p : patterns_)
        if (p.matches(r)) return "/" + p.text() + "/";
    return {};
}

}  // namespace mailmoat::grey
