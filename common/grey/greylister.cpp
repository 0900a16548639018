// common/grey/greylister.cpp - greylisting decisions (postgrey's algorithm, SPF-authenticated sender keys).
#include "common/grey/greylister.hpp"

#include <algorithm>

namespace mailmoat::grey {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');  // ASCII, as tolower in the C locale
    return out;
}

void append_lower(std::string& out, std::string_view s) {
    for (const char c : s) out += c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::chrono::seconds secs(std::chrono::system_clock::duration d) {
    return std::chrono::duration_cast<std::chrono::seconds>(d);
}

Result tempfail(std::string error) {
    Result r;
    r.kind = Result::Kind::tempfail;
    r.reason = error.empty() ? "store failure" : std::move(error);
    return r;
}

}  // namespace

const char* kind_name(Result::Kind k) noexcept {
    switch (k) {
        case Result::Kind::pass:
            return "pass";
        case Result::Kind::greylisted:
            return "greylisted";
        case Result::Kind::whitelisted:
            return "whitelisted";
        case Result::Kind::tempfail:
            return "tempfail";
    }
    return "tempfail";
}

bool sender_matches(std::string_view sender, std::string_view pattern) {
    if (sender.empty() || pattern.empty()) return false;
    const auto s = lower(sender);
    auto p = lower(pattern);
    const auto at = s.rfind('@');
    if (p.front() != '@' && p.find('@') != std::string::npos) return s == p;
    if (p.front() == '@') p.erase(0, 1);
    if (at == std::string::npos || p.empty()) return false;
    const std::string_view domain = std::string_view(s).substr(at + 1);
    return domain == p || (domain.size() > p.size() && domain.substr(domain.size() - p.size()) == p &&
                           domain[domain.size() - p.size() - 1] == '.');
}

ManualWhitelist ManualWhitelist::from(const std::vector<store::ManualEntry>& entries, std::vector<std::string>* bad) {
    ManualWhitelist m;
    for (const auto& e : entries) {
        if (e.kind == "client") {
            if (auto net = util::IpNetwork::parse(e.value)) {
                m.clients.emplace_back(*net, e.value);
                continue;
            }
        } else if (e.kind == "sender" && !e.value.empty()) {
            m.senders.push_back(lower(e.value));
            continue;
        }
        if (bad != nullptr) bad->push_back(e.kind + ":" + e.value);
    }
    return m;
}

void Greylister::set_manual(ManualWhitelist manual) {
    const bool empty = manual.clients.empty() && manual.senders.empty();
    auto p = std::make_shared<const ManualWhitelist>(std::move(manual));
    manual_.with_lock([&](auto& m) {
        m = std::move(p);
        manual_empty_.store(empty, std::memory_order_release);
    });
}

std::string client_group(const util::IpAddress& ip, unsigned ipv4_prefix, unsigned ipv6_prefix) {
    const unsigned prefix = std::min(ip.is_v4() ? ipv4_prefix : ipv6_prefix, ip.bit_length());
    if (prefix == ip.bit_length()) return ip.to_string();
    return ip.masked(prefix).to_string() + "/" + std::to_string(prefix);
}

Greylister::Greylister(Config config, ClientWhitelist clients, RecipientWhitelist recipients, store::GreyStore& store,
                       const util::Clock& clock, const spf::Evaluator* spf, spf::ResultCache* cache,
                       std::shared_ptr<const KeyHasher> hasher)
    : config_(std::move(config)),
      clients_(std::move(clients)),
      recipients_(std::move(recipients)),
      store_(store),
      clock_(clock),
      spf_(spf),
      cache_(cache),
      hasher_(std::move(hasher)) {}

std::string Greylister::store_key(std::string_view text) const {
    return hasher_ ? "h:" + hasher_->hash(text) : std::string(text);
}

