// policyd/spf/spf_policy.cpp - mailmoat-spf decisions: skips, HELO and MAIL FROM checks, RFC 7372 replies,
// Received-SPF / Authentication-Results, one result header per message (by `instance`).
#include "policyd/spf/spf_policy.hpp"

#include <algorithm>

#include "common/log/logger.hpp"
#include "common/mail/auth_results.hpp"

namespace mailmoat::spfd {
namespace {

constexpr std::size_t max_messages = 20000;
constexpr auto message_lifetime = std::chrono::hours(1);

/// A value for a Received-SPF key=value pair: dot-atom when possible, else a quoted-string.
std::string kv_value(std::string_view v) {
    constexpr std::size_t max_len = 255;
    bool atom = !v.empty() && v.front() != '.' && v.back() != '.';
    for (const char ch : v) {
        const auto c = static_cast<unsigned char>(ch);
        const bool atext = std::isalnum(c) != 0 || std::string_view("!#$%&'*+-/=?^_`{|}~.").find(ch) != std::string_view::npos;
        if (!atext) atom = false;
    }
    if (atom && v.size() <= max_len) return std::string(v);
    std::string out = "\"";
    for (const char ch : v.substr(0, max_len)) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c >= 0x7f) continue;  // no control or 8-bit bytes in a header we write
        if (ch == '"' || ch == '\\') out += '\\';
        out += ch;
    }
    return out + "\"";
}

/// Text inside a header comment: no parentheses, backslashes or control bytes from mail data.
std::string comment_text(std::string_view v) {
    std::string out;
    for (const char ch : v.substr(0, 255)) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c >= 0x7f || ch == '(' || ch == ')' || ch == '\\') continue;
        out += ch;
    }
    return out;
}

bool rejects(RejectPolicy p, spf::Code code, bool null_sender) {
    switch (p) {
    case RejectPolicy::fail: return code == spf::Code::fail;
    case RejectPolicy::softfail: return code == spf::Code::fail || code == spf::Code::softfail;
    case RejectPolicy::not_pass:
        return code == spf::Code::fail || code == spf::Code::softfail || code == spf::Code::neutral;
    case RejectPolicy::null: return null_sender && code == spf::Code::fail;
    case RejectPolicy::never:
    case RejectPolicy::no_check: return false;
    }
    return false;
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

}  // namespace

SpfPolicy::SpfPolicy(std::shared_ptr<const Settings> settings, std::shared_ptr<dns::Resolver> resolver,
                     const util::Clock& clock)
    : settings_(std::move(settings)),
      resolver_(std::move(resolver)),
      clock_(clock),
      evaluator_(*resolver_, clock_,
                 [&] {
                     spf::Options o;
                     o.time_budget = settings_->time_budget;
                     o.receiver = settings_->authserv_id;
                     o.default_explanation = settings_->default_explanation;
                     return o;
                 }()),
      cache_(clock_, spf::CacheLimits{settings_->cache_size, std::chrono::hours(1)}) {
    if (!settings_->per_recipient_table.empty()) per_recipient_ = table::open_table(settings_->per_recipient_table);
}

spf::Result SpfPolicy::check(spf::Identity identity, const util::IpAddress& ip, std::string_view sender,
                             std::string_view helo) const {
    if (settings_->cache_size == 0)
        return identity == spf::Identity::helo ? evaluator_.check_helo(ip, helo) : evaluator_.check_mail_from(ip, sender, helo);
    return identity == spf::Identity::helo ? spf::check_helo_cached(evaluator_, cache_, ip, helo)
                                           : spf::check_mail_from_cached(evaluator_, cache_, ip, sender, helo);
}

bool SpfPolicy::helo_confirmed(std::string_view helo, const util::IpAddress& ip) const {
    const auto answer = resolver_->query(helo, ip.is_v4() ? dns::RrType::a : dns::RrType::aaaa);
    if (!answer.ok()) return false;
    return std::find(answer.addresses.begin(), answer.addresses.end(), ip) != answer.addresses.end();
}

