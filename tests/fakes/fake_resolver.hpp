// tests/fakes/fake_resolver.hpp - dns::Resolver answering from zone-like text lines, counting queries.
//
// Syntax, one record or directive per line; blank lines and lines starting with '#' or ';' are ignored;
// names are case-insensitive, a trailing dot is optional:
//
//   NAME [TTL] TYPE DATA          TTL in seconds, default 300
//     example.com A 192.0.2.1
//     example.com AAAA 2001:db8::1
//     example.com MX 10 mx.example.com        preference and exchange ("." is a null MX)
//     example.com TXT "v=spf1 " "-all"        quoted character-strings of one RR are joined (RFC 7208
//                                             §3.3); \" and \\ escape inside quotes; unquoted text is one
//                                             string taken as written
//     1.2.0.192.in-addr.arpa PTR host.example.com
//     example.com NS ns1.example.com
//     www.example.com CNAME example.com       followed by queries of other types (up to 8 hops)
//   NAME TEMPFAIL [REASON]        every query for NAME (any type) is a tempfail with Answer::error REASON
//   NAME NXDOMAIN                 NAME does not exist (overrides records given for it)
//   NAME AD                       answers for NAME carry authenticated = true
//
// Answers: records of the asked type -> ok with ttl = min TTL; NAME known with other types, or an
// ancestor of a known name (empty non-terminal) -> nodata; otherwise nxdomain. Negative answers carry
// negative_ttl (default 300). Impossible names (empty label, label > 63, name > 253) -> nxdomain.
// Every query() is counted per (normalized name, type) - also the impossible ones - so tests can
// assert how many lookups an engine made. Thread-safe. Bad lines throw std::invalid_argument.
#pragma once
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/dns/ldns_resolver.hpp"
#include "common/dns/resolver.hpp"
#include "common/util/ip_address.hpp"

namespace mailmoat::test {

class FakeResolver final : public dns::Resolver {
public:
    FakeResolver() = default;
    explicit FakeResolver(std::string_view text) { add(text); }

    /// Adds the records and directives of text (see the syntax above).
    void add(std::string_view text) {
        std::lock_guard<std::mutex> lock(mutex_);
        std::size_t line_no = 0;
        std::size_t pos = 0;
        while (pos <= text.size()) {
            std::size_t end = text.find('\n', pos);
            if (end == std::string_view::npos) end = text.size();
            ++line_no;
            add_line(text.substr(pos, end - pos), line_no);
            pos = end + 1;
        }
    }

    /// Negative answers' TTL (NXDOMAIN and NODATA).
    void set_negative_ttl(std::uint32_t ttl) {
        std::lock_guard<std::mutex> lock(mutex_);
        negative_ttl_ = ttl;
    }

    [[nodiscard]] dns::Answer query(std::string_view name, dns::RrType type) override {
        std::lock_guard<std::mutex> lock(mutex_);
        std::string key = dns::normalize_name(name);
        ++counts_[{key, type}];
        ++total_;
        dns::Answer a;
        if (dns::name_to_wire(name).empty()) {
            a.status = dns::Status::nxdomain;
            return a;
        }
        std::uint32_t ttl = UINT32_MAX;
        for (int hops = 0;; ++hops) {
            if (auto t = tempfail_.find(key); t != tempfail_.end()) {
                a.status = dns::Status::tempfail;
                a.error = t->second;
                return a;
            }
            a.authenticated = authenticated_.count(key) > 0;
            if (nxdomain_.count(key) > 0) return negative(a, dns::Status::nxdomain, ttl);
            auto range = records_.equal_range(key);
            const Record* cname = nullptr;
            for (auto it = range.first; it != range.second; ++it) {
                const Record& r = it->second;
                if (r.type == type) {
                    add_data(a, r);
                    ttl = std::min(ttl, r.ttl);
                } else if (r.type == dns::RrType::cname && cname == nullptr) {
                    cname = &r;
                }
            }
            if (!a.txt.empty() || !a.addresses.empty() || !a.mx.empty() || !a.names.empty()) {
                a.status = dns::Status::ok;
                a.ttl = ttl;
                return a;
            }
            if (cname != nullptr && type != dns::RrType::cname && hops < 8) {
                ttl = std::min(ttl, cname->ttl);
                key = cname->text;
                continue;
            }
            if (range.first != range.second || names_.count(key) > 0) return negative(a, dns::Status::nodata, ttl);
            return negative(a, dns::Status::nxdomain, ttl);
        }
    }

    /// Queries seen for (name, type); name is normalized (case, trailing dot).
    [[nodiscard]] unsigned queries(std::string_view name, dns::RrType type) const {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = counts_.find({dns::normalize_name(name), type});
        return it == counts_.end() ? 0U : it->second;
    }
    /// Queries seen for name, any type.
    [[nodiscard]] unsigned queries(std::string_view name) const {
        std::lock_guard<std::mutex> lock(mutex_);
        unsigned n = 0;
        std::string key = dns::normalize_name(name);
        for (const auto& [k, c] : counts_) n += k.first == key ? c : 0U;
        return n;
    }
    /// All queries seen.
    [[nodiscard]] unsigned total_queries() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return total_;
    }
    void reset_counts() {
        std::lock_guard<std::mutex> lock(mutex_);
        counts_.clear();
        total_ = 0;
    }

private:
    struct Record {
        dns::RrType type = dns::RrType::a;
        std::uint32_t ttl = 300;
        std::string text;  // TXT string, PTR/NS/CNAME target, MX exchange
        util::IpAddress address;
        std::uint16_t preference = 0;
    };

