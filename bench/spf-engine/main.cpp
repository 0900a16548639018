// bench/spf-engine/main.cpp - bench_spf_engine: the SPF engine alone against libspf2, both in process.
//
// Both evaluate the MAIL FROM identity (RFC 7208 check_host()) for the same (client address, sender)
// pairs over the same records, served from memory so neither touches the network and neither caches
// anything between checks (a cold cache: every check fetches and parses every record it needs):
//   - ours: spf::Evaluator over a dns::Resolver answering from a hash map;
//   - libspf2: SPF_server_new_dns() over its zone DNS layer (SPF_dns_zone_add_str), no cache layer.
// It first checks that both give the same result for every pair, then times rounds of all pairs,
// alternating the two engines, and prints checks/s (median over the rounds) for each.
//
// Usage: bench_spf_engine [--pairs N] [--rounds R]   (defaults 4096 pairs, 7 rounds)
#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bench/spf-engine/libspf2_handles.hpp"
#include "common/dns/resolver.hpp"
#include "common/spf/evaluator.hpp"
#include "common/util/clock.hpp"
#include "common/util/ip_address.hpp"

namespace {

using namespace mailmoat;
namespace libspf2 = mailmoat::bench::libspf2;
using Clock = std::chrono::steady_clock;

struct Rr {
    const char* name;
    dns::RrType type;
    const char* data;  // TXT: the record; A/AAAA: the address; MX: the exchange (preference by order)
};

// A realistic sender domain (a, mx, ip4 and include: terms), its ESP's included record, a domain that
// redirects to it, one that includes the ESP and names its own outbound host, and one without SPF.
const Rr zone[] = {
    {"sender.example", dns::RrType::txt, "v=spf1 a mx ip4:203.0.113.0/26 include:_spf.mailer.example -all"},
    {"sender.example", dns::RrType::a, "203.0.113.80"},
    {"sender.example", dns::RrType::aaaa, "2001:db8:2::80"},
    {"sender.example", dns::RrType::mx, "mx1.sender.example"},
    {"sender.example", dns::RrType::mx, "mx2.sender.example"},
    {"mx1.sender.example", dns::RrType::a, "203.0.113.25"},
    {"mx1.sender.example", dns::RrType::aaaa, "2001:db8:2::25"},
    {"mx2.sender.example", dns::RrType::a, "203.0.113.26"},
    {"_spf.mailer.example", dns::RrType::txt,
     "v=spf1 ip4:198.51.100.0/24 ip4:192.0.2.0/25 ip6:2001:db8:1::/48 ~all"},
    {"shop.example", dns::RrType::txt, "v=spf1 ip4:198.51.100.64/26 redirect=sender.example"},
    {"news.example", dns::RrType::txt, "v=spf1 include:_spf.mailer.example a:out.news.example ?all"},
    {"out.news.example", dns::RrType::a, "192.0.2.200"},
    {"nospf.example", dns::RrType::a, "192.0.2.1"},
};

const char* senders[] = {"newsletter@sender.example", "orders@shop.example", "digest@news.example",
                         "someone@nospf.example"};

/// Answers from a hash map built from `zone`: records of the asked type, else NODATA when the name has
/// others, else NXDOMAIN. Thread-compatible (read-only after construction).
class MapResolver final : public dns::Resolver {
public:
    MapResolver() {
        for (const auto& rr : zone) {
            names_.insert(rr.name);
            auto& a = answers_[key(rr.name, rr.type)];
            a.status = dns::Status::ok;
            a.ttl = 3600;
            switch (rr.type) {
            case dns::RrType::txt: a.txt.emplace_back(rr.data); break;
            case dns::RrType::a:
            case dns::RrType::aaaa: a.addresses.push_back(*util::IpAddress::parse(rr.data)); break;
            case dns::RrType::mx:
                a.mx.push_back({static_cast<std::uint16_t>(10 * (a.mx.size() + 1)), rr.data});
                break;
            default: break;
            }
        }
    }

