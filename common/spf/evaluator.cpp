// common/spf/evaluator.cpp - RFC 7208 §4-§6 check_host(): record selection, terms, limits, exp=.
#include "common/spf/evaluator.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <vector>

#include "common/spf/macro.hpp"
#include "common/spf/record.hpp"

namespace mailmoat::spf {

namespace {

constexpr unsigned max_depth = 32;  // include/redirect nesting; the 10-term limit normally stops first

constexpr char lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string to_lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = lower(c);
    return out;
}

/// True when name equals domain or is a subdomain of it (case-insensitive, trailing dots ignored).
bool same_or_subdomain(std::string_view name, std::string_view domain) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
    const auto n = to_lower(name);
    const auto d = to_lower(domain);
    if (n == d) return true;
    return n.size() > d.size() && n.compare(n.size() - d.size(), d.size(), d) == 0 && n[n.size() - d.size() - 1] == '.';
}

Code code_of(Qualifier q) noexcept {
    switch (q) {
        case Qualifier::pass:
            return Code::pass;
        case Qualifier::fail:
            return Code::fail;
        case Qualifier::softfail:
            return Code::softfail;
        case Qualifier::neutral:
            return Code::neutral;
    }
    return Code::neutral;
}

/// The result of one check_host() level before the explanation is fetched (only the final fail
/// needs it, so it is computed once at the top).
struct Outcome {
    Code code = Code::none;
    std::string mechanism;
    std::string problem;
    std::optional<std::string> exp_spec;  // exp= of the record that produced a fail
    std::string exp_domain;               // <domain> of that record (for %{d} in the exp)
};

enum class Match { yes, no, temperror, permerror };

/// Per-check state: counters, the deadline and the inputs. Lives for one check_host() call.
class Check {
public:
    Check(dns::Resolver& resolver, const util::Clock& clock, const Options& opt, const util::IpAddress& ip,
          std::string_view local, std::string_view sender_domain, std::string_view helo)
        : resolver_(resolver),
          clock_(clock),
          opt_(opt),
          ip_(ip),
          local_(local),
          sender_domain_(sender_domain),
          helo_(helo),
          deadline_(clock.steady_now() + opt.time_budget) {}

    Outcome evaluate(const std::string& domain, unsigned depth);
    std::string explanation(const Outcome& o);
    void fill(Result& r) const {
        r.dns_terms = dns_terms_;
        r.void_lookups = voids_;
        r.queries = queries_;
        r.ttl = ttl_ == std::numeric_limits<std::uint32_t>::max() ? 0 : ttl_;
        r.sender_specific = sender_specific_;
    }

private:
    /// Every DNS query goes through here: budget and query cap first, then the resolver.
    dns::Answer query(std::string_view name, dns::RrType type) {
        dns::Answer a;
        if (budget_spent_ || clock_.steady_now() >= deadline_) {
            budget_spent_ = true;
            a.status = dns::Status::tempfail;
            a.error = "time budget spent";
            return a;
        }
        if (queries_ >= opt_.max_queries) {
            too_many_queries_ = true;
            a.status = dns::Status::tempfail;
            a.error = "query cap reached";
            return a;
        }
        ++queries_;
        a = resolver_.query(name, type);
        if (a.status != dns::Status::tempfail) ttl_ = std::min(ttl_, a.ttl);
        return a;
    }

    /// A limit or budget hit inside a term overrides what the term itself concluded.
    std::optional<Outcome> aborted() const {
        if (budget_spent_) return Outcome{Code::temperror, {}, "time budget spent", {}, {}};
        if (too_many_queries_) return Outcome{Code::permerror, {}, "too many DNS queries", {}, {}};
        return std::nullopt;
    }

    /// Counts a void lookup (§4.6.4); false once over the limit.
    bool count_void() { return ++voids_ <= opt_.max_void_lookups; }

