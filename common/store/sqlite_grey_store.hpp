// common/store/sqlite_grey_store.hpp - the embedded greylist store: SQLite in WAL mode, a small connection pool.
#pragma once
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/store/grey_store.hpp"
#include "common/util/lock_guarded.hpp"

namespace mailmoat::store {

struct SqliteOptions {
    std::string path;
    /// WAL + synchronous=NORMAL: a commit is in the WAL file (the OS page cache) before the call
    /// returns, so killing the process (kill -9) loses nothing that was answered; only a power loss or
    /// kernel crash may drop the last commits. full also survives those, at one fsync per commit.
    bool synchronous_full = false;
    std::chrono::milliseconds busy_timeout{2000};
    std::size_t max_idle_connections = 8;  // connections kept for reuse; more are opened on demand
};

/// Thrown by the constructor when the database cannot be opened or its schema created (a config-time
/// problem: the daemon refuses to start). Later failures are Status::tempfail values.
class StoreError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class SqliteGreyStore final : public GreyStore {
public:
    /// Opens (creating when missing) the database, sets WAL mode and creates the tables.
    /// Throws StoreError naming the path and SQLite's message.
    explicit SqliteGreyStore(SqliteOptions options);
    ~SqliteGreyStore() override;

    EntryResult seen(std::string_view key, TimePoint now, std::chrono::seconds max_age) override;
    EntryResult touch(std::string_view key, TimePoint now, bool passed) override;
    EntryResult set_passed(std::string_view key) override;
    EntryResult restart(std::string_view key, TimePoint now) override;
    ClientResult client(std::string_view client, TimePoint now, std::chrono::seconds max_age) override;
    ClientResult add_client_pass(std::string_view client, TimePoint now, std::uint64_t at_least) override;
    CountResult expire(TimePoint cutoff) override;
    ListResult list(std::string_view substring, std::size_t limit) override;
    CountResult remove(std::string_view key, bool client) override;
    [[nodiscard]] std::string describe() const override { return "sqlite:" + options_.path; }

    /// "PRAGMA integrity_check" result: "ok" or SQLite's list of problems (for tests and the CLI).
    [[nodiscard]] std::string integrity_check();

    struct Connection;  // defined in the .cpp: a handle and its prepared statements

private:
    class Lease;
    std::unique_ptr<Connection> acquire();
    void release(std::unique_ptr<Connection> c);

    SqliteOptions options_;
    util::LockGuarded<std::vector<std::unique_ptr<Connection>>> pool_;
};

}  // namespace mailmoat::store
