// common/dmarc_report/report_run.hpp - one run of `mailmoat dmarc report`: every unreported period of
// every policy domain is built, delivered to each rua destination and marked sent only after delivery
// succeeded (RFC 7489 §7.2, RFC 9990 §2-5), then old records are pruned.
#pragma once
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

#include "common/dmarc_report/delivery.hpp"
#include "common/dmarc_report/report_builder.hpp"
#include "common/dns/resolver.hpp"
#include "common/store/dmarc_report_store.hpp"

namespace mailmoat::dmarc_report {

struct RunOptions {
    Reporter reporter;
    std::int64_t now = 0;
    std::int64_t until = 0;             // periods end at most here (UTC midnight, or now for --until now)
    bool dry_run = false;               // write files to output_dir, touch nothing in the store
    std::string output_dir;             // dry run: where the .xml.gz (and .xml) files go
    std::int64_t prune_before = 0;      // 0: no pruning
    std::size_t max_records_per_period = 5000000;
    /// Delivers one message; unset in dry runs.
    std::function<DeliveryResult(const std::string& from, const std::string& to, const std::string& message)> send;
    dns::Resolver* resolver = nullptr;  // external destination verification; null: external refused
    /// Who claims destinations while delivering (see DmarcReportStore::claim_destination); empty:
    /// "HOSTNAME PID". A claim held by a process of this host that no longer runs is taken over at once;
    /// one held by another host waits until its lease ends.
    std::string owner;
    std::int64_t claim_lease = 3600;
    /// Called at "built" (before delivery) and "delivered" (before marking sent), for crash tests.
    std::function<void(const char* stage)> hook;
};

struct RunSummary {
    int periods = 0;        // reports built
    int delivered = 0;      // destinations delivered
    int refused = 0;        // destinations refused for good (not authorised, too large)
    int failed = 0;         // destinations to retry next run
    int busy = 0;           // destinations another run was delivering (claimed): left to it
    int files = 0;          // dry run files written
    std::uint64_t messages = 0;  // messages covered by the built reports
    std::uint64_t pruned = 0;
    bool store_error = false;
};

/// "HOSTNAME PID" of this process.
[[nodiscard]] std::string default_owner();
/// Whether `owner` ("HOSTNAME PID") names a process of this host that no longer exists.
[[nodiscard]] bool owner_gone(const std::string& owner);

/// Runs once. Logs one line per report and destination to `log` ("domain=... period=... rua=...
/// result=..."). Store failures stop the run (store_error) without marking anything.
[[nodiscard]] RunSummary run_reports(store::DmarcStore& records, store::DmarcReportStore& book,
                                     const RunOptions& options, std::ostream& log);

}  // namespace mailmoat::dmarc_report