    MacroEnv env(const std::string& domain) {
        MacroEnv e;
        e.local_part = local_;
        e.sender_domain = sender_domain_;
        e.domain = domain;
        e.helo = helo_;
        e.receiver = opt_.receiver;
        e.ip = ip_;
        e.timestamp = std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch()).count();
        e.validated_name = [this, domain] { return validated_name(domain); };
        return e;
    }

    /// Expands a domain-spec (empty: the current domain) and truncates it per §7.3.
    std::optional<std::string> target(const std::string& spec, const std::string& domain, std::string& problem) {
        if (spec.empty()) return domain;
        if (spec.find('%') == std::string::npos) return truncate_domain(spec);  // validated at parse: plain name
        auto r = expand_macro_string(spec, MacroContext::domain, env(domain));
        sender_specific_ = sender_specific_ || r.sender_specific;
        if (r.status != MacroStatus::ok) {
            problem = "macro expansion failed: " + r.error;
            return std::nullopt;
        }
        return truncate_domain(r.text);
    }

    dns::RrType addr_type() const noexcept { return ip_.is_v4() ? dns::RrType::a : dns::RrType::aaaa; }

    bool addr_matches(const dns::Answer& a, const Mechanism& m) const {
        const unsigned len = ip_.is_v4() ? m.cidr4 : m.cidr6;
        return std::any_of(a.addresses.begin(), a.addresses.end(),
                           [&](const util::IpAddress& x) { return ip_.in_network(x, len); });
    }

    /// The names of ip_ that resolve back to it (§5.5), at most max_ptr_names PTR names tried; DNS
    /// errors only shrink the list. Computed once per check (the ptr mechanism and %{p} share it);
    /// ptr_void_ records whether the PTR query itself was void.
    const std::vector<std::string>& validated_names() {
        if (validated_) return *validated_;
        validated_.emplace();
        const auto ptr = query(ip_.reverse_name(), dns::RrType::ptr);
        ptr_void_ =
            ptr.status == dns::Status::nxdomain || ptr.status == dns::Status::nodata || (ptr.ok() && ptr.names.empty());
        if (!ptr.ok()) return *validated_;
        const std::size_t n = std::min<std::size_t>(ptr.names.size(), opt_.max_ptr_names);
        for (std::size_t i = 0; i < n; ++i) {
            const auto a = query(ptr.names[i], addr_type());
            if (!a.ok()) continue;
            if (std::find(a.addresses.begin(), a.addresses.end(), ip_) != a.addresses.end()) {
                validated_->push_back(ptr.names[i]);
            }
        }
        return *validated_;
    }

    /// %{p} (§7.3): a validated name equal to or under domain if there is one, else any, else "unknown".
    std::string validated_name(const std::string& domain) {
        validated_names();
        for (const auto& n : *validated_) {
            if (same_or_subdomain(n, domain)) return n;
        }
        return validated_->empty() ? std::string("unknown") : validated_->front();
    }

    Match mechanism(const Mechanism& m, const std::string& domain, unsigned depth, std::string& problem);

    dns::Resolver& resolver_;
    const util::Clock& clock_;
    const Options& opt_;
    util::IpAddress ip_;
    std::string_view local_;
    std::string_view sender_domain_;
    std::string_view helo_;
    std::chrono::steady_clock::time_point deadline_;
    unsigned dns_terms_ = 0;
    unsigned voids_ = 0;
    unsigned queries_ = 0;
    std::uint32_t ttl_ = std::numeric_limits<std::uint32_t>::max();
    bool budget_spent_ = false;
    bool too_many_queries_ = false;
    std::optional<std::vector<std::string>> validated_;
    bool ptr_void_ = false;
    bool sender_specific_ = false;
};

