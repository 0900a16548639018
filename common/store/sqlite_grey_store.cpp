// common/store/sqlite_grey_store.cpp - SQLite greylist store: WAL, busy timeout, prepared statements, pool.
#include "common/store/sqlite_grey_store.hpp"

#include <array>
#include <stdexcept>

#include "common/store/sqlite_handles.hpp"

namespace mailmoat::store {
namespace {

enum Stmt : std::size_t {
    begin_immediate,
    commit,
    rollback,
    select_entry,
    upsert_entry,
    touch_entry,
    record_entry,
    pass_entry,
    restart_entry,
    select_client,
    add_client,
    expire_entries,
    expire_clients,
    list_entries,
    list_clients,
    delete_entry,
    delete_client,
    all_entries,
    all_clients,
    put_entry,
    put_client,
    log_change,
    prune_changes,
    select_changes,
    last_change,
    put_manual,
    delete_manual,
    all_manual,
    stmt_count
};

constexpr std::array<const char*, stmt_count> sql = {
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "SELECT first, last, count, passed FROM grey WHERE key = ?1",
    "INSERT OR REPLACE INTO grey(key, first, last, count, passed) VALUES(?1, ?2, ?2, 1, 0)",
    "UPDATE grey SET last = ?2, count = count + 1, passed = passed | ?3 WHERE key = ?1 "
    "RETURNING first, last, count, passed",
    "UPDATE grey SET last = ?2, count = count + 1 WHERE key = ?1",
    "UPDATE grey SET passed = 1 WHERE key = ?1 RETURNING first, last, count, passed",
    "UPDATE grey SET first = ?2, last = ?2, count = 1, passed = 0 WHERE key = ?1 RETURNING first, last, count, passed",
    "SELECT last, count FROM clients WHERE client = ?1 AND last >= ?2",
    "INSERT INTO clients(client, last, count) VALUES(?1, ?2, max(1, ?3)) ON CONFLICT(client) DO UPDATE SET "
    "last = excluded.last, count = max(count + 1, ?3) RETURNING last, count",
    "DELETE FROM grey WHERE last < ?1",
    "DELETE FROM clients WHERE last < ?1",
    "SELECT key, first, last, count, passed FROM grey WHERE instr(key, ?1) > 0 ORDER BY first LIMIT ?2",
    "SELECT client, last, count FROM clients WHERE instr(client, ?1) > 0 ORDER BY last LIMIT ?2",
    "DELETE FROM grey WHERE key = ?1",
    "DELETE FROM clients WHERE client = ?1",
    "SELECT key, first, last, count, passed FROM grey",
    "SELECT client, last, count FROM clients",
    "INSERT OR REPLACE INTO grey(key, first, last, count, passed) VALUES(?1, ?2, ?3, ?4, ?5)",
    "INSERT OR REPLACE INTO clients(client, last, count) VALUES(?1, ?2, ?3)",
    "INSERT INTO changes(at, kind, key, op) VALUES(?1, ?2, ?3, ?4)",
    "DELETE FROM changes WHERE at < ?1",
    "SELECT id, kind, key, op FROM changes WHERE id > ?1 ORDER BY id LIMIT 10000",
    "SELECT coalesce(max(id), 0) FROM changes",
    "INSERT OR REPLACE INTO manual(kind, value, added) VALUES(?1, ?2, ?3)",
    "DELETE FROM manual WHERE kind = ?1 AND value = ?2",
    "SELECT kind, value, added FROM manual ORDER BY kind, value",
};

constexpr const char* schema_sql =
    "CREATE TABLE IF NOT EXISTS grey(key TEXT PRIMARY KEY, first INTEGER NOT NULL, last INTEGER NOT NULL, "
    "count INTEGER NOT NULL, passed INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS grey_last ON grey(last);"
    "CREATE TABLE IF NOT EXISTS clients(client TEXT PRIMARY KEY, last INTEGER NOT NULL, count INTEGER NOT NULL) "
    "WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS clients_last ON clients(last);"
    // Edits made by other processes (the mailmoat CLI) while a daemon keeps the store in memory: the
    // daemon polls this log and applies each change to its copy.
    "CREATE TABLE IF NOT EXISTS changes(id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, "
    "kind TEXT NOT NULL, key TEXT NOT NULL, op TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS manual(kind TEXT NOT NULL, value TEXT NOT NULL, added INTEGER NOT NULL, "
    "PRIMARY KEY(kind, value)) WITHOUT ROWID;"
    "PRAGMA user_version = 2;";

/// Changes older than this are pruned: a daemon that was down longer reloads everything at start anyway.
constexpr std::int64_t change_log_seconds = 24 * 3600;

/// Resets a statement after use whatever happens (and clears its bindings).
class Use {
public:
    explicit Use(sqlite3_stmt* s) noexcept : s_(s) {}
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;
    ~Use() {
        sqlite3_reset(s_);
        sqlite3_clear_bindings(s_);
    }
    sqlite3_stmt* get() const noexcept { return s_; }

private:
    sqlite3_stmt* s_;
};

}  // namespace

struct SqliteGreyStore::Connection {
    SqliteDb db;
    std::array<SqliteStmt, stmt_count> stmts;
    bool broken = false;  // an unexpected error: do not return it to the pool

