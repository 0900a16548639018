// common/store/dmarc_report_store.hpp - what the aggregate-report run and the report ingester keep beside
// the evaluation records: sent-report bookkeeping (exactly once), pruning, and the reports others sent us.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/dmarc_report/aggregate_report.hpp"
#include "common/store/dmarc_store.hpp"

namespace mailmoat::store {

struct DomainsResult {
    Status status = Status::ok;
    std::string error;
    std::vector<std::string> domains;
};

struct TimeResult {
    Status status = Status::ok;  // not_found: nothing recorded yet
    std::string error;
    std::int64_t value = 0;
};

struct CountResult64 {
    Status status = Status::ok;
    std::string error;
    std::uint64_t count = 0;
};

/// How one destination of one report period was settled.
enum class DeliveryState {
    sent,        // delivered (accepted by sendmail or the SMTP host)
    refused,     // never to be sent: external destination not authorised, report over its size limit
};
[[nodiscard]] const char* delivery_state_name(DeliveryState s) noexcept;

/// Result of storing an ingested report.
enum class IngestOutcome { added, duplicate, tempfail };
[[nodiscard]] const char* ingest_outcome_name(IngestOutcome o) noexcept;

struct IngestResult {
    IngestOutcome outcome = IngestOutcome::tempfail;
    std::string error;
};

/// Result of claiming a destination before delivering a report to it.
enum class ClaimOutcome { claimed, taken, tempfail };

struct ClaimResult {
    ClaimOutcome outcome = ClaimOutcome::tempfail;
    std::string owner;  // taken: who holds the claim
    std::string error;
};

struct ReportsResult {
    Status status = Status::ok;
    std::string error;
    std::vector<dmarc_report::AggregateReport> reports;
};

class DmarcReportStore {
public:
    virtual ~DmarcReportStore() = default;

    // --- sending (RFC 7489 §7.2, RFC 9990 §2) ---
    /// Policy domains with evaluation records in [from, until), sorted.
    [[nodiscard]] virtual DomainsResult record_domains(std::int64_t from, std::int64_t until) = 0;
    /// End of the last closed reporting period of `domain` (not_found when none was closed yet).
    [[nodiscard]] virtual TimeResult last_period_end(const std::string& domain) = 0;
    /// Whether `destination` of the period (domain, begin) was already settled: ok (yes), not_found.
    [[nodiscard]] virtual Status destination_settled(const std::string& domain, std::int64_t begin,
                                                     const std::string& destination) = 0;
    /// Claims (domain, begin, destination) for `owner` until now + lease seconds, so that two report runs
    /// (on one host, or on several sharing the store) never both deliver it. claimed when no claim is
    /// held, the held one expired, is `owner`'s own, or is `stale_owner`'s (non-empty: a holder the
    /// caller knows is dead); taken (holder in `owner`) otherwise. Atomic in the store.
    [[nodiscard]] virtual ClaimResult claim_destination(const std::string& domain, std::int64_t begin,
                                                        const std::string& destination, const std::string& owner,
                                                        std::int64_t now, std::int64_t lease,
                                                        const std::string& stale_owner) = 0;
    /// Gives a claim back when `owner` holds it (ok), so the next run may retry at once; not_found when
    /// `owner` does not hold it.
    [[nodiscard]] virtual Status release_destination(const std::string& domain, std::int64_t begin,
                                                     const std::string& destination, const std::string& owner) = 0;
    /// Records one destination as settled, durably, after delivery succeeded (or was refused for good).
    [[nodiscard]] virtual Status settle_destination(const std::string& domain, std::int64_t begin, std::int64_t end,
                                                    const std::string& destination, DeliveryState state,
                                                    const std::string& report_id, std::int64_t now) = 0;
    /// Marks the period closed once every destination is settled; later runs start at `end`.
    [[nodiscard]] virtual Status close_period(const std::string& domain, std::int64_t begin, std::int64_t end,
                                              const std::string& report_id, std::uint64_t messages,
                                              std::int64_t now) = 0;
    /// Deletes evaluation records older than `before` whose period was closed, and bookkeeping older
    /// than `before`. Returns how many evaluation records went.
    [[nodiscard]] virtual CountResult64 prune(std::int64_t before) = 0;

    // --- receiving (ingest) ---
    /// Stores a report unless one with the same org_name and report_id is already there.
    [[nodiscard]] virtual IngestResult add_report(const dmarc_report::AggregateReport& report, std::int64_t now) = 0;
    /// Ingested reports whose policy domain is `domain` (empty: all) and whose period ends after `since`,
    /// oldest first, at most `limit`.
    [[nodiscard]] virtual ReportsResult reports(const std::string& domain, std::int64_t since, std::size_t limit) = 0;
};

/// A store that both records evaluations and keeps the report bookkeeping: what `store = URL` opens.
class DmarcFullStore : public DmarcStore, public DmarcReportStore {};

}  // namespace mailmoat::store