Match Check::mechanism(const Mechanism& m, const std::string& domain, unsigned depth, std::string& problem) {
    switch (m.kind) {
        case MechanismKind::all:
            return Match::yes;
        case MechanismKind::ip4:
        case MechanismKind::ip6:
            return ip_.in_network(m.network, m.kind == MechanismKind::ip4 ? m.cidr4 : m.cidr6) ? Match::yes : Match::no;
        default:
            break;
    }
    const auto name = target(m.domain_spec, domain, problem);
    if (!name) return Match::permerror;
    switch (m.kind) {
        case MechanismKind::include: {
            // §5.2: pass matches; fail, softfail, neutral do not; temperror stays; permerror and none
            // become permerror.
            const auto inner = evaluate(*name, depth + 1);
            switch (inner.code) {
                case Code::pass:
                    return Match::yes;
                case Code::fail:
                case Code::softfail:
                case Code::neutral:
                    return Match::no;
                case Code::temperror:
                    problem = inner.problem;
                    return Match::temperror;
                case Code::permerror:
                    problem = inner.problem;
                    return Match::permerror;
                case Code::none:
                    problem = "included domain " + *name + " has no SPF record";
                    return Match::permerror;
            }
            return Match::permerror;
        }
        case MechanismKind::a:
        case MechanismKind::exists: {
            const auto type = m.kind == MechanismKind::exists ? dns::RrType::a : addr_type();
            const auto a = query(*name, type);
            if (a.status == dns::Status::tempfail) {
                problem = std::string(dns::type_name(type)) + " lookup of " + *name + " failed: " + a.error;
                return Match::temperror;
            }
            if (!a.ok() || a.addresses.empty()) {
                if (!count_void()) {
                    problem = "too many void lookups";
                    return Match::permerror;
                }
                return Match::no;
            }
            if (m.kind == MechanismKind::exists) return Match::yes;
            return addr_matches(a, m) ? Match::yes : Match::no;
        }
        case MechanismKind::mx: {
            const auto mx = query(*name, dns::RrType::mx);
            if (mx.status == dns::Status::tempfail) {
                problem = "MX lookup of " + *name + " failed: " + mx.error;
                return Match::temperror;
            }
            if (!mx.ok() || mx.mx.empty()) {
                if (!count_void()) {
                    problem = "too many void lookups";
                    return Match::permerror;
                }
                return Match::no;
            }
            if (mx.mx.size() > opt_.max_mx_names) {
                problem = "more than " + std::to_string(opt_.max_mx_names) + " MX names for " + *name;
                return Match::permerror;
            }
            for (const auto& x : mx.mx) {
                if (x.exchange.empty()) continue;  // RFC 7505 null MX
                const auto a = query(x.exchange, addr_type());
                if (a.status == dns::Status::tempfail) {
                    problem = "address lookup of MX " + x.exchange + " failed: " + a.error;
                    return Match::temperror;
                }
                if (a.ok() && addr_matches(a, m)) return Match::yes;
            }
            return Match::no;
        }
        case MechanismKind::ptr: {
            // §5.5: DNS errors make ptr not match (never temperror). Each ptr term counts its void
            // PTR answer, even when an earlier term or %{p} already asked.
            const auto& names = validated_names();
            if (ptr_void_ && !count_void()) {
                problem = "too many void lookups";
                return Match::permerror;
            }
            for (const auto& n : names) {
                if (same_or_subdomain(n, *name)) return Match::yes;
            }
            return Match::no;
        }
        default:
            return Match::no;
    }
}

