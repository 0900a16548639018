// milters/dmarc/failure_reports.cpp - failure report decisions at end of message, the bounded queue and
// its delivery worker (destination verification, rate limit, size limit, sendmail/SMTP, one log line each).
#include "milters/dmarc/failure_reports.hpp"

#include <algorithm>
#include <cctype>
#include <random>

#include "common/dmarc_report/destination.hpp"
#include "common/log/logger.hpp"
#include "common/milter/header_value.hpp"
#include "mailmoat/version.hpp"

namespace mailmoat::dmarcd {
namespace {

namespace dr = dmarc_report;

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string random_hex(std::size_t bytes) {
    std::random_device rd;
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < bytes; ++i) {
        const auto b = static_cast<unsigned>(rd()) & 0xffu;
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

/// RFC 6591 §3.2.1 SPF-DNS: "txt : domain : quoted record"; empty when no SPF record is found.
std::string spf_dns(dns::Resolver& resolver, const std::string& domain) {
    const auto a = resolver.query(domain, dns::RrType::txt);
    if (a.status != dns::Status::ok) return {};
    for (const auto& t : a.txt) {
        if (lower(t.substr(0, 7)) != "v=spf1" && lower(t.substr(0, 7)) != "v=spf1 ") continue;
        std::string q;
        for (char c : t.substr(0, 1024)) {
            if (c == '"' || c == '\\') q += '\\';
            q += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
        }
        return "txt : " + domain + " : \"" + q + "\"";
    }
    return {};
}

std::string auth_results_value(const FailureMessage& m, const std::string& domain, const dmarc::Evaluation& e) {
    std::string v = m.authserv_id + "; dmarc=" + dmarc::result_name(e.result) + " (p=" +
                    (e.lookup.effective_policy.empty() ? std::string("none") : e.lookup.effective_policy) + ") header.from=" + domain;
    if (m.spf.scope == "mfrom" && !m.mail_from.empty()) v += "; spf=" + m.spf.result + " smtp.mailfrom=" + m.mail_from;
    for (const auto& d : m.dkim) {
        v += "; dkim=" + d.result;
        if (!d.domain.empty()) v += " header.d=" + d.domain;
        if (!d.selector.empty()) v += " header.s=" + d.selector;
    }
    return v;
}

}  // namespace

void HeaderCopy::add(std::string_view name, std::string_view value) {
    if (fields_.size() >= max_fields || bytes_ + name.size() + value.size() > max_bytes) return;
    bytes_ += name.size() + value.size();
    mail::HeaderField f;
    f.name = std::string(name);
    f.raw_value = milter::wire_value(value);
    fields_.push_back(std::move(f));
}

void HeaderCopy::clear() noexcept {
    fields_.clear();
    bytes_ = 0;
}

std::vector<FailureJob> failure_jobs(const std::shared_ptr<const Settings>& settings, const std::shared_ptr<dns::Resolver>& resolver,
                                     const FailureMessage& msg, const std::vector<mail::HeaderField>& headers,
                                     const std::vector<std::pair<std::string, const dmarc::Evaluation*>>& evals) {
    std::vector<FailureJob> jobs;
    if (!settings || !settings->failure_reports.enabled) return jobs;
    const auto& fs = settings->failure_reports;
    for (const auto& [domain, e] : evals) {
        if (e == nullptr || e->lookup.status != dmarc::Result::pass) continue;  // no usable record
        if (e->result != dmarc::Result::pass && e->result != dmarc::Result::fail) continue;
        const auto& pol = e->lookup.policy;
        if (pol.ruf.empty()) continue;
        if (lower(pol.psd) == "y") continue;  // RFC 9991 §2: ruf= of a psd=y record MUST NOT be considered
        if ((e->lookup.effective_policy.empty() || e->lookup.effective_policy == "none") && !fs.on_none) continue;
        dr::FailureFacts f;
        f.from_domain = domain;
        f.org_domain = e->lookup.organizational_domain;
        f.adkim = pol.adkim;
        f.aspf = pol.aspf;
        if (msg.spf.scope == "mfrom") {
            f.mail_from_domain = msg.mail_from_domain;
            f.spf_result = msg.spf.result;
        } else {
            f.spf_result = "none";  // a HELO result never stands for the MAIL FROM identity
        }
        f.dkim = msg.dkim;
        f.dkim_aligned_pass = e->dkim_aligned;
        f.spf_aligned_pass = e->spf_aligned;
        for (const auto kind : dr::failure_reports_due(dr::parse_fo(pol.fo), f)) {
            FailureJob j;
            j.settings = settings;
            j.resolver = resolver;
            j.policy_domain = pol.domain.empty() ? domain : pol.domain;
            j.org_domain = f.org_domain;
            j.ruf = pol.ruf;
            auto& r = j.report;
            r.kind = kind;
            r.from = fs.sender;
            r.user_agent = std::string("mailmoat-dmarc/") + mailmoat::version;
            r.reported_domain = domain;
            r.auth_results = auth_results_value(msg, domain, *e);
            r.source_ip = msg.source_ip;
            r.original_mail_from = msg.mail_from;
            r.envelope_id = msg.queue_id;
            r.delivery_result = msg.delivery_result;
            r.headers = headers;
            r.redact = fs.redact;
            const bool strict_dkim = lower(pol.adkim) == "s";
            for (const auto& d : msg.dkim) {
                if (lower(d.result) == "pass" || d.result.empty() || lower(d.result) == "none") continue;
                // dmarc: the failing signatures of an aligned identifier (RFC 9991 §4 item 1); dkim: every one.
                if (kind == dr::FailureKind::dmarc && !dr::identifier_aligned(d.domain, f, strict_dkim)) continue;
                if (kind != dr::FailureKind::spf && r.dkim_failures.size() < 8) r.dkim_failures.push_back(d);
            }
            if (kind == dr::FailureKind::dmarc) {
                r.identity_alignment = dr::identity_alignment(f);
                if (r.identity_alignment.find("spf") != std::string::npos) j.spf_dns_domain = f.mail_from_domain;
            } else if (kind == dr::FailureKind::spf) {
                j.spf_dns_domain = f.mail_from_domain;
            }
            jobs.push_back(std::move(j));
        }
    }
    return jobs;
}

const char* delivery_result(dmarc::Disposition applied, QuarantineAction action) noexcept {
    switch (applied) {
        case dmarc::Disposition::reject: return "reject";
        case dmarc::Disposition::quarantine: return action == QuarantineAction::hold ? "policy" : "spam";
        case dmarc::Disposition::none: return "delivered";
    }
    return "other";
}

void offer_failure_reports(FailureReporter& reporter, const std::shared_ptr<const Settings>& settings,
                           const std::shared_ptr<dns::Resolver>& resolver, const FailureMessage& msg,
                           const std::vector<mail::HeaderField>& headers,
                           const std::vector<std::pair<std::string, const dmarc::Evaluation*>>& evals) {
    for (auto& job : failure_jobs(settings, resolver, msg, headers, evals)) (void)reporter.offer(std::move(job));
}

FailureReporter::FailureReporter(Deliver deliver, Now now)
    : deliver_(std::move(deliver)), now_(std::move(now)), redaction_key_(random_hex(32)) {
    if (!deliver_) {
        deliver_ = [](const Settings& s, const std::string& from, const std::string& to, const std::string& message) {
            const auto& fr = s.failure_reports;
            if (!fr.smtp_host.empty())
                return dr::deliver_smtp(fr.smtp_host, fr.smtp_port, s.authserv_id, from, to, message, std::chrono::seconds(30));
            return dr::deliver_sendmail(fr.sendmail, from, to, message, std::chrono::seconds(30));
        };
    }
    if (!now_) {
        now_ = [] { return static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                                          std::chrono::system_clock::now().time_since_epoch()).count()); };
    }
    worker_ = std::thread([this] { run(); });
}

