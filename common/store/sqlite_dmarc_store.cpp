// common/store/sqlite_dmarc_store.cpp - SQLite DMARC evaluation store: one row per evaluated message; the
// per-message lists (DKIM outcomes, SPF outcomes, overrides, rua) are kept as unit/record-separated text.
#include "common/store/sqlite_dmarc_store.hpp"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <string_view>

#include "common/store/record_text.hpp"
#include "common/store/sqlite_handles.hpp"

namespace mailmoat::store {
namespace {

constexpr const char* schema_sql =
    "CREATE TABLE IF NOT EXISTS dmarc_records("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " time INTEGER NOT NULL, source_ip TEXT NOT NULL, header_from TEXT NOT NULL,"
    " envelope_from TEXT NOT NULL, envelope_to TEXT NOT NULL, org_domain TEXT NOT NULL,"
    " policy_domain TEXT NOT NULL, p TEXT NOT NULL, sp TEXT NOT NULL, np TEXT NOT NULL,"
    " adkim TEXT NOT NULL, aspf TEXT NOT NULL, testing TEXT NOT NULL, pct INTEGER NOT NULL,"
    " fo TEXT NOT NULL, psd TEXT NOT NULL, discovery TEXT NOT NULL, rua TEXT NOT NULL,"
    " dmarc_result TEXT NOT NULL, disposition TEXT NOT NULL, dkim_aligned TEXT NOT NULL,"
    " spf_aligned TEXT NOT NULL, overrides TEXT NOT NULL, dkim TEXT NOT NULL, spf TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS dmarc_records_domain_time ON dmarc_records(policy_domain, time);"
    // Aggregate-report bookkeeping: one row per (domain, period, destination) once settled, one per
    // closed period. A period is closed only after all its destinations are settled.
    "CREATE TABLE IF NOT EXISTS dmarc_report_destinations("
    " domain TEXT NOT NULL, begin INTEGER NOT NULL, end INTEGER NOT NULL, destination TEXT NOT NULL,"
    " state TEXT NOT NULL, report_id TEXT NOT NULL, time INTEGER NOT NULL,"
    " PRIMARY KEY(domain, begin, destination));"
    // Claims of destinations being delivered by a running report run (owner, until when).
    "CREATE TABLE IF NOT EXISTS dmarc_report_claims("
    " domain TEXT NOT NULL, begin INTEGER NOT NULL, destination TEXT NOT NULL, owner TEXT NOT NULL,"
    " expires INTEGER NOT NULL, PRIMARY KEY(domain, begin, destination));"
    "CREATE TABLE IF NOT EXISTS dmarc_report_periods("
    " domain TEXT NOT NULL, begin INTEGER NOT NULL, end INTEGER NOT NULL, report_id TEXT NOT NULL,"
    " messages INTEGER NOT NULL, time INTEGER NOT NULL, PRIMARY KEY(domain, begin));"
    // Reports received from others (mailmoat dmarc ingest).
    "CREATE TABLE IF NOT EXISTS dmarc_ingested_reports("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, org_name TEXT NOT NULL, report_id TEXT NOT NULL,"
    " email TEXT NOT NULL, extra_contact TEXT NOT NULL, begin INTEGER NOT NULL, end INTEGER NOT NULL,"
    " generator TEXT NOT NULL, errors TEXT NOT NULL, format TEXT NOT NULL, version TEXT NOT NULL,"
    " policy_domain TEXT NOT NULL, p TEXT NOT NULL, sp TEXT NOT NULL, np TEXT NOT NULL, adkim TEXT NOT NULL,"
    " aspf TEXT NOT NULL, testing TEXT NOT NULL, pct INTEGER NOT NULL, fo TEXT NOT NULL,"
    " discovery TEXT NOT NULL, received INTEGER NOT NULL, UNIQUE(org_name, report_id));"
    "CREATE INDEX IF NOT EXISTS dmarc_ingested_domain_end ON dmarc_ingested_reports(policy_domain, end);"
    "CREATE TABLE IF NOT EXISTS dmarc_ingested_rows("
    " report INTEGER NOT NULL REFERENCES dmarc_ingested_reports(id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL, source_ip TEXT NOT NULL, count INTEGER NOT NULL, disposition TEXT NOT NULL,"
    " dkim TEXT NOT NULL, spf TEXT NOT NULL, reasons TEXT NOT NULL, header_from TEXT NOT NULL,"
    " envelope_from TEXT NOT NULL, envelope_to TEXT NOT NULL, dkim_results TEXT NOT NULL,"
    " spf_results TEXT NOT NULL, PRIMARY KEY(report, seq));";

constexpr const char* insert_sql =
    "INSERT INTO dmarc_records(time, source_ip, header_from, envelope_from, envelope_to, org_domain,"
    " policy_domain, p, sp, np, adkim, aspf, testing, pct, fo, psd, discovery, rua, dmarc_result,"
    " disposition, dkim_aligned, spf_aligned, overrides, dkim, spf)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,"
    " ?21, ?22, ?23, ?24, ?25)";

constexpr const char* select_sql =
    "SELECT time, source_ip, header_from, envelope_from, envelope_to, org_domain, policy_domain, p, sp, np,"
    " adkim, aspf, testing, pct, fo, psd, discovery, rua, dmarc_result, disposition, dkim_aligned,"
    " spf_aligned, overrides, dkim, spf FROM dmarc_records"
    " WHERE (?1 = '' OR policy_domain = ?1) AND time >= ?2 AND time < ?3 ORDER BY time, id LIMIT ?4";

using text::field;
using text::join_items;
using text::split_items;

/// Resets a statement after use whatever happens.
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

/// A statement prepared for one call (the report run and the ingester are not hot paths).
SqliteStmt prepare(sqlite3* db, const char* sql) {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
    SqliteStmt st(raw);
    if (rc != SQLITE_OK) st.reset();
    return st;
}

}  // namespace

struct SqliteDmarcStore::Connection {
    SqliteDb db;
    SqliteStmt insert;
    SqliteStmt select;
    std::string message() const { return db ? sqlite3_errmsg(db.get()) : "no database handle"; }
};

std::unique_ptr<SqliteDmarcStore::Connection> SqliteDmarcStore::open() const {
    auto c = std::make_unique<Connection>();
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(options_.path.c_str(), &raw,
                                   SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    c->db.reset(raw);
    if (rc != SQLITE_OK) throw StoreError(options_.path + ": " + c->message());
    sqlite3_busy_timeout(c->db.get(), static_cast<int>(options_.busy_timeout.count()));
    const std::string pragmas = std::string("PRAGMA journal_mode = WAL; PRAGMA synchronous = ") +
                                (options_.synchronous_full ? "FULL;" : "NORMAL;") + schema_sql;
    char* err = nullptr;
    if (sqlite3_exec(c->db.get(), pragmas.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        std::string m = err != nullptr ? err : c->message();
        sqlite3_free(err);
        throw StoreError(options_.path + ": " + m);
    }
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(c->db.get(), insert_sql, -1, &s, nullptr) != SQLITE_OK)
        throw StoreError(options_.path + ": " + c->message());
    c->insert.reset(s);
    if (sqlite3_prepare_v2(c->db.get(), select_sql, -1, &s, nullptr) != SQLITE_OK)
        throw StoreError(options_.path + ": " + c->message());
    c->select.reset(s);
    return c;
}

SqliteDmarcStore::SqliteDmarcStore(SqliteOptions options) : options_(std::move(options)) {
    auto c = open();
    conn_.with_lock([&](auto& slot) { slot = std::move(c); });
}

SqliteDmarcStore::~SqliteDmarcStore() = default;

namespace {

/// Inserts one record with the prepared INSERT; returns SQLite's step code (SQLITE_DONE on success).
int insert_record(sqlite3_stmt* insert, const dmarc::ReportRecord& r) {
    Use u(insert);
    auto* s = u.get();
    const auto& p = r.policy;
    bind_arg(s, 1, static_cast<std::int64_t>(r.time));
    bind_arg(s, 2, r.source_ip);
    bind_arg(s, 3, r.header_from);
    bind_arg(s, 4, r.envelope_from);
    bind_arg(s, 5, r.envelope_to);
    bind_arg(s, 6, r.organizational_domain);
    bind_arg(s, 7, p.domain);
    bind_arg(s, 8, p.p);
    bind_arg(s, 9, p.sp);
    bind_arg(s, 10, p.np);
    bind_arg(s, 11, p.adkim);
    bind_arg(s, 12, p.aspf);
    bind_arg(s, 13, p.testing);
    bind_arg(s, 14, static_cast<std::int64_t>(p.pct));
    bind_arg(s, 15, p.fo);
    bind_arg(s, 16, p.psd);
    bind_arg(s, 17, p.discovery_method);
    std::vector<std::vector<std::string_view>> rua;
    for (const auto& u2 : p.rua) rua.push_back({u2});
    bind_arg(s, 18, join_items(rua));
    bind_arg(s, 19, r.dmarc_result);
    bind_arg(s, 20, r.disposition);
    bind_arg(s, 21, r.dkim_aligned);
    bind_arg(s, 22, r.spf_aligned);
    std::vector<std::vector<std::string_view>> ov, dk, sp;
    for (const auto& o : r.overrides) ov.push_back({o.type, o.comment});
    for (const auto& d : r.dkim) dk.push_back({d.domain, d.selector, d.result, d.human_result});
    for (const auto& x : r.spf) sp.push_back({x.domain, x.scope, x.result});
    bind_arg(s, 23, join_items(ov));
    bind_arg(s, 24, join_items(dk));
    bind_arg(s, 25, join_items(sp));
    return sqlite3_step(s);
}

}  // namespace

RecordResult SqliteDmarcStore::add(const dmarc::ReportRecord& r) {
    auto out = add_batch({&r});
    return std::move(out.front());
}

std::vector<RecordResult> SqliteDmarcStore::add_batch(const std::vector<const dmarc::ReportRecord*>& records) {
    std::vector<GroupCommit::Entry> mine(records.size());
    for (std::size_t i = 0; i < records.size(); ++i) mine[i].record = records[i];
    std::size_t waiting = 0;
    (void)commit_.commit(mine, [this](const std::vector<GroupCommit::Entry*>& batch) { write_batch(batch); }, waiting);
    std::vector<RecordResult> out;
    out.reserve(mine.size());
    for (auto& p : mine) out.push_back(std::move(p.result));
    return out;
}

void SqliteDmarcStore::write_batch(const std::vector<GroupCommit::Entry*>& batch) {
    const auto fail_all = [&](const std::string& message) {
        for (auto* p : batch) p->result = {Status::tempfail, message};
    };
    conn_.with_lock([&](std::unique_ptr<Connection>& c) {
        try {
            if (!c) c = open();  // reopen after an earlier failure
        } catch (const StoreError& e) {
            fail_all(e.what());
            return;
        }
        const auto broken = [](int rc) { return rc != SQLITE_BUSY && rc != SQLITE_LOCKED && rc != SQLITE_FULL; };
        if (batch.size() == 1) {
            const int rc = insert_record(c->insert.get(), *batch.front()->record);
            if (rc == SQLITE_DONE) return;
            fail_all(c->message());
            if (broken(rc)) c.reset();
            return;
        }
        if (sqlite3_exec(c->db.get(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
            fail_all(c->message());
            return;
        }
        for (auto* p : batch) {
            const int rc = insert_record(c->insert.get(), *p->record);
            if (rc != SQLITE_DONE) {
                fail_all(c->message());
                (void)sqlite3_exec(c->db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
                if (broken(rc)) c.reset();
                return;
            }
        }
        if (sqlite3_exec(c->db.get(), "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
            fail_all(c->message());
            (void)sqlite3_exec(c->db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
        }
    });
}

RecordsResult SqliteDmarcStore::records(const std::string& policy_domain, std::int64_t from, std::int64_t until,
                                        std::size_t limit) {
    return conn_.with_lock([&](std::unique_ptr<Connection>& c) -> RecordsResult {
        RecordsResult out;
        try {
            if (!c) c = open();
        } catch (const StoreError& e) {
            out.status = Status::tempfail;
            out.error = e.what();
            return out;
        }
        Use u(c->select.get());
        auto* s = u.get();
        bind_arg(s, 1, policy_domain);
        bind_arg(s, 2, from);
        bind_arg(s, 3, until);
        bind_arg(s, 4, static_cast<std::int64_t>(limit));
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            dmarc::ReportRecord r;
            r.time = sqlite3_column_int64(s, 0);
            r.source_ip = column_text(s, 1);
            r.header_from = column_text(s, 2);
            r.envelope_from = column_text(s, 3);
            r.envelope_to = column_text(s, 4);
            r.organizational_domain = column_text(s, 5);
            auto& p = r.policy;
            p.domain = column_text(s, 6);
            p.p = column_text(s, 7);
            p.sp = column_text(s, 8);
            p.np = column_text(s, 9);
            p.adkim = column_text(s, 10);
            p.aspf = column_text(s, 11);
            p.testing = column_text(s, 12);
            p.pct = static_cast<int>(sqlite3_column_int64(s, 13));
            p.fo = column_text(s, 14);
            p.psd = column_text(s, 15);
            p.discovery_method = column_text(s, 16);
            for (auto& f : split_items(column_text(s, 17))) p.rua.push_back(field(f, 0));
            r.dmarc_result = column_text(s, 18);
            r.disposition = column_text(s, 19);
            r.dkim_aligned = column_text(s, 20);
            r.spf_aligned = column_text(s, 21);
            for (auto& f : split_items(column_text(s, 22))) r.overrides.push_back({field(f, 0), field(f, 1)});
            for (auto& f : split_items(column_text(s, 23)))
                r.dkim.push_back({field(f, 0), field(f, 1), field(f, 2), field(f, 3)});
            for (auto& f : split_items(column_text(s, 24))) r.spf.push_back({field(f, 0), field(f, 1), field(f, 2)});
            out.records.push_back(std::move(r));
        }
        if (rc != SQLITE_DONE) {
            out.status = Status::tempfail;
            out.error = c->message();
            out.records.clear();
        }
        return out;
    });
}


namespace {

/// Executes a statement that returns no rows (or whose rows are ignored). SQLITE_OK/DONE → ok.
Status step_done(sqlite3_stmt* s) {
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    }
    return rc == SQLITE_DONE ? Status::ok : Status::tempfail;
}

/// BEGIN IMMEDIATE ... COMMIT, rolled back when not committed.
class Transaction {
public:
    explicit Transaction(sqlite3* db) : db_(db) {
        ok_ = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK;
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    ~Transaction() {
        if (ok_ && !done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    [[nodiscard]] bool begun() const noexcept { return ok_; }
    [[nodiscard]] bool commit() {
        done_ = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
        return done_;
    }

private:
    sqlite3* db_;
    bool ok_ = false;
    bool done_ = false;
};

}  // namespace

const char* delivery_state_name(DeliveryState s) noexcept {
    switch (s) {
        case DeliveryState::sent: return "sent";
        case DeliveryState::refused: return "refused";
    }
    return "?";
}

const char* ingest_outcome_name(IngestOutcome o) noexcept {
    switch (o) {
        case IngestOutcome::added: return "added";
        case IngestOutcome::duplicate: return "duplicate";
        case IngestOutcome::tempfail: return "tempfail";
    }
    return "?";
}

#define MAILMOAT_OPEN_OR(ret_expr)                        \
    try {                                                 \
        if (!c) c = open();                               \
    } catch (const StoreError& e) {                       \
        const std::string message = e.what();             \
        ret_expr;                                         \
    }

DomainsResult SqliteDmarcStore::record_domains(std::int64_t from, std::int64_t until) {
    return conn_.with_lock([&](std::unique_ptr<Connection>& c) -> DomainsResult {
        MAILMOAT_OPEN_OR(return (DomainsResult{Status::tempfail, message, {}}))
        auto st = prepare(c->db.get(),
                          // Evaluations that found no policy (dmarc=none) have no policy domain and nobody to
                          // report to.
                          "SELECT DISTINCT policy_domain FROM dmarc_records WHERE time >= ?1 AND time < ?2"
                          " AND policy_domain <> '' ORDER BY policy_domain");
        if (!st) return {Status::tempfail, c->message(), {}};
        bind_arg(st.get(), 1, from);
        bind_arg(st.get(), 2, until);
        DomainsResult out;
        int rc;
        while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) out.domains.push_back(column_text(st.get(), 0));
        if (rc != SQLITE_DONE) return {Status::tempfail, c->message(), {}};
        return out;
    });
}

TimeResult SqliteDmarcStore::last_period_end(const std::string& domain) {
    return conn_.with_lock([&](std::unique_ptr<Connection>& c) -> TimeResult {
        MAILMOAT_OPEN_OR(return (TimeResult{Status::tempfail, message, 0}))
        auto st = prepare(c->db.get(), "SELECT max(end) FROM dmarc_report_periods WHERE domain = ?1");
        if (!st) return {Status::tempfail, c->message(), 0};
        bind_arg(st.get(), 1, domain);
        const int rc = sqlite3_step(st.get());
        if (rc != SQLITE_ROW) return {Status::tempfail, c->message(), 0};
        if (sqlite3_column_type(st.get(), 0) == SQLITE_NULL) return {Status::not_found, {}, 0};
        return {Status::ok, {}, sqlite3_column_int64(st.get(), 0)};
    });
}

Status SqliteDmarcStore::destination_settled(const std::string& domain, std::int64_t begin,
                                             const std::string& destination) {
    return conn_.with_lock([&](std::unique_ptr<Connection>& c) -> Status {
        MAILMOAT_OPEN_OR(return Status::tempfail)
        auto st = prepare(c->db.get(),
                          "SELECT 1 FROM dmarc_report_destinations WHERE domain = ?1 AND begin = ?2 AND destination = ?3");
        if (!st) return Status::tempfail;
        bind_arg(st.get(), 1, domain);
        bind_arg(st.get(), 2, begin);
        bind_arg(st.get(), 3, destination);
        const int rc = sqlite3_step(st.get());
        if (rc == SQLITE_ROW) return Status::ok;
        return rc == SQLITE_DONE ? Status::not_found : Status::tempfail;
    });
}

ClaimResult SqliteDmarcStore::claim_destination(const std::string& domain, std::int64_t begin,
                                               const std::string& destination, const std::string& owner,
                                               std::int64_t now, std::int64_t lease, const std::string& stale_owner) {
    return conn_.with_lock([&](std::unique_ptr<Connection>& c) -> ClaimResult {
        MAILMOAT_OPEN_OR(return (ClaimResult{ClaimOutcome::tempfail, {}, message}))
        // BEGIN IMMEDIATE takes the write lock first: two runs cannot both read "free" and both claim.
        Transaction tx(c->db.get());
        if (!tx.begun()) return {ClaimOutcome::tempfail, {}, c->message()};
        auto get = prepare(c->db.get(),
                           "SELECT owner, expires FROM dmarc_report_claims WHERE domain = ?1 AND begin = ?2"
                           " AND destination = ?3");
        if (!get) return {ClaimOutcome::tempfail, {}, c->message()};
        bind_arg(get.get(), 1, domain);
        bind_arg(get.get(), 2, begin);
        bind_arg(get.get(), 3, destination);
        const int rc = sqlite3_step(get.get());
        if (rc == SQLITE_ROW) {
            const auto holder = column_text(get.get(), 0);
            const auto expires = sqlite3_column_int64(get.get(), 1);
            if (expires > now && holder != owner && (stale_owner.empty() || holder != stale_owner))
                return {ClaimOutcome::taken, holder, {}};
        } else if (rc != SQLITE_DONE) {
            return {ClaimOutcome::tempfail, {}, c->message()};
        }
        auto put = prepare(c->db.get(),
                           "INSERT OR REPLACE INTO dmarc_report_claims(domain, begin, destination, owner, expires)"
                           " VALUES(?1, ?2, ?3, ?4, ?5)");
        if (!put) return {ClaimOutcome::tempfail, {}, c->message()};
        bind_arg(put.get(), 1, domain);
        bind_arg(put.get(), 2, begin);
        bind_arg(put.get(), 3, destination);
        bind_arg(put.get(), 4, owner);
        bind_arg(put.get(), 5, now + lease);
        if (step_done(put.get()) != Status::ok || !tx.commit()) return {ClaimOutcome::tempfail, {}, c->message()};
        return {ClaimOutcome::claimed, owner, {}};
    });
}

Status SqliteDmarcStore::release_destination(const std::string& domain, std::int64_t begin,
                                             const std::string& destination, const std::string& owner) {
    return conn_.with_lock([&](std::unique_ptr<Connection>& c) -> Status {
        MAILMOAT_OPEN_OR(return Status::tempfail)
        auto st = prepare(c->db.get(),
                          "DELETE FROM dmarc_report_claims WHERE domain = ?1 AND begin = ?2 AND destination = ?3"
                          " AND owner = ?4");
        if (!st) return Status::tempfail;
        bind_arg(st.get(), 1, domain);
        bind_arg(st.get(), 2, begin);
        bind_arg(st.get(), 3, destination);
        bind_arg(st.get(), 4, owner);
        if (step_done(st.get()) != Status::ok) return Status::tempfail;
        return sqlite3_changes(c->db.get()) > 0 ? Status::ok : Status::not_found;
    });
}

Status SqliteDmarcStore::settle_destination(const std::string& domain, std::int64_t begin, std::int64_t end,
                                            const std::string& destination, DeliveryState state,
                                            const std::string& report_id, std::int64_t now) {
    return conn_.with_lock([&](std::unique_ptr<Connection>& c) -> Status {
        MAILMOAT_OPEN_OR(return Status::tempfail)
        auto st = prepare(c->db.get(),
                          "INSERT OR REPLACE INTO dmarc_report_destinations(domain, begin, end, destination, state,"
                          " report_id, time) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        if (!st) return Status::tempfail;
        bind_arg(st.get(), 1, domain);
        bind_arg(st.get(), 2, begin);
        bind_arg(st.get(), 3, end);
        bind_arg(st.get(), 4, destination);
        bind_arg(st.get(), 5, std::string_view(delivery_state_name(state)));
        bind_arg(st.get(), 6, report_id);
        bind_arg(st.get(), 7, now);
        return step_done(st.get());
    });
}

Status SqliteDmarcStore::close_period(const std::string& domain, std::int64_t begin, std::int64_t end,
                                      const std::string& report_id, std::uint64_t messages, std::int64_t now) {
    return conn_.with_lock([&](std::unique_ptr<Connection>& c) -> Status {
        MAILMOAT_OPEN_OR(return Status::tempfail)
        auto st = prepare(c->db.get(),
                          "INSERT OR REPLACE INTO dmarc_report_periods(domain, begin, end, report_id, messages, time)"
                          " VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
        if (!st) return Status::tempfail;
        bind_arg(st.get(), 1, domain);
        bind_arg(st.get(), 2, begin);
        bind_arg(st.get(), 3, end);
        bind_arg(st.get(), 4, report_id);
        bind_arg(st.get(), 5, static_cast<std::int64_t>(std::min<std::uint64_t>(messages, INT64_MAX)));
        bind_arg(st.get(), 6, now);
        return step_done(st.get());
    });
}

CountResult64 SqliteDmarcStore::prune(std::int64_t before) {
    return conn_.with_lock([&](std::unique_ptr<Connection>& c) -> CountResult64 {
        MAILMOAT_OPEN_OR(return (CountResult64{Status::tempfail, message, 0}))
        Transaction tx(c->db.get());
        if (!tx.begun()) return {Status::tempfail, c->message(), 0};
        // Only records already covered by a closed period go: an unreported record is never lost.
        auto del = prepare(c->db.get(),
                           "DELETE FROM dmarc_records WHERE time < ?1 AND time < coalesce("
                           "(SELECT max(end) FROM dmarc_report_periods WHERE domain = dmarc_records.policy_domain), 0)");
        if (!del) return {Status::tempfail, c->message(), 0};
        bind_arg(del.get(), 1, before);
        if (step_done(del.get()) != Status::ok) return {Status::tempfail, c->message(), 0};
        const auto removed = static_cast<std::uint64_t>(sqlite3_changes(c->db.get()));
        // Keep each domain's newest closed period: it says where the next run starts.
        auto old = prepare(c->db.get(),
                           "DELETE FROM dmarc_report_periods WHERE end < ?1 AND end < (SELECT max(end) FROM"
                           " dmarc_report_periods p2 WHERE p2.domain = dmarc_report_periods.domain)");
        auto dest = prepare(c->db.get(), "DELETE FROM dmarc_report_destinations WHERE end < ?1");
        auto claims = prepare(c->db.get(), "DELETE FROM dmarc_report_claims WHERE expires < ?1");
        if (!old || !dest || !claims) return {Status::tempfail, c->message(), 0};
        bind_arg(old.get(), 1, before);
        bind_arg(dest.get(), 1, before);
        bind_arg(claims.get(), 1, before);
        if (step_done(old.get()) != Status::ok || step_done(dest.get()) != Status::ok ||
            step_done(claims.get()) != Status::ok || !tx.commit())
            return {Status::tempfail, c->message(), 0};
        return {Status::ok, {}, removed};
    });
}

IngestResult SqliteDmarcStore::add_report(const dmarc_report::AggregateReport& r, std::int64_t now) {
    return conn_.with_lock([&](std::unique_ptr<Connection>& c) -> IngestResult {
        MAILMOAT_OPEN_OR(return (IngestResult{IngestOutcome::tempfail, message}))
        sqlite3* db = c->db.get();
        Transaction tx(db);
        if (!tx.begun()) return {IngestOutcome::tempfail, c->message()};
        auto ins = prepare(db,
                           "INSERT OR IGNORE INTO dmarc_ingested_reports(org_name, report_id, email, extra_contact,"
                           " begin, end, generator, errors, format, version, policy_domain, p, sp, np, adkim, aspf,"
                           " testing, pct, fo, discovery, received) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
                           " ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)");
        if (!ins) return {IngestOutcome::tempfail, c->message()};
        const auto& m = r.metadata;
        const auto& p = r.policy;
        auto* s = ins.get();
        bind_arg(s, 1, m.org_name);
        bind_arg(s, 2, m.report_id);
        bind_arg(s, 3, m.email);
        bind_arg(s, 4, m.extra_contact_info);
        bind_arg(s, 5, m.begin);
        bind_arg(s, 6, m.end);
        bind_arg(s, 7, m.generator);
        std::vector<std::vector<std::string_view>> errs;
        for (const auto& e : m.errors) errs.push_back({e});
        bind_arg(s, 8, join_items(errs));
        bind_arg(s, 9, std::string_view(dmarc_report::format_name(r.format)));
        bind_arg(s, 10, r.version);
        bind_arg(s, 11, p.domain);
        bind_arg(s, 12, p.p);
        bind_arg(s, 13, p.sp);
        bind_arg(s, 14, p.np);
        bind_arg(s, 15, p.adkim);
        bind_arg(s, 16, p.aspf);
        bind_arg(s, 17, p.testing);
        bind_arg(s, 18, static_cast<std::int64_t>(p.pct));
        bind_arg(s, 19, p.fo);
        bind_arg(s, 20, p.discovery_method);
        bind_arg(s, 21, now);
        if (step_done(s) != Status::ok) return {IngestOutcome::tempfail, c->message()};
        if (sqlite3_changes(db) == 0) return {IngestOutcome::duplicate, {}};
        const auto id = sqlite3_last_insert_rowid(db);
        auto row = prepare(db,
                           "INSERT INTO dmarc_ingested_rows(report, seq, source_ip, count, disposition, dkim, spf,"
                           " reasons, header_from, envelope_from, envelope_to, dkim_results, spf_results)"
                           " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
        if (!row) return {IngestOutcome::tempfail, c->message()};
        std::int64_t seq = 0;
        for (const auto& x : r.rows) {
            Use u(row.get());
            auto* rs = u.get();
            bind_arg(rs, 1, static_cast<std::int64_t>(id));
            bind_arg(rs, 2, seq++);
            bind_arg(rs, 3, x.source_ip);
            bind_arg(rs, 4, static_cast<std::int64_t>(std::min<std::uint64_t>(x.count, INT64_MAX)));
            bind_arg(rs, 5, x.disposition);
            bind_arg(rs, 6, x.dkim);
            bind_arg(rs, 7, x.spf);
            std::vector<std::vector<std::string_view>> ov, dk, sp;
            for (const auto& o : x.reasons) ov.push_back({o.type, o.comment});
            for (const auto& d : x.dkim_results) dk.push_back({d.domain, d.selector, d.result, d.human_result});
            for (const auto& y : x.spf_results) sp.push_back({y.domain, y.scope, y.result});
            bind_arg(rs, 8, join_items(ov));
            bind_arg(rs, 9, x.header_from);
            bind_arg(rs, 10, x.envelope_from);
            bind_arg(rs, 11, x.envelope_to);
            bind_arg(rs, 12, join_items(dk));
            bind_arg(rs, 13, join_items(sp));
            if (sqlite3_step(rs) != SQLITE_DONE) return {IngestOutcome::tempfail, c->message()};
        }
        if (!tx.commit()) return {IngestOutcome::tempfail, c->message()};
        return {IngestOutcome::added, {}};
    });
}

ReportsResult SqliteDmarcStore::reports(const std::string& domain, std::int64_t since, std::size_t limit) {
    return conn_.with_lock([&](std::unique_ptr<Connection>& c) -> ReportsResult {
        MAILMOAT_OPEN_OR(return (ReportsResult{Status::tempfail, message, {}}))
        sqlite3* db = c->db.get();
        auto st = prepare(db,
                          "SELECT id, org_name, report_id, email, extra_contact, begin, end, generator, errors, format,"
                          " version, policy_domain, p, sp, np, adkim, aspf, testing, pct, fo, discovery"
                          " FROM dmarc_ingested_reports WHERE (?1 = '' OR policy_domain = ?1) AND end > ?2"
                          " ORDER BY begin, id LIMIT ?3");
        auto rows = prepare(db,
                            "SELECT source_ip, count, disposition, dkim, spf, reasons, header_from, envelope_from,"
                            " envelope_to, dkim_results, spf_results FROM dmarc_ingested_rows WHERE report = ?1"
                            " ORDER BY seq");
        if (!st || !rows) return {Status::tempfail, c->message(), {}};
        bind_arg(st.get(), 1, domain);
        bind_arg(st.get(), 2, since);
        bind_arg(st.get(), 3, static_cast<std::int64_t>(limit));
        ReportsResult out;
        int rc;
        auto* s = st.get();
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            dmarc_report::AggregateReport r;
            const auto id = sqlite3_column_int64(s, 0);
            auto& m = r.metadata;
            m.org_name = column_text(s, 1);
            m.report_id = column_text(s, 2);
            m.email = column_text(s, 3);
            m.extra_contact_info = column_text(s, 4);
            m.begin = sqlite3_column_int64(s, 5);
            m.end = sqlite3_column_int64(s, 6);
            m.generator = column_text(s, 7);
            for (auto& f : split_items(column_text(s, 8))) m.errors.push_back(field(f, 0));
            r.format = column_text(s, 9) == "rfc7489" ? dmarc_report::Format::rfc7489 : dmarc_report::Format::rfc9990;
            r.version = column_text(s, 10);
            auto& p = r.policy;
            p.domain = column_text(s, 11);
            p.p = column_text(s, 12);
            p.sp = column_text(s, 13);
            p.np = column_text(s, 14);
            p.adkim = column_text(s, 15);
            p.aspf = column_text(s, 16);
            p.testing = column_text(s, 17);
            p.pct = static_cast<int>(sqlite3_column_int64(s, 18));
            p.fo = column_text(s, 19);
            p.discovery_method = column_text(s, 20);
            Use u(rows.get());
            auto* rs = u.get();
            bind_arg(rs, 1, static_cast<std::int64_t>(id));
            int rrc;
            while ((rrc = sqlite3_step(rs)) == SQLITE_ROW) {
                dmarc_report::Row x;
                x.source_ip = column_text(rs, 0);
                x.count = static_cast<std::uint64_t>(sqlite3_column_int64(rs, 1));
                x.disposition = column_text(rs, 2);
                x.dkim = column_text(rs, 3);
                x.spf = column_text(rs, 4);
                for (auto& f : split_items(column_text(rs, 5))) x.reasons.push_back({field(f, 0), field(f, 1)});
                x.header_from = column_text(rs, 6);
                x.envelope_from = column_text(rs, 7);
                x.envelope_to = column_text(rs, 8);
                for (auto& f : split_items(column_text(rs, 9)))
                    x.dkim_results.push_back({field(f, 0), field(f, 1), field(f, 2), field(f, 3)});
                for (auto& f : split_items(column_text(rs, 10)))
                    x.spf_results.push_back({field(f, 0), field(f, 1), field(f, 2)});
                r.rows.push_back(std::move(x));
            }
            if (rrc != SQLITE_DONE) return {Status::tempfail, c->message(), {}};
            out.reports.push_back(std::move(r));
        }
        if (rc != SQLITE_DONE) return {Status::tempfail, c->message(), {}};
        return out;
    });
}

#undef MAILMOAT_OPEN_OR

}  // namespace mailmoat::store
