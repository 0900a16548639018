// milters/dmarc/failure_reports.hpp - mailmoat-dmarc's failure (ruf) reports: the end-of-message hook
// decides (fo=, ruf=, psd=, failure-reports-on-none) and queues; one worker thread verifies destinations
// (RFC 9991 §5), rate-limits, builds the redacted AFRF report and delivers it, so that mail is never
// blocked or slowed by reporting.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/dmarc/evaluator.hpp"
#include "common/dmarc_report/delivery.hpp"
#include "common/dmarc_report/failure_report.hpp"
#include "common/dns/resolver.hpp"
#include "common/mail/header.hpp"
#include "milters/dmarc/settings.hpp"

namespace mailmoat::dmarcd {

/// A bounded copy of a message's header fields for reports (only kept while failure-reports is on).
class HeaderCopy {
public:
    static constexpr std::size_t max_fields = 500;
    static constexpr std::size_t max_bytes = 64 * 1024;
    /// Keeps name and value (milter protocol form) while within the bounds; later fields are dropped.
    void add(std::string_view name, std::string_view value);
    void clear() noexcept;
    [[nodiscard]] const std::vector<mail::HeaderField>& fields() const noexcept { return fields_; }

private:
    std::vector<mail::HeaderField> fields_;
    std::size_t bytes_ = 0;
};

/// What the end-of-message step knows about the message as a whole.
struct FailureMessage {
    std::string queue_id;
    std::string source_ip;
    std::string mail_from;        // MAIL FROM address without <>
    std::string mail_from_domain;
    std::string authserv_id;
    std::string delivery_result;  // delivered | spam | policy | reject (RFC 6591 §3.2.1)
    dmarc::SpfOutcome spf;        // MAIL FROM identity
    std::vector<dmarc::DkimOutcome> dkim;
};

/// One report to send, decided at end of message; the worker resolves its destinations.
struct FailureJob {
    std::shared_ptr<const Settings> settings;
    std::shared_ptr<dns::Resolver> resolver;
    std::string policy_domain;            // where the record was found
    std::string org_domain;               // the author domain's organizational domain
    std::vector<std::string> ruf;         // as published, "!size" kept
    dmarc_report::FailureReport report;   // everything but to, date, message_id, redaction key, SPF-DNS
    std::string spf_dns_domain;           // set: look up its SPF record for SPF-DNS (RFC 9991 §4)
};

/// Decides, per evaluated author domain, whether a report is due (RFC 9991 §2: a valid record with
/// ruf=, not psd=y; fo= as failure_reports_due(); p=none only with failure-reports-on-none) and
/// returns the jobs. Pure apart from reading its inputs; returns nothing when failure-reports is off.
[[nodiscard]] std::vector<FailureJob> failure_jobs(const std::shared_ptr<const Settings>& settings,
                                                   const std::shared_ptr<dns::Resolver>& resolver,
                                                   const FailureMessage& msg, const std::vector<mail::HeaderField>& headers,
                                                   const std::vector<std::pair<std::string, const dmarc::Evaluation*>>& evals);

class FailureReporter;

/// RFC 6591 §3.2.1 Delivery-Result for what the milter does with the message: reject, policy (held),
/// spam (delivered with the quarantine header), delivered.
[[nodiscard]] const char* delivery_result(dmarc::Disposition applied, QuarantineAction action) noexcept;

/// failure_jobs() handed to the reporter; never blocks, never throws for a full queue.
void offer_failure_reports(FailureReporter& reporter, const std::shared_ptr<const Settings>& settings,
                           const std::shared_ptr<dns::Resolver>& resolver, const FailureMessage& msg,
                           const std::vector<mail::HeaderField>& headers,
                           const std::vector<std::pair<std::string, const dmarc::Evaluation*>>& evals);

/// The bounded queue and its worker. Lives for the whole daemon (across reloads); each job carries its
/// own settings snapshot. offer() never blocks on delivery or DNS: it takes a short lock, and drops the
/// job (one log line) when the queue is full.
class FailureReporter {
public:
    using Deliver = std::function<dmarc_report::DeliveryResult(const Settings& s, const std::string& from,
                                                               const std::string& to, const std::string& message)>;
    using Now = std::function<std::int64_t()>;
    /// deliver: empty → sendmail (argv, no shell) or SMTP as the job's settings say. now: Unix seconds.
    explicit FailureReporter(Deliver deliver = {}, Now now = {});
    ~FailureReporter();
    FailureReporter(const FailureReporter&) = delete;
    FailureReporter& operator=(const FailureReporter&) = delete;

    /// Queues a job; false (logged, counted) when the queue holds job.settings' failure-reports-queue jobs.
    bool offer(FailureJob job);
    /// Waits until the queue is empty and the worker idle (tests, shutdown); false on timeout.
    bool drain(std::chrono::milliseconds timeout);

    struct Stats {
        std::uint64_t sent = 0;
        std::uint64_t dropped = 0;  // queue full, refused destination, rate limit, size, delivery failure
    };
    [[nodiscard]] Stats stats() const;

private:
    void run();
    void process(FailureJob& job);
    bool rate_allowed(const std::string& domain, unsigned per_hour, std::int64_t now);

    Deliver deliver_;
    Now now_;
    std::string redaction_key_;  // random per process (RFC 6590: a secret known only to the reporter)
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::condition_variable idle_cv_;
    std::deque<FailureJob> queue_;
    bool busy_ = false;
    bool stop_ = false;
    Stats stats_;
    std::map<std::string, std::pair<std::int64_t, unsigned>> rate_;  // domain → (hour window start, count); worker only
    std::uint64_t serial_ = 0;                                         // worker only
    std::thread worker_;
};

}  // namespace mailmoat::dmarcd