    dns::Answer query(std::string_view name, dns::RrType type) override {
        std::string n(name);
        if (!n.empty() && n.back() == '.') n.pop_back();
        for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (const auto it = answers_.find(key(n, type)); it != answers_.end()) return it->second;
        dns::Answer a;
        a.status = names_.count(n) != 0U ? dns::Status::nodata : dns::Status::nxdomain;
        a.ttl = 300;
        return a;
    }

private:
    static std::string key(std::string_view name, dns::RrType type) {
        std::string k(name);
        k += '/';
        k += std::to_string(static_cast<unsigned>(type));
        return k;
    }
    std::unordered_map<std::string, dns::Answer> answers_;
    std::set<std::string, std::less<>> names_;
};

struct Pair {
    util::IpAddress ip;
    std::string text_ip;
    std::string sender;
};

// Client addresses across the networks the records name (inside and outside them), both families.
std::vector<Pair> make_pairs(std::size_t count) {
    std::vector<Pair> out;
    out.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        const unsigned host = static_cast<unsigned>((i * 37) % 254 + 1);
        std::string ip;
        switch (i % 6) {
        case 0: ip = "192.0.2." + std::to_string(host); break;
        case 1: ip = "198.51.100." + std::to_string(host); break;
        case 2: ip = "203.0.113." + std::to_string(host); break;
        case 3: ip = "2001:db8:1::" + std::to_string(host); break;
        case 4: ip = "2001:db8:2::" + std::to_string(host % 100); break;
        default: ip = "100.64." + std::to_string(host) + ".9"; break;
        }
        out.push_back({*util::IpAddress::parse(ip), ip, senders[(i / 6 + i) % std::size(senders)]});
    }
    return out;
}

const char* libspf2_name(SPF_result_t r) {
    switch (r) {
    case SPF_RESULT_NEUTRAL: return "neutral";
    case SPF_RESULT_PASS: return "pass";
    case SPF_RESULT_FAIL: return "fail";
    case SPF_RESULT_SOFTFAIL: return "softfail";
    case SPF_RESULT_NONE: return "none";
    case SPF_RESULT_TEMPERROR: return "temperror";
    case SPF_RESULT_PERMERROR: return "permerror";
    default: return "invalid";
    }
}

class Libspf2 {
public:
    Libspf2() {
        dns_.reset(SPF_dns_zone_new(nullptr, "bench", 0));
        if (!dns_) throw std::runtime_error("SPF_dns_zone_new failed");
        for (const auto& rr : zone) {
            ns_type t = ns_t_txt;
            switch (rr.type) {
            case dns::RrType::a: t = ns_t_a; break;
            case dns::RrType::aaaa: t = ns_t_aaaa; break;
            case dns::RrType::mx: t = ns_t_mx; break;
            default: t = ns_t_txt; break;
            }
            if (SPF_dns_zone_add_str(dns_.get(), rr.name, t, NETDB_SUCCESS, rr.data) != SPF_E_SUCCESS)
                throw std::runtime_error(std::string("SPF_dns_zone_add_str failed for ") + rr.name);
        }
        server_.reset(SPF_server_new_dns(dns_.get(), 0));
        if (!server_) throw std::runtime_error("SPF_server_new_dns failed");
        SPF_server_set_rec_dom(server_.get(), "mx.receiver.example");
    }

    /// The MAIL FROM check; nullopt when libspf2 refuses the request.
    std::optional<SPF_result_t> check(const Pair& p) {
        libspf2::Request req(SPF_request_new(server_.get()));
        if (!req) return std::nullopt;
        const auto& b = p.ip.bytes();
        if (p.ip.is_v4()) {
            in_addr a{};
            std::memcpy(&a, b.data(), 4);
            if (SPF_request_set_ipv4(req.get(), a) != SPF_E_SUCCESS) return std::nullopt;
        } else {
            in6_addr a{};
            std::memcpy(&a, b.data(), 16);
            if (SPF_request_set_ipv6(req.get(), a) != SPF_E_SUCCESS) return std::nullopt;
        }
        if (SPF_request_set_helo_dom(req.get(), "mail.sender.example") != SPF_E_SUCCESS) return std::nullopt;
        if (SPF_request_set_env_from(req.get(), p.sender.c_str()) != 0) return std::nullopt;
        SPF_response_t* raw = nullptr;
        (void)SPF_request_query_mailfrom(req.get(), &raw);  // the result is in the response, also on errors
        libspf2::Response resp(raw);
        if (!resp) return std::nullopt;
        return SPF_response_result(resp.get());
    }

private:
    // Declared first, destroyed last: the server does not own a resolver given to SPF_server_new_dns.
    libspf2::DnsServer dns_;
    libspf2::Server server_;
};

