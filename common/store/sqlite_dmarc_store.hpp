// common/store/sqlite_dmarc_store.hpp - the embedded DMARC evaluation store: SQLite in WAL mode, safe
// with several writers (milter threads, several daemons) and a concurrent report run.
#pragma once
#include <memory>
#include <string>

#include "common/store/dmarc_report_store.hpp"
#include "common/store/dmarc_store.hpp"
#include "common/store/sqlite_grey_store.hpp"  // SqliteOptions, StoreError
#include "common/util/lock_guarded.hpp"

namespace mailmoat::store {

class SqliteDmarcStore final : public DmarcStore, public DmarcReportStore {
public:
    /// Opens (creating when missing) the database and its tables. Throws StoreError naming the path.
    explicit SqliteDmarcStore(SqliteOptions options);
    ~SqliteDmarcStore() override;

    RecordResult add(const dmarc::ReportRecord& record) override;
    RecordsResult records(const std::string& policy_domain, std::int64_t from, std::int64_t until,
                          std::size_t limit) override;
    [[nodiscard]] std::string describe() const override { return "sqlite:" + options_.path; }

    DomainsResult record_domains(std::int64_t from, std::int64_t until) override;
    TimeResult last_period_end(const std::string& domain) override;
    Status destination_settled(const std::string& domain, std::int64_t begin, const std::string& destination) override;
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

    SqliteOptions options_;
    // One connection per store object, used under its lock: a DMARC write is one INSERT per message.
    util::LockGuarded<std::unique_ptr<Connection>> conn_;
};

}  // namespace mailmoat::store