Outcome Check::evaluate(const std::string& domain, unsigned depth) {
    Outcome out;
    if (depth > max_depth) {
        out.code = Code::permerror;
        out.problem = "include/redirect nesting too deep";
        return out;
    }
    if (depth == 0 ? !valid_identity_domain(domain) : !well_formed_domain(domain)) {
        out.code = Code::none;
        out.problem = "malformed domain " + domain;
        return out;
    }
    // §4.4 record lookup, §4.5 selection.
    const auto txt = query(domain, dns::RrType::txt);
    if (auto a = aborted()) return *a;
    if (txt.status == dns::Status::tempfail) {
        out.code = Code::temperror;
        out.problem = "TXT lookup of " + domain + " failed: " + txt.error;
        return out;
    }
    const std::string* record_text = nullptr;
    unsigned found = 0;
    for (const auto& t : txt.txt) {
        if (has_spf_version(t)) {
            record_text = &t;
            ++found;
        }
    }
    if (found == 0) {
        out.code = Code::none;
        out.problem = "no SPF record at " + domain;
        return out;
    }
    if (found > 1) {
        out.code = Code::permerror;
        out.problem = "more than one SPF record at " + domain;
        return out;
    }
    auto parsed = parse_record(*record_text);
    if (parsed.status != ParseStatus::ok) {
        out.code = Code::permerror;
        out.problem = "syntax error in SPF record of " + domain + ": " + parsed.error;
        return out;
    }
    const Record& rec = parsed.record;
    for (const auto& m : rec.mechanisms) {
        if (m.needs_dns() && ++dns_terms_ > opt_.max_dns_terms) {
            out.code = Code::permerror;
            out.problem = "more than " + std::to_string(opt_.max_dns_terms) + " DNS lookups";
            return out;
        }
        std::string problem;
        const auto match = mechanism(m, domain, depth, problem);
        if (auto a = aborted()) return *a;
        switch (match) {
            case Match::no:
                continue;
            case Match::temperror:
            case Match::permerror:
                out.code = match == Match::temperror ? Code::temperror : Code::permerror;
                out.mechanism = m.text;
                out.problem = std::move(problem);
                return out;
            case Match::yes:
                out.code = code_of(m.qualifier);
                out.mechanism = m.text;
                if (out.code == Code::fail) {
                    out.exp_spec = rec.exp;
                    out.exp_domain = domain;
                }
                return out;
        }
    }
    if (rec.redirect) {
        // §6.1: counts as a lookup; a target without a record (or malformed) is a permerror; the
        // target's result, explanation included, becomes ours.
        if (++dns_terms_ > opt_.max_dns_terms) {
            out.code = Code::permerror;
            out.problem = "more than " + std::to_string(opt_.max_dns_terms) + " DNS lookups";
            return out;
        }
        std::string problem;
        const auto name = target(*rec.redirect, domain, problem);
        if (!name) {
            out.code = Code::permerror;
            out.problem = std::move(problem);
            return out;
        }
        auto inner = evaluate(*name, depth + 1);
        if (inner.code == Code::none) {
            inner.code = Code::permerror;
            inner.problem = "redirect target " + *name + " has no SPF record";
        }
        return inner;
    }
    out.code = Code::neutral;
    out.mechanism = "default";
    return out;
}

std::string Check::explanation(const Outcome& o) {
    const auto fallback = [&]() -> std::string {
        if (opt_.default_explanation.empty()) return {};
        auto r = expand_macro_string(opt_.default_explanation, MacroContext::explanation, env(o.exp_domain));
        sender_specific_ = sender_specific_ || r.sender_specific;
        return r.status == MacroStatus::ok ? r.text : std::string();
    };
    if (!o.exp_spec) return fallback();
    const auto used_sender = [this](const MacroResult& r) { sender_specific_ = sender_specific_ || r.sender_specific; };
    // §6.2: any DNS error, no record, several records, or a bad explain-string: as if no exp=.
    std::string problem;
    const auto name = target(*o.exp_spec, o.exp_domain, problem);
    if (!name || name->empty()) return fallback();
    const auto txt = query(*name, dns::RrType::txt);
    if (!txt.ok() || txt.txt.size() != 1) return fallback();
    auto r = expand_macro_string(txt.txt.front(), MacroContext::explanation, env(o.exp_domain));
    used_sender(r);
    if (r.status != MacroStatus::ok) return fallback();
    return r.text;
}

}  // namespace