    std::string message() const { return db ? sqlite3_errmsg(db.get()) : "no database handle"; }

    void exec(const char* text) {
        char* err = nullptr;
        if (sqlite3_exec(db.get(), text, nullptr, nullptr, &err) != SQLITE_OK) {
            std::string m = err != nullptr ? err : message();
            sqlite3_free(err);
            throw StoreError(m);
        }
    }
};

namespace {

using Conn = SqliteGreyStore::Connection;

Entry read_entry(sqlite3_stmt* s, std::string_view key, int first_col) {
    Entry e;
    e.key = std::string(key);
    e.first_seen = from_unix(sqlite3_column_int64(s, first_col));
    e.last_seen = from_unix(sqlite3_column_int64(s, first_col + 1));
    e.count = static_cast<std::uint64_t>(sqlite3_column_int64(s, first_col + 2));
    e.passed = sqlite3_column_int64(s, first_col + 3) != 0;
    return e;
}

/// A failure inside a store call: becomes Status::tempfail with SQLite's message.
struct Failure {
    std::string message;
};

int step(Conn& c, sqlite3_stmt* s) {
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) return rc;
    if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) c.broken = true;
    throw Failure{c.message()};
}

/// Runs a statement that returns at most one grey row (SELECT, or UPDATE ... RETURNING) and reads it:
/// ok with the entry, or not_found. Any further rows are stepped through so the statement completes.
EntryResult entry_row(Conn& c, sqlite3_stmt* s, std::string_view key) {
    EntryResult r;
    r.status = Status::not_found;
    if (step(c, s) == SQLITE_ROW) {
        r.status = Status::ok;
        r.entry = read_entry(s, key, 0);
        while (step(c, s) == SQLITE_ROW) {
        }
    }
    return r;
}

void run(Conn& c, Stmt id) {
    Use u(c.stmts[id].get());
    (void)step(c, u.get());
}

/// BEGIN IMMEDIATE ... COMMIT, rolled back when the body throws.
template <class Fn>
auto transaction(Conn& c, Fn&& fn) {
    run(c, begin_immediate);
    try {
        auto r = fn();
        run(c, commit);
        return r;
    } catch (...) {
        Use u(c.stmts[rollback].get());
        if (sqlite3_step(u.get()) != SQLITE_DONE) c.broken = true;
        throw;
    }
}

}  // namespace