MessageState SpfPolicy::evaluate(const policy::Request& req, const util::IpAddress& ip) const {
    const auto& s = *settings_;
    MessageState m;
    m.created = clock_.steady_now();
    const auto helo = lower(req.helo_name);
    if (!helo.empty() && std::find(s.helo_whitelist.begin(), s.helo_whitelist.end(), helo) != s.helo_whitelist.end() &&
        helo_confirmed(helo, ip)) {
        m.whitelisted = true;
        m.whitelist_reason = "helo-whitelist";
        return m;
    }
    for (const auto& domain : s.domain_whitelist) {
        const auto r = check(spf::Identity::mailfrom, ip, "postmaster@" + domain, helo);
        if (r.code == spf::Code::pass) {
            m.whitelisted = true;
            m.whitelist_reason = "domain-whitelist:" + domain;
            return m;
        }
    }
    // Both identities are checked once per message; the knobs (global or per recipient) decide
    // what they lead to. A no-check knob for every recipient skips the lookups.
    const bool any_overrides = per_recipient_ != nullptr;
    if ((s.knobs.helo_reject != RejectPolicy::no_check || any_overrides) && !helo.empty())
        m.helo = check(spf::Identity::helo, ip, {}, req.helo_name);
    if (s.knobs.mail_from_reject != RejectPolicy::no_check || any_overrides) {
        if (req.sender.empty() && m.helo) {
            m.mail_from = m.helo;  // RFC 7208 §2.4: the null sender is checked as postmaster@HELO
            m.mail_from->identity = spf::Identity::mailfrom;
        } else {
            m.mail_from = check(spf::Identity::mailfrom, ip, req.sender, req.helo_name);
        }
    }
    return m;
}

Knobs SpfPolicy::knobs_for(const policy::Request& req) const {
    Knobs k = settings_->knobs;
    if (per_recipient_ == nullptr || req.recipient.empty()) return k;
    const auto match = table::lookup_address(*per_recipient_, req.recipient);
    if (match.status == table::Lookup::Status::found) {
        auto problem = k.apply_overrides(match.value);
        if (!problem.empty()) {
            log::warning().queue_id(req.queue_id).kv("table", settings_->per_recipient_table).kv("key", match.key).kv("problem", problem);
            return settings_->knobs;
        }
    }
    return k;
}

std::string SpfPolicy::received_spf(const spf::Result& r, const util::IpAddress& ip, std::string_view sender,
                                    std::string_view helo) const {
    const auto ip_text = ip.to_string();
    const std::string who = comment_text(r.identity == spf::Identity::helo ? std::string("postmaster@") + std::string(helo)
                                                                            : std::string(sender.empty() ? "postmaster@" + std::string(helo) : std::string(sender)));
    const auto& receiver = settings_->authserv_id;
    std::string comment;
    switch (r.code) {
    case spf::Code::pass: comment = "domain of " + who + " designates " + ip_text + " as permitted sender"; break;
    case spf::Code::fail: comment = "domain of " + who + " does not designate " + ip_text + " as permitted sender"; break;
    case spf::Code::softfail:
        comment = "domain of transitioning " + who + " does not designate " + ip_text + " as permitted sender";
        break;
    case spf::Code::neutral: comment = ip_text + " is neither permitted nor denied by domain of " + who; break;
    case spf::Code::none: comment = "domain of " + who + " does not designate permitted sender hosts"; break;
    case spf::Code::permerror: comment = "permanent error in processing domain of " + who + ": " + comment_text(r.problem); break;
    case spf::Code::temperror: comment = "temporary error in processing during lookup of " + who; break;
    }
    std::string out = "Received-SPF: ";
    out += spf::code_name(r.code);
    out += " (" + receiver + ": " + comment + ")";
    out += " identity=" + std::string(spf::identity_name(r.identity)) + ";";
    out += " client-ip=" + kv_value(ip_text) + ";";
    out += " helo=" + kv_value(helo) + ";";
    out += " envelope-from=" + kv_value(sender) + ";";
    if (!r.mechanism.empty()) out += " mechanism=" + kv_value(r.mechanism) + ";";
    if (r.code == spf::Code::permerror && !r.problem.empty()) out += " problem=" + kv_value(r.problem) + ";";
    out += " receiver=" + kv_value(receiver) + ";";
    return out;
}

