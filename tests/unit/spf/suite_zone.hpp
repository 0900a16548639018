// tests/unit/spf/suite_zone.hpp - in-test DNS for the SPF tests: zone data served with the RFC 7208
// test suite driver's conventions, a fixed clock, and the suite file reader.
#pragma once
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/dns/resolver.hpp"
#include "common/util/clock.hpp"
#include "common/util/ip_address.hpp"

namespace mailmoat::spf::test {

/// One zone entry: a record, or TIMEOUT at its position in the name's list.
struct ZoneEntry {
    std::string type;               // "A", "AAAA", "MX", "TXT", "SPF", "PTR", "CNAME", "TIMEOUT"
    std::vector<std::string> data;  // TXT/SPF strings; A/AAAA address; MX pref+exchange; PTR/CNAME target
};

inline std::string lower_name(std::string s) {
    for (auto& c : s) c = static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
    while (!s.empty() && s.back() == '.') s.pop_back();
    return s;
}

/// Serves a zone the way the suite's reference driver does: a query times out when TIMEOUT comes
/// before any record of the asked type; names under "error." that are not in the zone time out;
/// CNAMEs are followed (at most 8 deep; a loop is a temporary failure, as a resolver's SERVFAIL);
/// SPF (type 99) records are never served (RFC 7208 §3.1 — and the interface cannot ask for them).
class ZoneResolver final : public dns::Resolver {
public:
    std::map<std::string, std::vector<ZoneEntry>> zone;
    unsigned queries = 0;

    void add(const std::string& name, ZoneEntry e) { zone[lower_name(name)].push_back(std::move(e)); }

    dns::Answer query(std::string_view qname, dns::RrType type) override {
        ++queries;
        dns::Answer a;
        std::string name = lower_name(std::string(qname));
        if (!plausible(name)) {
            a.status = dns::Status::nxdomain;
            return a;
        }
        const std::string want = dns::type_name(type);
        for (int depth = 0; depth < 8; ++depth) {
            const auto it = zone.find(name);
            if (it == zone.end()) {
                if (name.rfind("error.", 0) == 0) {
                    a.status = dns::Status::tempfail;
                    a.error = "timeout";
                } else {
                    a.status = dns::Status::nxdomain;
                    a.ttl = 300;  // as from the SOA minimum
                }
                return a;
            }
            bool seen = false;
            std::optional<std::string> cname;
            for (const auto& e : it->second) {
                if (e.type == "TIMEOUT") {
                    if (!seen) {
                        a = dns::Answer{};
                        a.status = dns::Status::tempfail;
                        a.error = "timeout";
                        return a;
                    }
                    break;
                }
                if (e.type == "CNAME" && want != "CNAME") cname = e.data.at(0);
                if (e.type != want) continue;
                seen = true;
                if (type == dns::RrType::a || type == dns::RrType::aaaa) {
                    auto ip = util::IpAddress::parse(e.data.at(0));
                    if (!ip) throw std::runtime_error("bad address in zone: " + e.data.at(0));
                    a.addresses.push_back(*ip);
                } else if (type == dns::RrType::txt) {
                    std::string joined;
                    for (const auto& s : e.data) joined += s;
                    a.txt.push_back(joined);
                } else if (type == dns::RrType::mx) {
                    a.mx.push_back({static_cast<std::uint16_t>(std::stoi(e.data.at(0))), lower_name(e.data.at(1))});
                } else {
                    a.names.push_back(lower_name(e.data.at(0)));
                }
            }
            if (seen) {
                a.status = dns::Status::ok;
                a.ttl = 3600;
                return a;
            }
            if (!cname) {
                a.status = dns::Status::nodata;
                a.ttl = 300;
                return a;
            }
            name = lower_name(*cname);
        }
        a = dns::Answer{};
        a.status = dns::Status::tempfail;
        a.error = "CNAME chain too long";
        return a;
    }

private:
    /// The Resolver contract: an impossible name is NXDOMAIN without a query.
    static bool plausible(const std::string& name) {
        if (name.empty() || name.size() > 253) return false;
        std::size_t start = 0;
        for (std::size_t i = 0; i <= name.size(); ++i) {
            if (i == name.size() || name[i] == '.') {
                if (i == start || i - start > 63) return false;
                start = i + 1;
            }
        }
        return true;
    }
};

/// A clock that stands still unless advanced.
class FixedClock final : public util::Clock {
public:
    std::chrono::system_clock::time_point wall{std::chrono::seconds(1700000000)};
    mutable std::chrono::steady_clock::time_point mono{};
    std::chrono::milliseconds step_per_call{0};  // advances steady time on every steady_now() call