    static void add_data(dns::Answer& a, const Record& r) {
        switch (r.type) {
            case dns::RrType::a:
            case dns::RrType::aaaa:
                a.addresses.push_back(r.address);
                break;
            case dns::RrType::mx:
                a.mx.push_back({r.preference, r.text});
                break;
            case dns::RrType::txt:
                a.txt.push_back(r.text);
                break;
            default:
                a.names.push_back(r.text);
                break;
        }
    }

    dns::Answer negative(dns::Answer& a, dns::Status status, std::uint32_t chain_ttl) const {
        a.status = status;
        a.ttl = std::min(chain_ttl, negative_ttl_);
        return a;
    }

    static std::string upper(std::string s) {
        for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return s;
    }

    [[noreturn]] static void fail(std::size_t line_no, std::string_view line, const std::string& why) {
        throw std::invalid_argument("fake zone line " + std::to_string(line_no) + " \"" + std::string(line) +
                                    "\": " + why);
    }

    /// TXT data: quoted strings joined, or the unquoted rest as one string.
    static std::string parse_txt(std::string_view data, std::size_t line_no, std::string_view line) {
        if (data.empty() || data.front() != '"') return std::string(data);
        std::string out;
        std::size_t i = 0;
        while (i < data.size()) {
            if (data[i] == ' ' || data[i] == '\t') {
                ++i;
                continue;
            }
            if (data[i] != '"') fail(line_no, line, "text outside quotes");
            ++i;
            bool closed = false;
            while (i < data.size()) {
                char c = data[i++];
                if (c == '"') {
                    closed = true;
                    break;
                }
                if (c == '\\' && i < data.size()) c = data[i++];
                out.push_back(c);
            }
            if (!closed) fail(line_no, line, "unterminated quote");
        }
        return out;
    }

    void add_line(std::string_view line, std::size_t line_no) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
            line.remove_suffix(1);
        std::size_t start = line.find_first_not_of(" \t");
        if (start == std::string_view::npos || line[start] == '#' || line[start] == ';') return;
        std::string_view rest = line.substr(start);
        auto next_word = [&]() {
            std::size_t b = rest.find_first_not_of(" \t");
            if (b == std::string_view::npos) {
                rest = {};
                return std::string_view{};
            }
            rest.remove_prefix(b);
            std::size_t e = rest.find_first_of(" \t");
            std::string_view w = rest.substr(0, e);
            rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e);
            return w;
        };
        std::string name = dns::normalize_name(next_word());
        std::string word = std::string(next_word());
        Record r;
        if (!word.empty() && word.find_first_not_of("0123456789") == std::string::npos) {
            r.ttl = static_cast<std::uint32_t>(std::stoul(word));
            word = std::string(next_word());
        }
        std::string type = upper(word);
        std::size_t b = rest.find_first_not_of(" \t");
        std::string_view data = b == std::string_view::npos ? std::string_view{} : rest.substr(b);
        if (type == "TEMPFAIL") {
            tempfail_[name] = data.empty() ? std::string("fake tempfail") : std::string(data);
            return;
        }
        if (type == "NXDOMAIN") {
            nxdomain_.insert(name);
            return;
        }
        if (type == "AD") {
            authenticated_.insert(name);
            return;
        }
        if (data.empty()) fail(line_no, line, "missing data");
        if (type == "A" || type == "AAAA") {
            r.type = type == "A" ? dns::RrType::a : dns::RrType::aaaa;
            auto ip = util::IpAddress::parse(data);
            if (!ip || ip->is_v4() != (r.type == dns::RrType::a)) fail(line_no, line, "bad address");
            r.address = *ip;
        } else if (type == "MX") {
            r.type = dns::RrType::mx;
            std::istringstream in{std::string(data)};
            unsigned pref = 0;
            std::string exchange;
            if (!(in >> pref >> exchange) || pref > 65535) fail(line_no, line, "MX needs PREFERENCE EXCHANGE");
            r.preference = static_cast<std::uint16_t>(pref);
            r.text = dns::normalize_name(exchange);
        } else if (type == "TXT") {
            r.type = dns::RrType::txt;
            r.text = parse_txt(data, line_no, line);
        } else if (type == "PTR" || type == "NS" || type == "CNAME") {
            r.type = type == "PTR" ? dns::RrType::ptr : type == "NS" ? dns::RrType::ns : dns::RrType::cname;
            r.text = dns::normalize_name(data);
        } else {
            fail(line_no, line, "unknown type " + type);
        }
        records_.emplace(name, std::move(r));
        // Every ancestor exists as an empty non-terminal (NODATA, not NXDOMAIN).
        for (std::size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1))
            names_.insert(name.substr(dot + 1));
    }

    mutable std::mutex mutex_;
    std::multimap<std::string, Record> records_;
    std::set<std::string> names_;
    std::map<std::string, std::string> tempfail_;
    std::set<std::string> nxdomain_;
    std::set<std::string> authenticated_;
    std::map<std::pair<std::string, dns::RrType>, unsigned> counts_;
    unsigned total_ = 0;
    std::uint32_t negative_ttl_ = 300;
};

}  // namespace mailmoat::test