std::string SpfPolicy::authentication_results(const MessageState& m, std::string_view sender, std::string_view helo) const {
    mail::AuthResults ar;
    ar.authserv_id = settings_->authserv_id;
    if (m.mail_from) {
        mail::AuthResult r;
        r.method = "spf";
        r.result = spf::code_name(m.mail_from->code);
        if (!sender.empty()) {
            r.properties.push_back({"smtp", "mailfrom", std::string(sender)});
        } else {
            r.properties.push_back({"smtp", "mailfrom", "postmaster@" + std::string(helo)});
        }
        ar.results.push_back(std::move(r));
    }
    if (m.helo && !helo.empty()) {
        mail::AuthResult r;
        r.method = "spf";
        r.result = spf::code_name(m.helo->code);
        r.properties.push_back({"smtp", "helo", std::string(helo)});
        ar.results.push_back(std::move(r));
    }
    return "Authentication-Results: " + mail::auth_results_value(ar);
}

Decision SpfPolicy::decide(const policy::Request& req) const {
    const auto& s = *settings_;
    Decision d;
    const bool at_rcpt = req.protocol_state == "RCPT";
    const bool at_data = req.protocol_state == "DATA";
    if (!at_rcpt && !at_data) {
        d.kind = Decision::Kind::skip;
        d.reason = "protocol-state";
        return d;
    }
    if (!req.client_address) {
        d.kind = Decision::Kind::skip;
        d.reason = "no-client-address";
        return d;
    }
    const auto& ip = *req.client_address;
    for (const auto& net : s.skip_networks)
        if (net.contains(ip)) {
            d.kind = Decision::Kind::skip;
            d.reason = "skip-networks";
            return d;
        }
    if (s.skip_sasl && !req.sasl_username.empty()) {
        d.kind = Decision::Kind::skip;
        d.reason = "sasl";
        return d;
    }

    const auto key = req.instance.empty() ? std::string() : req.instance;
    std::optional<MessageState> known;
    if (!key.empty()) {
        known = messages_.with_lock([&](Messages& ms) -> std::optional<MessageState> {
            const auto it = ms.map.find(key);
            if (it == ms.map.end()) return std::nullopt;
            return it->second;
        });
    }
    if (at_data) {
        // header = both: Authentication-Results goes in at DATA, Received-SPF went in at RCPT.
        if (s.header != HeaderMode::both || !known || known->ar_added || known->whitelisted) {
            d.kind = Decision::Kind::skip;
            d.reason = "data-stage";
            return d;
        }
        messages_.with_lock([&](Messages& ms) { ms.map[key].ar_added = true; });
        d.kind = Decision::Kind::header;
        d.action = policy::Action::prepend(authentication_results(*known, req.sender, req.helo_name));
        return d;
    }

    MessageState m = known ? *known : evaluate(req, ip);
    if (m.whitelisted) {
        d.kind = Decision::Kind::skip;
        d.reason = m.whitelist_reason;
    } else {
        const auto k = knobs_for(req);
        const bool null_sender = req.sender.empty();
        const bool enforce = !k.test_only;
        auto explanation = [](const spf::Result& r) {
            return r.explanation.empty() ? std::string("SPF ") + spf::code_name(r.code) + " - not authorized" : r.explanation;
        };
        if (enforce && m.helo && k.helo_reject != RejectPolicy::no_check && rejects(k.helo_reject, m.helo->code, null_sender)) {
            d.kind = Decision::Kind::reject;
            d.reason = std::string("helo ") + spf::code_name(m.helo->code);
            d.action = policy::Action::raw("550 5.7.23 " + policy::sanitize_text(explanation(*m.helo)));
        } else if (enforce && m.mail_from && k.mail_from_reject != RejectPolicy::no_check &&
                   rejects(k.mail_from_reject, m.mail_from->code, null_sender)) {
            d.kind = Decision::Kind::reject;
            d.reason = std::string("mailfrom ") + spf::code_name(m.mail_from->code);
            d.action = policy::Action::raw("550 5.7.23 " + policy::sanitize_text(explanation(*m.mail_from)));
        } else if (enforce && k.permerror_reject && m.mail_from && m.mail_from->code == spf::Code::permerror) {
            d.kind = Decision::Kind::reject;
            d.reason = "mailfrom permerror";
            d.action = policy::Action::raw("550 5.7.24 " + policy::sanitize_text("SPF permanent error: " + m.mail_from->problem));
        } else if (enforce && k.temperror_defer &&
                   ((m.mail_from && m.mail_from->code == spf::Code::temperror) ||
                    (m.helo && m.helo->code == spf::Code::temperror && null_sender))) {
            d.kind = Decision::Kind::defer;
            d.reason = "temperror";
            d.action = policy::Action::defer_if_permit("4.7.24 SPF temporary error, please try again later");
        } else if (s.header == HeaderMode::none || m.header_added) {
            d.kind = Decision::Kind::none;
            d.reason = m.header_added ? "header-already-added" : "no-header";
        } else {
            // Report the MAIL FROM result; fall back to HELO when MAIL FROM says nothing.
            const spf::Result* shown = m.mail_from ? &*m.mail_from : nullptr;
            if (m.helo && (shown == nullptr || (shown->code == spf::Code::none && m.helo->code != spf::Code::none)))
                shown = &*m.helo;
            if (shown == nullptr) {
                d.kind = Decision::Kind::none;
                d.reason = "not-checked";
            } else {
                d.kind = Decision::Kind::header;
                d.action = policy::Action::prepend(s.header == HeaderMode::authentication_results
                                                       ? authentication_results(m, req.sender, req.helo_name)
                                                       : received_spf(*shown, ip, req.sender, req.helo_name));
                m.header_added = true;
            }
        }
    }
    if (!key.empty()) {
        messages_.with_lock([&](Messages& ms) {
            auto [it, inserted] = ms.map.insert_or_assign(key, m);
            (void)it;
            if (inserted) ms.order.push_back(key);
            const auto now = clock_.steady_now();
            while (!ms.order.empty()) {
                const auto f = ms.map.find(ms.order.front());
                const bool stale = f == ms.map.end() || now - f->second.created > message_lifetime;
                if (!stale && ms.map.size() <= max_messages) break;
                if (f != ms.map.end()) ms.map.erase(f);
                ms.order.pop_front();
            }
        });
    }
    return d;
}