    [[nodiscard]] std::chrono::system_clock::time_point now() const override { return wall; }
    [[nodiscard]] std::chrono::steady_clock::time_point steady_now() const override {
        auto t = mono;
        mono += step_per_call;
        return t;
    }
};

struct SuiteCase {
    std::string scenario;
    std::string id;
    std::string spec;
    std::string host;
    std::string mailfrom;
    std::string helo;
    std::vector<std::string> results;
    std::optional<std::string> explanation;
    ZoneResolver* zone = nullptr;
};

struct Suite {
    std::vector<std::unique_ptr<ZoneResolver>> zones;  // one per scenario
    std::vector<SuiteCase> cases;
};

/// Reads one quoted string (\\, \", \xHH escapes) from in at pos; advances pos.
inline std::string read_quoted(const std::string& in, std::size_t& pos) {
    while (pos < in.size() && in[pos] == ' ') ++pos;
    if (pos >= in.size() || in[pos] != '"') throw std::runtime_error("quoted string expected: " + in);
    std::string out;
    for (++pos; pos < in.size(); ++pos) {
        const char c = in[pos];
        if (c == '"') {
            ++pos;
            return out;
        }
        if (c == '\\') {
            if (pos + 1 >= in.size()) break;
            const char n = in[++pos];
            if (n == 'x') {
                if (pos + 2 >= in.size()) break;
                out += static_cast<char>(std::stoi(in.substr(pos + 1, 2), nullptr, 16));
                pos += 2;
            } else {
                out += n;
            }
            continue;
        }
        out += c;
    }
    throw std::runtime_error("unterminated string: " + in);
}

inline std::string read_word(const std::string& in, std::size_t& pos) {
    while (pos < in.size() && in[pos] == ' ') ++pos;
    const auto start = pos;
    while (pos < in.size() && in[pos] != ' ') ++pos;
    return in.substr(start, pos - start);
}

/// Loads a file written by tests/data/spf/convert_suite.py. Throws on a malformed file.
inline Suite load_suite(const std::string& path) {
    std::ifstream f(path);
    if (!f) throw std::runtime_error("cannot open " + path);
    Suite suite;
    std::string line;
    std::string scenario;
    SuiteCase cur;
    while (std::getline(f, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::size_t pos = 0;
        const auto key = read_word(line, pos);
        if (key == "scenario") {
            scenario = read_quoted(line, pos);
            suite.zones.push_back(std::make_unique<ZoneResolver>());
        } else if (key == "rr") {
            const auto name = read_quoted(line, pos);
            ZoneEntry e;
            e.type = read_word(line, pos);
            if (e.type == "TXT" || e.type == "SPF") {
                while (pos < line.size()) {
                    e.data.push_back(read_quoted(line, pos));
                    while (pos < line.size() && line[pos] == ' ') ++pos;
                }
            } else if (e.type == "A" || e.type == "AAAA") {
                e.data.push_back(read_word(line, pos));
            } else if (e.type == "MX") {
                e.data.push_back(read_word(line, pos));
                e.data.push_back(read_quoted(line, pos));
            } else if (e.type == "PTR" || e.type == "CNAME") {
                e.data.push_back(read_quoted(line, pos));
            } else if (e.type != "TIMEOUT") {
                throw std::runtime_error("unknown RR type in " + line);
            }
            suite.zones.back()->add(name, std::move(e));
        } else if (key == "test") {
            cur = SuiteCase{};
            cur.scenario = scenario;
            cur.id = read_quoted(line, pos);
            cur.zone = suite.zones.back().get();
        } else if (key == "spec") {
            cur.spec = read_quoted(line, pos);
        } else if (key == "host") {
            cur.host = read_word(line, pos);
        } else if (key == "mailfrom") {
            cur.mailfrom = read_quoted(line, pos);
        } else if (key == "helo") {
            cur.helo = read_quoted(line, pos);
        } else if (key == "result") {
            for (auto w = read_word(line, pos); !w.empty(); w = read_word(line, pos)) cur.results.push_back(w);
        } else if (key == "explanation") {
            cur.explanation = read_quoted(line, pos);
        } else if (key == "end") {
            suite.cases.push_back(cur);
        } else {
            throw std::runtime_error("unknown line: " + line);
        }
    }
    return suite;
}

}  // namespace mailmoat::spf::test