/// Appends a Change (and prunes old ones) for a daemon that keeps the store in memory.
void log(Conn& c, bool client, std::string_view key, bool deleted, TimePoint now) {
    {
        Use u(c.stmts[log_change].get());
        bind_arg(u.get(), 1, to_unix(now));
        bind_arg(u.get(), 2, std::string_view(client ? "c" : "e"));
        bind_arg(u.get(), 3, key);
        bind_arg(u.get(), 4, std::string_view(deleted ? "del" : "set"));
        (void)step(c, u.get());
    }
    Use u(c.stmts[prune_changes].get());
    bind_arg(u.get(), 1, to_unix(now) - change_log_seconds);
    (void)step(c, u.get());
}

ClientEntry read_client(sqlite3_stmt* s) {
    ClientEntry e;
    e.client = column_text(s, 0);
    e.last_seen = from_unix(sqlite3_column_int64(s, 1));
    e.count = static_cast<std::uint64_t>(sqlite3_column_int64(s, 2));
    return e;
}

class SqliteGreyStore::Lease {
public:
    explicit Lease(SqliteGreyStore& s) : store_(s), c_(s.acquire()) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { store_.release(std::move(c_)); }
    Conn& operator*() const { return *c_; }

private:
    SqliteGreyStore& store_;
    std::unique_ptr<Conn> c_;
};

SqliteGreyStore::SqliteGreyStore(SqliteOptions options) : options_(std::move(options)) {
    auto c = acquire();
    try {
        c->exec(schema_sql);
    } catch (const StoreError& e) {
        throw StoreError(options_.path + ": " + e.what());
    }
    release(std::move(c));
}

SqliteGreyStore::~SqliteGreyStore() = default;

