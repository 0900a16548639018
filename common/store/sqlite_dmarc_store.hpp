// common/store/sqlite_dmarc_store.hpp - the embedded DMARC evaluation store: SQLite in WAL mode, safe
// with several writers (milter threads, several daemons) and a concurrent report run.
#pragma once
#include <memory>
#include <string>

#include "common/store/dmarc_store.hpp"
#include "common/store/sqlite_grey_store.hpp"  // SqliteOptions, StoreError
#include "common/util/lock_guarded.hpp"

namespace mailmoat::store {

class SqliteDmarcStore final : public DmarcStore {
public:
    /// Opens (creating when missing) the database and its tables. Throws StoreError naming the path.
    explicit SqliteDmarcStore(SqliteOptions options);
    ~SqliteDmarcStore() override;

    RecordResult add(const dmarc::ReportRecord& record) override;
    RecordsResult records(const std::string& policy_domain, std::int64_t from, std::int64_t until,
                          std::size_t limit) override;
    [[nodiscard]] std::string describe() const override { return "sqlite:" + options_.path; }

    struct Connection;  // the .cpp's handle and prepared statements

private:
    std::unique_ptr<Connection> open() const;

    SqliteOptions options_;
    // One connection per store object, used under its lock: a DMARC write is one INSERT per message.
    util::LockGuarded<std::unique_ptr<Connection>> conn_;
};

}  // namespace mailmoat::store