const char* code_name(Code c) noexcept {
    switch (c) {
        case Code::none:
            return "none";
        case Code::neutral:
            return "neutral";
        case Code::pass:
            return "pass";
        case Code::fail:
            return "fail";
        case Code::softfail:
            return "softfail";
        case Code::temperror:
            return "temperror";
        case Code::permerror:
            return "permerror";
    }
    return "permerror";
}

const char* identity_name(Identity i) noexcept {
    return i == Identity::helo ? "helo" : "mailfrom";
}

bool well_formed_domain(std::string_view domain) noexcept {
    if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
    if (domain.empty() || domain.size() > max_domain_length) return false;
    std::size_t labels = 0;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= domain.size(); ++i) {
        if (i == domain.size() || domain[i] == '.') {
            if (i == start || i - start > 63) return false;
            ++labels;
            start = i + 1;
        }
    }
    return labels >= 2;
}

bool valid_identity_domain(std::string_view domain) noexcept {
    if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
    if (domain.empty() || domain.size() > max_domain_length) return false;
    std::size_t labels = 0;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= domain.size(); ++i) {
        if (i == domain.size() || domain[i] == '.') {
            const auto len = i - start;
            if (len == 0 || len > 63) return false;
            ++labels;
            start = i + 1;
            continue;
        }
        const char c = domain[i];
        const bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok) return false;
    }
    return labels >= 2;
}

Evaluator::Evaluator(dns::Resolver& resolver, const util::Clock& clock, Options options)
    : resolver_(resolver), clock_(clock), options_(std::move(options)) {}

SenderParts split_sender(std::string_view sender, std::string_view helo) {
    SenderParts p;
    const auto at = sender.rfind('@');
    if (sender.empty()) {
        p.domain = std::string(helo);
    } else if (at == std::string_view::npos) {
        p.domain = std::string(sender);
    } else {
        p.local_part = std::string(sender.substr(0, at));
        p.domain = std::string(sender.substr(at + 1));
    }
    if (p.local_part.empty()) p.local_part = "postmaster";
    if (!p.domain.empty() && p.domain.back() == '.') p.domain.pop_back();
    return p;
}

Result Evaluator::check_mail_from(const util::IpAddress& ip, std::string_view sender, std::string_view helo) const {
    const auto parts = split_sender(sender, helo);
    return check_host(ip, parts.domain, parts.local_part + "@" + parts.domain, helo, Identity::mailfrom);
}

Result Evaluator::check_helo(const util::IpAddress& ip, std::string_view helo) const {
    return check_host(ip, helo, "postmaster@" + std::string(helo), helo, Identity::helo);
}

Result Evaluator::check_host(const util::IpAddress& ip, std::string_view domain, std::string_view sender,
                             std::string_view helo, Identity identity) const {
    Result r;
    r.identity = identity;
    std::string d(domain);
    if (!d.empty() && d.back() == '.') d.pop_back();
    r.domain = d;
    if (!valid_identity_domain(d)) {
        r.code = Code::none;
        r.problem = "not a valid domain name";
        return r;
    }
    // §4.3: a sender without a local-part uses "postmaster".
    const auto at = sender.rfind('@');
    std::string_view local = at == std::string_view::npos ? std::string_view{} : sender.substr(0, at);
    if (local.empty()) local = "postmaster";
    // §5: an IPv4-mapped IPv6 client is an IPv4 client (IpAddress::parse already does this; a
    // caller building addresses from bytes might not).
    util::IpAddress client = ip;
    static constexpr std::uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (client.is_v6() && std::equal(std::begin(mapped_prefix), std::end(mapped_prefix), client.bytes().begin())) {
        client = util::IpAddress::from_bytes(client.bytes().data() + 12, true);
    }
    Check check(resolver_, clock_, options_, client, local, d, helo);
    auto o = check.evaluate(d, 0);
    r.code = o.code;
    r.mechanism = std::move(o.mechanism);
    r.problem = std::move(o.problem);
    if (r.code == Code::fail) r.explanation = check.explanation(o);
    check.fill(r);
    return r;
}

}  // namespace mailmoat::spf
