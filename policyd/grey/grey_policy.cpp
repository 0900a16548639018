// policyd/grey/grey_policy.cpp - mailmoat-grey answers: DEFER_IF_PERMIT 4.7.1, X-Greylist once per message,
// the store-failure action, one log line per decision.
#include "policyd/grey/grey_policy.hpp"

#include <utility>

#include <ctime>

#include "common/mail/header.hpp"
#include "common/log/logger.hpp"
#include "mailmoat/version.hpp"

namespace mailmoat::greyd {
namespace {

constexpr std::size_t max_messages = 20000;
constexpr auto message_lifetime = std::chrono::hours(1);

}  // namespace

GreyPolicy::GreyPolicy(std::shared_ptr<const Settings> settings, std::shared_ptr<store::GreyStore> store,
                       std::shared_ptr<dns::Resolver> resolver, const util::Clock& clock)
    : settings_(std::move(settings)), store_(std::move(store)), resolver_(std::move(resolver)), clock_(clock) {
    const auto& s = *settings_;
    if (resolver_ && s.engine.spf_keying) {
        spf::Options o;
        o.time_budget = s.spf_time_budget;
        o.receiver = s.hostname;
        evaluator_ = std::make_unique<spf::Evaluator>(*resolver_, clock_, o);
        if (s.spf_cache_size > 0)
            cache_ =
                std::make_unique<spf::ResultCache>(clock_, spf::CacheLimits{s.spf_cache_size, std::chrono::hours(1)});
    }
    std::shared_ptr<const grey::KeyHasher> hasher;
    if (!s.privacy_key_file.empty())
        hasher = std::make_shared<grey::KeyHasher>(grey::KeyHasher::from_file(s.privacy_key_file));
    engine_ = std::make_unique<grey::Greylister>(s.engine, load_client_whitelist(s), load_recipient_whitelist(s),
                                                 *store_, clock_, evaluator_.get(), cache_.get(), std::move(hasher));
}

bool GreyPolicy::first_header_for(const std::string& instance) const {
    if (instance.empty()) return true;
    const auto now = clock_.steady_now();
    return messages_.with_lock([&](Messages& ms) {
        while (!ms.order.empty() &&
               (ms.order.size() >= max_messages || now - ms.map[ms.order.front()] > message_lifetime)) {
            ms.map.erase(ms.order.front());
            ms.order.pop_front();
        }
        if (!ms.map.emplace(instance, now).second) return false;
        ms.order.push_back(instance);
        return true;
    });
}

Decision GreyPolicy::decide(const policy::Request& req) const {
    const auto& s = *settings_;
    Decision d;
    if (req.protocol_state != "RCPT") {
        d.skipped = "protocol-state";
        return d;
    }
    if (!req.client_address) {
        d.skipped = "no-client-address";
        return d;
    }
    grey::Query q;
    q.client = *req.client_address;
    q.client_name = req.client_name.empty() ? std::string_view("unknown") : std::string_view(req.client_name);
    q.helo = req.helo_name;
    q.sender = req.sender;
    q.recipient = req.recipient;
    q.sasl_username = req.sasl_username;
    q.ccert_fingerprint = req.ccert_fingerprint;
    d.result = engine_->decide(q);
    switch (d.result.kind) {
        case grey::Result::Kind::greylisted:
            d.action =
                policy::Action::raw(s.greylist_action + " 4.7.1 " + expand_text(s.greylist_text, d.result.remaining));
            break;
        case grey::Result::Kind::tempfail:
            d.action = policy::Action::raw(s.store_failure_action);
            break;
        case grey::Result::Kind::whitelisted:
            d.action = policy::Action::dunno();
            break;
        case grey::Result::Kind::pass:
            if (d.result.reason == "retry" && s.x_greylist_header && first_header_for(req.instance)) {
                d.action = policy::Action::prepend("X-Greylist: delayed " + std::to_string(d.result.delayed.count()) +
                                                   " seconds by mailmoat-grey-" + std::string(version) + " at " +
                                                   s.hostname + "; " + mail::rfc5322_date(std::chrono::system_clock::to_time_t(clock_.now())));
            } else {
                d.action = policy::Action::dunno();
            }
            break;
    }
    return d;
}

policy::Action GreyPolicy::handle(const policy::Request& req, const policy::Peer& peer) const {
    auto d = decide(req);
    if (!d.skipped.empty()) {
        log::debug()
            .queue_id(req.queue_id)
            .kv("conn", peer.connection_id)
            .kv("result", "skipped")
            .kv("reason", d.skipped);
        return d.action;
    }
    const bool failed = d.result.kind == grey::Result::Kind::tempfail;
    const auto level = failed ? log::Level::warning : log::Level::info;
    if (!log::enabled(level)) return d.action;  // nothing below is built for a line nobody reads
    log::Line line(level);
    line.queue_id(req.queue_id)
        .kv("conn", peer.connection_id)
        .kv("client", req.client_address_raw)
        .kv("from", "<" + req.sender + ">")
        .kv("to", "<" + req.recipient + ">")
        .kv("result", grey::kind_name(d.result.kind))
        .kv("reason", d.result.reason);
    if (!d.result.key_kind.empty()) line.kv("key", d.result.key_kind).kv("key_client", d.result.key_client);
    if (d.result.kind == grey::Result::Kind::greylisted)
        line.kv("remaining", static_cast<std::int64_t>(d.result.remaining.count()));
    if (d.result.reason == "retry") line.kv("delayed", static_cast<std::int64_t>(d.result.delayed.count()));
    if (failed) line.kv("store", store_->describe());
    line.kv("action", std::string(d.action.keyword()));
    return d.action;
}

void GreyPolicy::refresh_manual() const {
    auto r = store_->manual();
    if (r.status == store::Status::tempfail) {
        log::warning().kv("event", "manual-whitelist").kv("result", "tempfail").kv("problem", r.error);
        return;
    }
    std::vector<std::string> bad;
    auto m = grey::ManualWhitelist::from(r.entries, &bad);
    for (const auto& b : bad) log::warning().kv("event", "manual-whitelist").kv("skipped", b);
    const auto n = r.entries.size();
    engine_->set_manual(std::move(m));
    const bool changed = manual_size_.with_lock([&](std::size_t& last) { return std::exchange(last, n) != n; });
    if (changed) log::info().kv("event", "manual-whitelist").kv("entries", n);
}

void GreyPolicy::sweep() const {
    const auto r = engine_->sweep();
    if (r.status == store::Status::tempfail)
        log::warning().kv("event", "sweep").kv("result", "tempfail").kv("problem", r.error);
    else
        log::info().kv("event", "sweep").kv("deleted", r.count);
}

}  // namespace mailmoat::greyd