Result Greylister::decide(const Query& q) const {
    Result r;
    if (config_.skip_sasl && !q.sasl_username.empty()) {
        r.kind = Result::Kind::pass;
        r.reason = "sasl";
        return r;
    }
    if (!q.ccert_fingerprint.empty() && std::find(config_.trusted_ccerts.begin(), config_.trusted_ccerts.end(),
                                                  lower(q.ccert_fingerprint)) != config_.trusted_ccerts.end()) {
        r.kind = Result::Kind::pass;
        r.reason = "ccert";
        return r;
    }
    if (auto m = clients_.match(q.client, q.client_name); !m.empty()) {
        r.kind = Result::Kind::whitelisted;
        r.reason = "whitelist-clients:" + m;
        return r;
    }
    // Mostly empty: then no lock and no shared reference count per request.
    if (const auto manual = manual_empty_.load(std::memory_order_acquire)
                                ? nullptr
                                : manual_.with_lock([](const auto& m) { return m; })) {
        for (const auto& [net, text] : manual->clients) {
            if (net.contains(q.client)) {
                r.kind = Result::Kind::whitelisted;
                r.reason = "manual-whitelist:client:" + text;
                return r;
            }
        }
        for (const auto& p : manual->senders) {
            if (sender_matches(q.sender, p)) {
                r.kind = Result::Kind::whitelisted;
                r.reason = "manual-whitelist:sender:" + p;
                return r;
            }
        }
    }
    if (auto m = recipients_.match(q.recipient); !m.empty()) {
        r.kind = Result::Kind::whitelisted;
        r.reason = "whitelist-recipients:" + m;
        return r;
    }

    const auto now = clock_.now();
    const auto group = client_group(q.client, config_.ipv4_prefix, config_.ipv6_prefix);
    const bool may_auto_whitelist = config_.auto_whitelist_clients > 0 &&
                                    std::none_of(config_.no_auto_whitelist.begin(), config_.no_auto_whitelist.end(),
                                                 [&](const util::IpNetwork& n) { return n.contains(q.client); }) &&
                                    std::none_of(config_.no_auto_whitelist_senders.begin(),
                                                 config_.no_auto_whitelist_senders.end(),
                                                 [&](const std::string& p) { return sender_matches(q.sender, p); });
    // The client counter's key, only when auto-whitelisting may read or count it.
    const auto client_key = may_auto_whitelist ? store_key("c:" + group) : std::string();
    if (may_auto_whitelist) {
        auto c = store_.client(client_key, now, config_.max_age);
        if (c.status == store::Status::tempfail) return tempfail(std::move(c.error));
        if (c.status == store::Status::ok && c.client.count >= config_.auto_whitelist_clients) {
            // A client that keeps sending stays whitelisted; refreshed at most hourly to spare writes.
            if (now - c.client.last_seen > std::chrono::hours(1)) (void)store_.add_client_pass(client_key, now, 0);
            r.kind = Result::Kind::whitelisted;
            r.reason = "auto-whitelist";
            r.key_client = group;
            return r;
        }
    }

    // The client part of the key: the sender's SPF-authenticated domain when there is one (a big
    // sender's whole pool then counts as one client), else the client's network.
    const auto sender = normalise_sender(q.sender, config_.sender_rules);
    r.key_kind = group.find('/') == std::string::npos ? "exact" : "network";
    r.key_client = group;
    if (config_.spf_keying && spf_ != nullptr && !q.sender.empty()) {
        const auto spf = cache_ != nullptr ? spf::check_mail_from_cached(*spf_, *cache_, q.client, q.sender, q.helo)
                                           : spf_->check_mail_from(q.client, q.sender, q.helo);
        if (spf.code == spf::Code::pass && !spf.domain.empty()) {
            const auto domain = lower(spf.domain);
            if (std::find(config_.skip_domains.begin(), config_.skip_domains.end(), domain) !=
                config_.skip_domains.end()) {
                r.kind = Result::Kind::whitelisted;
                r.reason = "spf-skip-domain:" + domain;
                return r;
            }
            r.key_kind = "spf";
            r.key_client = domain;
        }
    }
    {
        std::string text;  // built in one allocation: this runs for every request
        text.reserve(2 + r.key_client.size() + 1 + sender.size() + 1 + q.recipient.size());
        text += r.key_kind == "spf" ? "s:" : "n:";
        text += r.key_client;
        text += '/';
        text += sender;
        text += '/';
        append_lower(text, q.recipient);
        r.key = hasher_ ? store_key(text) : std::move(text);
    }

    auto seen = store_.seen(r.key, now, config_.max_age);
    if (seen.status != store::Status::ok) return tempfail(std::move(seen.error));
    const auto& e = seen.entry;
    if (seen.created) {
        r.kind = Result::Kind::greylisted;
        r.reason = "new";
        r.remaining = config_.delay;
        return r;
    }
    // seen() has already recorded this attempt; only the transitions below write again.
    if (e.passed) {
        r.kind = Result::Kind::pass;
        r.reason = "known";
        return r;
    }
    const auto age = secs(now - e.first_seen);
    if (age < config_.delay) {
        r.kind = Result::Kind::greylisted;
        r.reason = "early-retry";
        r.remaining = config_.delay - age;
        return r;
    }
    if (age > config_.retry_window) {
        auto t = store_.restart(r.key, now);
        if (t.status == store::Status::tempfail) return tempfail(std::move(t.error));
        r.kind = Result::Kind::greylisted;
        r.reason = "retry-window-expired";
        r.remaining = config_.delay;
        return r;
    }
    auto t = store_.set_passed(r.key);
    if (t.status == store::Status::tempfail) return tempfail(std::move(t.error));
    // The first accepted retry of a triplet counts towards the client's auto-whitelisting. With
    // concurrent retries of one triplet both may count; the threshold is a heuristic, not a ledger.
    if (may_auto_whitelist) {
        auto c = store_.add_client_pass(client_key, now, 0);
        if (c.status == store::Status::tempfail) return tempfail(std::move(c.error));
    }
    r.kind = Result::Kind::pass;
    r.reason = "retry";
    r.delayed = age;
    return r;
}

store::CountResult Greylister::sweep() const {
    return store_.expire(clock_.now() - config_.max_age);
}

}  // namespace mailmoat::grey