FailureReporter::~FailureReporter() {
    std::size_t pending = 0;
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
        pending = queue_.size();
        queue_.clear();
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
    if (pending > 0) log::notice().kv("action", "failure-report").kv("result", "dropped").kv("reason", "shutdown").kv("count", pending);
}

bool FailureReporter::offer(FailureJob job) {
    const std::size_t cap = job.settings ? job.settings->failure_reports.queue_size : 100;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!stop_ && queue_.size() < cap) {
            queue_.push_back(std::move(job));
            cv_.notify_one();
            return true;
        }
        ++stats_.dropped;
    }
    log::warning().queue_id(job.report.envelope_id).kv("action", "failure-report").kv("result", "dropped")
        .kv("domain", job.report.reported_domain).kv("kind", dr::failure_kind_name(job.report.kind)).kv("reason", "queue_full")
        .kv("queue_size", cap);
    return false;
}

bool FailureReporter::drain(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return idle_cv_.wait_for(lock, timeout, [this] { return queue_.empty() && !busy_; });
}

FailureReporter::Stats FailureReporter::stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
}

void FailureReporter::run() {
    for (;;) {
        FailureJob job;
        {
            std::unique_lock<std::mutex> lock(mu_);
            busy_ = false;
            idle_cv_.notify_all();
            cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
            if (stop_) return;
            job = std::move(queue_.front());
            queue_.pop_front();
            busy_ = true;
        }
        try {
            process(job);
        } catch (const std::exception& e) {
            // A report is never worth the daemon: log, count, go on with the next one.
            std::lock_guard<std::mutex> lock(mu_);
            ++stats_.dropped;
            log::error().queue_id(job.report.envelope_id).kv("action", "failure-report").kv("result", "dropped")
                .kv("reason", "internal_error").kv("error", e.what());
        }
    }
}