policy::Action SpfPolicy::handle(const policy::Request& req, const policy::Peer& /*peer*/) const {
    const bool first = !req.instance.empty() &&
                       !messages_.with_lock([&](Messages& ms) { return ms.map.count(req.instance) != 0U; });
    const auto d = decide(req);
    if (d.kind == Decision::Kind::skip && d.reason == "protocol-state") return d.action;
    const bool repeat = !first && req.protocol_state == "RCPT" && !req.instance.empty();
    auto line = log::Line(repeat || d.kind == Decision::Kind::skip ? log::Level::debug : log::Level::info);
    line.queue_id(req.queue_id).kv("client", req.client_address_raw).kv("helo", req.helo_name).kv("from", "<" + req.sender + ">");
    if (!req.recipient.empty()) line.kv("to", "<" + req.recipient + ">");
    if (d.kind == Decision::Kind::skip) {
        line.kv("result", "skipped").kv("reason", d.reason);
    } else if (req.protocol_state == "RCPT") {
        messages_.with_lock([&](Messages& ms) {
            const auto it = ms.map.find(req.instance);
            if (it == ms.map.end()) return;
            if (it->second.helo) line.kv("helo_result", spf::code_name(it->second.helo->code));
            if (const auto& r = it->second.mail_from) {
                line.kv("identity", spf::identity_name(r->identity)).kv("domain", r->domain).kv("result", spf::code_name(r->code));
                if (!r->mechanism.empty()) line.kv("mechanism", r->mechanism);
                if (!r->problem.empty()) line.kv("problem", r->problem);
                line.kv("lookups", r->dns_terms).kv("queries", r->queries);
            }
        });
    }
    line.kv("action", std::string(d.action.keyword()));
    if (!d.reason.empty() && d.kind != Decision::Kind::skip) line.kv("reason", d.reason);
    return d.action;
}

}  // namespace mailmoat::spfd