bool parse_size(std::string_view s, std::size_t& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t pairs_n = 4096;
    std::size_t rounds = 7;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--pairs" && i + 1 < argc && parse_size(argv[i + 1], pairs_n) && pairs_n > 0 && pairs_n <= 10000000) {
            ++i;
        } else if (arg == "--rounds" && i + 1 < argc && parse_size(argv[i + 1], rounds) && rounds > 0 && rounds <= 1000) {
            ++i;
        } else {
            std::fprintf(stderr, "usage: bench_spf_engine [--pairs N (1..10000000)] [--rounds R (1..1000)]\n");
            return 2;
        }
    }
    const auto pairs = make_pairs(pairs_n);
    MapResolver resolver;
    util::SystemClock clock;
    spf::Options options;
    options.receiver = "mx.receiver.example";
    const spf::Evaluator ours(resolver, clock, options);
    Libspf2 theirs;

    // Agreement first: the same result for every pair.
    std::map<std::string, std::size_t> tally;
    std::size_t disagree = 0;
    for (const auto& p : pairs) {
        const auto r = ours.check_mail_from(p.ip, p.sender, "mail.sender.example");
        const auto l = theirs.check(p);
        const std::string mine = spf::code_name(r.code);
        const std::string other = l ? libspf2_name(*l) : "refused";
        ++tally[mine];
        if (mine != other) {
            if (disagree < 10)
                std::fprintf(stderr, "disagree: ip=%s sender=%s ours=%s libspf2=%s\n", p.text_ip.c_str(), p.sender.c_str(),
                             mine.c_str(), other.c_str());
            ++disagree;
        }
    }
    std::printf("pairs=%zu results:", pairs.size());
    for (const auto& [k, v] : tally) std::printf(" %s=%zu", k.c_str(), v);
    std::printf(" disagreements=%zu\n", disagree);

    std::vector<double> ours_rate;
    std::vector<double> theirs_rate;
    std::size_t sink = 0;  // keeps the optimiser from dropping the checks
    for (std::size_t round = 0; round < rounds; ++round) {
        auto t0 = Clock::now();
        for (const auto& p : pairs) sink += static_cast<std::size_t>(ours.check_mail_from(p.ip, p.sender, "mail.sender.example").code);
        auto dt = std::chrono::duration<double>(Clock::now() - t0).count();
        ours_rate.push_back(static_cast<double>(pairs.size()) / dt);
        t0 = Clock::now();
        for (const auto& p : pairs) sink += static_cast<std::size_t>(theirs.check(p).value_or(SPF_RESULT_INVALID));
        dt = std::chrono::duration<double>(Clock::now() - t0).count();
        theirs_rate.push_back(static_cast<double>(pairs.size()) / dt);
    }
    const double o = median(ours_rate);
    const double t = median(theirs_rate);
    std::printf("rounds=%zu (alternating; median shown)\n", rounds);
    std::printf("mailmoat spf::Evaluator checks_per_s=%.0f us_per_check=%.2f (best %.0f)\n", o, 1e6 / o,
                *std::max_element(ours_rate.begin(), ours_rate.end()));
    std::printf("libspf2 %d.%d.%d checks_per_s=%.0f us_per_check=%.2f (best %.0f)\n", SPF_LIB_VERSION_MAJOR,
                SPF_LIB_VERSION_MINOR, SPF_LIB_VERSION_PATCH, t, 1e6 / t,
                *std::max_element(theirs_rate.begin(), theirs_rate.end()));
    std::printf("ratio ours/libspf2=%.2f checksum=%zu\n", o / t, sink);
    return disagree == 0 ? 0 : 1;
}