bool FailureReporter::rate_allowed(const std::string& domain, unsigned per_hour, std::int64_t now) {
    const std::int64_t window = now - now % 3600;
    if (rate_.size() > 10000) {
        for (auto it = rate_.begin(); it != rate_.end();) it = it->second.first < window ? rate_.erase(it) : std::next(it);
        if (rate_.size() > 10000) return false;  // that many distinct domains within one hour: refuse more
    }
    auto& [start, count] = rate_[domain];
    if (start != window) {
        start = window;
        count = 0;
    }
    if (count >= per_hour) return false;
    ++count;
    return true;
}

void FailureReporter::process(FailureJob& job) {
    const auto& s = *job.settings;
    const auto& fs = s.failure_reports;
    auto& r = job.report;
    const std::int64_t now = now_();
    auto logline = [&](bool sent, std::string_view uri, std::string_view reason, std::string_view detail = {}) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            ++(sent ? stats_.sent : stats_.dropped);
        }
        auto l = sent ? log::info() : log::notice();
        l.queue_id(r.envelope_id).kv("action", "failure-report").kv("result", sent ? "sent" : "dropped")
            .kv("domain", r.reported_domain).kv("policy_domain", job.policy_domain).kv("kind", dr::failure_kind_name(r.kind))
            .kv("ruf", uri).kv("reason", reason);
        if (!detail.empty()) l.kv("detail", detail);
    };
    if (!job.spf_dns_domain.empty() && job.resolver) r.spf_dns = spf_dns(*job.resolver, job.spf_dns_domain);
    r.date = now;
    r.redaction_key = redaction_key_;
    for (const auto& uri : job.ruf) {
        const auto dest = dr::parse_rua(uri);
        if (!dest) {
            logline(false, uri, "unsupported_uri");
            continue;
        }
        // RFC 9991 §5: an external destination needs <policy-domain>._report._dmarc.<dest> (RFC 9990 §4).
        const auto auth = job.resolver ? dr::verify_destination(*job.resolver, job.policy_domain, job.org_domain, *dest)
                                       : dr::Authorization::not_authorized;
        if (auth == dr::Authorization::not_authorized) {
            logline(false, dest->uri, "external_not_authorized", job.policy_domain + "._report._dmarc." + dest->domain);
            continue;
        }
        if (auth == dr::Authorization::tempfail) {
            logline(false, dest->uri, "dns_tempfail");
            continue;
        }
        r.to = dest->address;
        const auto at = fs.sender.rfind('@');
        r.message_id = "ruf." + std::to_string(now) + "." + std::to_string(++serial_) + "." + random_hex(6) + "@" +
                       (at == std::string::npos ? std::string("localhost") : fs.sender.substr(at + 1));
        const auto message = dr::build_failure_report(r);
        if (dest->max_bytes != 0 && message.size() > dest->max_bytes) {
            logline(false, dest->uri, "size_limit", std::to_string(message.size()) + " > " + std::to_string(dest->max_bytes));
            continue;
        }
        if (!rate_allowed(dest->domain, fs.rate_per_hour, now)) {
            logline(false, dest->uri, "rate_limit", std::to_string(fs.rate_per_hour) + "/hour for " + dest->domain);
            continue;
        }
        const auto d = deliver_(s, fs.sender, dest->address, message);
        if (d.status != dr::DeliveryStatus::delivered) {
            logline(false, dest->uri, dr::delivery_status_name(d.status), d.detail);
            continue;
        }
        std::size_t bcc_ok = 0;
        for (const auto& b : fs.bcc)
            if (deliver_(s, fs.sender, b, message).status == dr::DeliveryStatus::delivered) ++bcc_ok;
        logline(true, dest->uri, "delivered", fs.bcc.empty() ? std::string() : "bcc " + std::to_string(bcc_ok) + "/" + std::to_string(fs.bcc.size()));
    }
}

}  // namespace mailmoat::dmarcd
