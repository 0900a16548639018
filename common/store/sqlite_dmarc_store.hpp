// common/store/sqlite_dmarc_store.hpp - the embedded DMARC evaluation store: SQLite in WAL mode, safe
// with several writers (milter threads, several daemons) and a concurrent report run.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/store/dmarc_report_store.hpp"
#include "common/store/dmarc_store.hpp"
#include "common/store/group_commit.hpp"
#include "common/store/sqlite_grey_store.hpp"  // SqliteOptions, StoreError
#include "common/util/lock_guarded.hpp"

namespace mailmoat::store {

class SqliteDmarcStore final : public DmarcFullStore {
public:
    /// Opens (creating when missing) the database and its tables. Throws StoreError naming the path.
    explicit SqliteDmarcStore(SqliteOptions options);
    ~SqliteDmarcStore() override;

    RecordResult add(const dmarc::ReportRecord& record) override;
    /// Queued and committed together with any concurrent add() (one transaction).
    std::vector<RecordResult> add_batch(const std::vector<const dmarc::ReportRecord*>& records) override;
    RecordsResult records(const std::string& policy_domain, std::int64_t from, std::int64_t until,
                          std::size_t limit) override;
    [[nodiscard]] std::string describe() const override { return "sqlite:" + options_.path; }

    DomainsResult record_domains(std::int64_t from, std::int64_t until) override;
    TimeResult last_period_end(const std::string& domain) override;
    Status destination_settled(const std::string& domain, std::int64_t begin, const std::string& destination) override;
    ClaimResult claim_destination(const std::string& domain, std::int64_t begin, const std::string& destination,
                                  const std::string& owner, std::int64_t now, std::int64_t lease,
                                  const std::string& stale_owner) override;
    Status release_destination(const std::string& domain, std::int64_t begin, const std::string& destination,
                               const std::string& owner) override;
    Status settle_destination(const std::string& domain, std::int64_t begin, std::int64_t end,
                              const std::string& destination, DeliveryState state, const std::string& report_id,
                              std::int64_t now) override;
    Status close_period(const std::string& domain, std::int64_t begin, std::int64_t end, const std::string& report_id,
                        std::uint64_t messages, std::int64_t now) override;
    CountResult64 prune(std::int64_t before) override;
    IngestResult add_report(const dmarc_report::AggregateReport& report, std::int64_t now) override;
    ReportsResult reports(const std::string& domain, std::int64_t since, std::size_t limit) override;

    struct Connection;  // the .cpp's handle and prepared statements

private:
    std::unique_ptr<Connection> open() const;
    void write_batch(const std::vector<GroupCommit::Entry*>& batch);

    SqliteOptions options_;
    // One connection per store object, used under its lock.
    util::LockGuarded<std::unique_ptr<Connection>> conn_;
    // Group commit: concurrent add() calls queue their record; whichever finds no write in progress
    // writes everything queued in one transaction while the others wait for it. Each add() still
    // returns only after its own row is committed, so a crash loses nothing that was reported stored.
    GroupCommit commit_;
};

}  // namespace mailmoat::store
