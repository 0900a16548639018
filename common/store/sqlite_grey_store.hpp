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

/// An edit made outside the daemon (remove, add_client_pass, by the CLI), for a daemon keeping the
/// store in memory to apply to its copy.
struct Change {
    std::int64_t id = 0;
    bool client = false;   // a client counter (else a triplet entry)
    std::string key;
    bool deleted = false;  // else: re-read the row
};

struct [[nodiscard]] ChangesResult {
    Status status = Status::tempfail;
    std::vector<Change> changes;  // at most 10,000, oldest first
    std::string error;
};

/// Everything in the store, for a daemon that answers from memory.
struct [[nodiscard]] LoadResult {
    Status status = Status::tempfail;
    std::vector<Entry> entries;
    std::vector<ClientEntry> clients;
    std::int64_t last_change = 0;  // the newest Change id at load time
    std::string error;
};

/// Rows to write in one transaction: replaced whole, or deleted.
struct Batch {
    std::vector<Entry> entries;
    std::vector<std::string> deleted_entries;
    std::vector<ClientEntry> clients;
    std::vector<std::string> deleted_clients;
    [[nodiscard]] std::size_t size() const noexcept {
        return entries.size() + deleted_entries.size() + clients.size() + deleted_clients.size();
    }
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
    /// Also logs the deletion as a Change for a running daemon.
    CountResult remove(std::string_view key, bool client) override;
    CountResult add_manual(std::string_view kind, std::string_view value, TimePoint now) override;
    CountResult remove_manual(std::string_view kind, std::string_view value) override;
    ManualResult manual() override;
    [[nodiscard]] std::string describe() const override { return "sqlite:" + options_.path; }

    /// One entry as stored; not_found when absent (whatever its age).
    EntryResult get(std::string_view key);
    /// Every entry and client counter, and the newest change id.
    LoadResult load();
    /// Replaces and deletes the batch's rows in one transaction. ok with the row count, or tempfail
    /// (nothing written).
    CountResult write(const Batch& batch);
    /// Changes logged after `id` by remove() and add_client_pass() (also in other processes).
    ChangesResult changes_after(std::int64_t id);

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