std::unique_ptr<SqliteGreyStore::Connection> SqliteGreyStore::acquire() {
    auto pooled = pool_.with_lock([](auto& pool) -> std::unique_ptr<Connection> {
        if (pool.empty()) return nullptr;
        auto c = std::move(pool.back());
        pool.pop_back();
        return c;
    });
    if (pooled) return pooled;
    auto c = std::make_unique<Connection>();
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(options_.path.c_str(), &raw,
                                   SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    c->db.reset(raw);
    if (rc != SQLITE_OK) throw StoreError(options_.path + ": " + c->message());
    sqlite3_busy_timeout(c->db.get(), static_cast<int>(options_.busy_timeout.count()));
    try {
        // WAL: readers never block the writer and a crash leaves a consistent database; see SqliteOptions.
        c->exec("PRAGMA journal_mode = WAL");
        c->exec(options_.synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
        c->exec("PRAGMA foreign_keys = OFF");
        c->exec(schema_sql);
    } catch (const StoreError& e) {
        throw StoreError(options_.path + ": " + e.what());
    }
    for (std::size_t i = 0; i < stmt_count; ++i) {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v3(c->db.get(), sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
            throw StoreError(options_.path + ": " + c->message());
        c->stmts[i].reset(s);
    }
    return c;
}

void SqliteGreyStore::release(std::unique_ptr<Connection> c) {
    if (!c || c->broken) return;
    pool_.with_lock([&](auto& pool) {
        if (pool.size() < options_.max_idle_connections) pool.push_back(std::move(c));
    });
}

namespace {

/// Runs body(conn) with a pooled connection; opening failures and SQLite errors become tempfail.
template <class R, class Fn>
R guarded(Fn&& body) {
    try {
        return body();
    } catch (const Failure& f) {
        R r;
        r.status = Status::tempfail;
        r.error = f.message;
        return r;
    } catch (const StoreError& e) {
        R r;
        r.status = Status::tempfail;
        r.error = e.what();
        return r;
    }
}

}  // namespace

EntryResult SqliteGreyStore::seen(std::string_view key, TimePoint now, std::chrono::seconds max_age) {
    return guarded<EntryResult>([&] {
        Lease lease(*this);
        Conn& c = *lease;
        return transaction(c, [&] {
            EntryResult r;
            r.status = Status::ok;
            {
                Use u(c.stmts[select_entry].get());
                bind_arg(u.get(), 1, key);
                if (step(c, u.get()) == SQLITE_ROW) {
                    r.entry = read_entry(u.get(), key, 0);
                    if (r.entry.last_seen >= now - max_age) {
                        Use rec(c.stmts[record_entry].get());
                        bind_arg(rec.get(), 1, key);
                        bind_arg(rec.get(), 2, to_unix(now));
                        (void)step(c, rec.get());
                        return r;
                    }
                }
            }
            Use u(c.stmts[upsert_entry].get());
            bind_arg(u.get(), 1, key);
            bind_arg(u.get(), 2, to_unix(now));
            (void)step(c, u.get());
            r.created = true;
            r.entry = Entry{std::string(key), from_unix(to_unix(now)), from_unix(to_unix(now)), 1, false};
            return r;
        });
    });
}

EntryResult SqliteGreyStore::touch(std::string_view key, TimePoint now, bool passed) {
    return guarded<EntryResult>([&] {
        Lease lease(*this);
        Conn& c = *lease;
        Use u(c.stmts[touch_entry].get());
        bind_arg(u.get(), 1, key);
        bind_arg(u.get(), 2, to_unix(now));
        bind_arg(u.get(), 3, std::int64_t{passed ? 1 : 0});
        return entry_row(c, u.get(), key);
    });
}

EntryResult SqliteGreyStore::set_passed(std::string_view key) {
    return guarded<EntryResult>([&] {
        Lease lease(*this);
        Conn& c = *lease;
        Use u(c.stmts[pass_entry].get());
        bind_arg(u.get(), 1, key);
        return entry_row(c, u.get(), key);
    });
}

EntryResult SqliteGreyStore::restart(std::string_view key, TimePoint now) {
    return guarded<EntryResult>([&] {
        Lease lease(*this);
        Conn& c = *lease;
        Use u(c.stmts[restart_entry].get());
        bind_arg(u.get(), 1, key);
        bind_arg(u.get(), 2, to_unix(now));
        return entry_row(c, u.get(), key);
    });
}

ClientResult SqliteGreyStore::client(std::string_view client, TimePoint now, std::chrono::seconds max_age) {
    return guarded<ClientResult>([&] {
        Lease lease(*this);
        Conn& c = *lease;
        Use u(c.stmts[select_client].get());
        bind_arg(u.get(), 1, client);
        bind_arg(u.get(), 2, to_unix(now - max_age));
        ClientResult r;
        r.status = Status::not_found;
        if (step(c, u.get()) == SQLITE_ROW) {
            r.status = Status::ok;
            r.client.client = std::string(client);
            r.client.last_seen = from_unix(sqlite3_column_int64(u.get(), 0));
            r.client.count = static_cast<std::uint64_t>(sqlite3_column_int64(u.get(), 1));
        }
        return r;
    });
}

ClientResult SqliteGreyStore::add_client_pass(std::string_view client, TimePoint now, std::uint64_t at_least) {
    return guarded<ClientResult>([&] {
        Lease lease(*this);
        Conn& c = *lease;
        Use u(c.stmts[add_client].get());
        bind_arg(u.get(), 1, client);
        bind_arg(u.get(), 2, to_unix(now));
        bind_arg(u.get(), 3, static_cast<std::int64_t>(at_least));
        ClientResult r;
        r.status = Status::tempfail;
        r.error = "upsert returned no row";
        if (step(c, u.get()) == SQLITE_ROW) {
            r.status = Status::ok;
            r.error.clear();
            r.client.client = std::string(client);
            r.client.last_seen = from_unix(sqlite3_column_int64(u.get(), 0));
            r.client.count = static_cast<std::uint64_t>(sqlite3_column_int64(u.get(), 1));
            while (step(c, u.get()) == SQLITE_ROW) {
            }
        }
        if (r.status == Status::ok) log(c, true, client, false, now);
        return r;
    });
}

CountResult SqliteGreyStore::expire(TimePoint cutoff) {
    return guarded<CountResult>([&] {
        Lease lease(*this);
        Conn& c = *lease;
        return transaction(c, [&] {
            CountResult r;
            r.status = Status::ok;
            for (const auto id : {expire_entries, expire_clients}) {
                Use u(c.stmts[id].get());
                bind_arg(u.get(), 1, to_unix(cutoff));
                (void)step(c, u.get());
                r.count += static_cast<std::uint64_t>(sqlite3_changes(c.db.get()));
            }
            return r;
        });
    });
}

ListResult SqliteGreyStore::list(std::string_view substring, std::size_t limit) {
    return guarded<ListResult>([&] {
        Lease lease(*this);
        Conn& c = *lease;
        ListResult r;
        r.status = Status::ok;
        {
            Use u(c.stmts[list_entries].get());
            bind_arg(u.get(), 1, substring);
            bind_arg(u.get(), 2, static_cast<std::int64_t>(limit));
            while (step(c, u.get()) == SQLITE_ROW) r.entries.push_back(read_entry(u.get(), column_text(u.get(), 0), 1));
        }
        Use u(c.stmts[list_clients].get());
        bind_arg(u.get(), 1, substring);
        bind_arg(u.get(), 2, static_cast<std::int64_t>(limit));
        while (step(c, u.get()) == SQLITE_ROW) r.clients.push_back(read_client(u.get()));
        return r;
    });
}

CountResult SqliteGreyStore::remove(std::string_view key, bool client) {
    return guarded<CountResult>([&] {
        Lease lease(*this);
        Conn& c = *lease;
        CountResult r;
        {
            Use u(c.stmts[client ? delete_client : delete_entry].get());
            bind_arg(u.get(), 1, key);
            (void)step(c, u.get());
            r.count = static_cast<std::uint64_t>(sqlite3_changes(c.db.get()));
        }
        r.status = r.count > 0 ? Status::ok : Status::not_found;
        // Logged even when absent here: a daemon may hold the entry in memory, not yet written.
        log(c, client, key, true, std::chrono::system_clock::now());
        return r;
    });
}

EntryResult SqliteGreyStore::get(std::string_view key) {
    return guarded<EntryResult>([&] {
        Lease lease(*this);
        Conn& c = *lease;
        Use u(c.stmts[select_entry].get());
        bind_arg(u.get(), 1, key);
        return entry_row(c, u.get(), key);
    });
}

LoadResult SqliteGreyStore::load() {
    return guarded<LoadResult>([&] {
        Lease lease(*this);
        Conn& c = *lease;
        // One read transaction: the rows and the change id belong to one snapshot.
        c.exec("BEGIN");
        LoadResult r;
        try {
            {
                Use u(c.stmts[all_entries].get());
                while (step(c, u.get()) == SQLITE_ROW) r.entries.push_back(read_entry(u.get(), column_text(u.get(), 0), 1));
            }
            {
                Use u(c.stmts[all_clients].get());
                while (step(c, u.get()) == SQLITE_ROW) r.clients.push_back(read_client(u.get()));
            }
            Use u(c.stmts[last_change].get());
            if (step(c, u.get()) == SQLITE_ROW) r.last_change = sqlite3_column_int64(u.get(), 0);
        } catch (...) {
            c.exec("ROLLBACK");
            throw;
        }
        c.exec("COMMIT");
        r.status = Status::ok;
        return r;
    });
}

CountResult SqliteGreyStore::write(const Batch& batch) {
    return guarded<CountResult>([&] {
        Lease lease(*this);
        Conn& c = *lease;
        return transaction(c, [&] {
            for (const auto& e : batch.entries) {
                Use u(c.stmts[put_entry].get());
                bind_arg(u.get(), 1, e.key);
                bind_arg(u.get(), 2, to_unix(e.first_seen));
                bind_arg(u.get(), 3, to_unix(e.last_seen));
                bind_arg(u.get(), 4, static_cast<std::int64_t>(e.count));
                bind_arg(u.get(), 5, std::int64_t{e.passed ? 1 : 0});
                (void)step(c, u.get());
            }
            for (const auto& k : batch.deleted_entries) {
                Use u(c.stmts[delete_entry].get());
                bind_arg(u.get(), 1, k);
                (void)step(c, u.get());
            }
            for (const auto& e : batch.clients) {
                Use u(c.stmts[put_client].get());
                bind_arg(u.get(), 1, e.client);
                bind_arg(u.get(), 2, to_unix(e.last_seen));
                bind_arg(u.get(), 3, static_cast<std::int64_t>(e.count));
                (void)step(c, u.get());
            }
            for (const auto& k : batch.deleted_clients) {
                Use u(c.stmts[delete_client].get());
                bind_arg(u.get(), 1, k);
                (void)step(c, u.get());
            }
            CountResult r;
            r.status = Status::ok;
            r.count = batch.size();
            return r;
        });
    });
}

ChangesResult SqliteGreyStore::changes_after(std::int64_t id) {
    return guarded<ChangesResult>([&] {
        Lease lease(*this);
        Conn& c = *lease;
        Use u(c.stmts[select_changes].get());
        bind_arg(u.get(), 1, id);
        ChangesResult r;
        r.status = Status::ok;
        while (step(c, u.get()) == SQLITE_ROW) {
            Change ch;
            ch.id = sqlite3_column_int64(u.get(), 0);
            ch.client = column_text(u.get(), 1) == "c";
            ch.key = column_text(u.get(), 2);
            ch.deleted = column_text(u.get(), 3) == "del";
            r.changes.push_back(std::move(ch));
        }
        return r;
    });
}

CountResult SqliteGreyStore::add_manual(std::string_view kind, std::string_view value, TimePoint now) {
    return guarded<CountResult>([&] {
        Lease lease(*this);
        Conn& c = *lease;
        Use u(c.stmts[put_manual].get());
        bind_arg(u.get(), 1, kind);
        bind_arg(u.get(), 2, value);
        bind_arg(u.get(), 3, to_unix(now));
        (void)step(c, u.get());
        CountResult r;
        r.status = Status::ok;
        r.count = 1;
        return r;
    });
}

CountResult SqliteGreyStore::remove_manual(std::string_view kind, std::string_view value) {
    return guarded<CountResult>([&] {
        Lease lease(*this);
        Conn& c = *lease;
        Use u(c.stmts[delete_manual].get());
        bind_arg(u.get(), 1, kind);
        bind_arg(u.get(), 2, value);
        (void)step(c, u.get());
        CountResult r;
        r.count = static_cast<std::uint64_t>(sqlite3_changes(c.db.get()));
        r.status = r.count > 0 ? Status::ok : Status::not_found;
        return r;
    });
}

ManualResult SqliteGreyStore::manual() {
    return guarded<ManualResult>([&] {
        Lease lease(*this);
        Conn& c = *lease;
        Use u(c.stmts[all_manual].get());
        ManualResult r;
        r.status = Status::ok;
        while (step(c, u.get()) == SQLITE_ROW)
            r.entries.push_back(ManualEntry{column_text(u.get(), 0), column_text(u.get(), 1),
                                            from_unix(sqlite3_column_int64(u.get(), 2))});
        return r;
    });
}

std::string SqliteGreyStore::integrity_check() {
    Lease lease(*this);
    Conn& c = *lease;
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(c.db.get(), "PRAGMA integrity_check", -1, &raw, nullptr) != SQLITE_OK) return c.message();
    SqliteStmt s(raw);
    std::string out;
    while (sqlite3_step(s.get()) == SQLITE_ROW) {
        if (!out.empty()) out += "; ";
        out += column_text(s.get(), 0);
    }
    return out;
}

}  // namespace mailmoat::store
