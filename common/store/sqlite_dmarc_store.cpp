// common/store/sqlite_dmarc_store.cpp - SQLite DMARC evaluation store: one row per evaluated message; the
// per-message lists (DKIM outcomes, SPF outcomes, overrides, rua) are kept as unit/record-separated text.
#include "common/store/sqlite_dmarc_store.hpp"

#include <string_view>

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
    "CREATE INDEX IF NOT EXISTS dmarc_records_domain_time ON dmarc_records(policy_domain, time);";

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

// Field and item separators (ASCII US and RS): they cannot occur in domain names, result keywords or
// IP addresses; free text (human_result, override comments) has them replaced by spaces on the way in.
constexpr char unit_sep = '\x1f';
constexpr char record_sep = '\x1e';

std::string clean(std::string_view s) {
    std::string out(s);
    for (auto& ch : out)
        if (ch == unit_sep || ch == record_sep) ch = ' ';
    return out;
}

std::string join_items(const std::vector<std::vector<std::string_view>>& items) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out += record_sep;
        for (std::size_t f = 0; f < items[i].size(); ++f) {
            if (f) out += unit_sep;
            out += clean(items[i][f]);
        }
    }
    return out;
}

std::vector<std::vector<std::string>> split_items(std::string_view text) {
    std::vector<std::vector<std::string>> out;
    if (text.empty()) return out;
    std::size_t start = 0;
    for (;;) {
        const auto end = text.find(record_sep, start);
        const auto item = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
        std::vector<std::string> fields;
        std::size_t fs = 0;
        for (;;) {
            const auto fe = item.find(unit_sep, fs);
            fields.emplace_back(item.substr(fs, fe == std::string_view::npos ? std::string_view::npos : fe - fs));
            if (fe == std::string_view::npos) break;
            fs = fe + 1;
        }
        out.push_back(std::move(fields));
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    return out;
}

std::string field(const std::vector<std::string>& f, std::size_t i) { return i < f.size() ? f[i] : std::string(); }

void bind(sqlite3_stmt* s, int i, std::string_view text) {
    sqlite3_bind_text(s, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}
void bind(sqlite3_stmt* s, int i, std::int64_t v) { sqlite3_bind_int64(s, i, v); }

std::string column_text(sqlite3_stmt* s, int i) {
    const auto* p = sqlite3_column_text(s, i);
    return p != nullptr
               ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s, i)))
               : std::string();
}

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

RecordResult SqliteDmarcStore::add(const dmarc::ReportRecord& r) {
    return conn_.with_lock([&](std::unique_ptr<Connection>& c) -> RecordResult {
        try {
            if (!c) c = open();  // reopen after an earlier failure
        } catch (const StoreError& e) {
            return {Status::tempfail, e.what()};
        }
        Use u(c->insert.get());
        auto* s = u.get();
        const auto& p = r.policy;
        bind(s, 1, static_cast<std::int64_t>(r.time));
        bind(s, 2, r.source_ip);
        bind(s, 3, r.header_from);
        bind(s, 4, r.envelope_from);
        bind(s, 5, r.envelope_to);
        bind(s, 6, r.organizational_domain);
        bind(s, 7, p.domain);
        bind(s, 8, p.p);
        bind(s, 9, p.sp);
        bind(s, 10, p.np);
        bind(s, 11, p.adkim);
        bind(s, 12, p.aspf);
        bind(s, 13, p.testing);
        bind(s, 14, static_cast<std::int64_t>(p.pct));
        bind(s, 15, p.fo);
        bind(s, 16, p.psd);
        bind(s, 17, p.discovery_method);
        std::vector<std::vector<std::string_view>> rua;
        for (const auto& u2 : p.rua) rua.push_back({u2});
        bind(s, 18, join_items(rua));
        bind(s, 19, r.dmarc_result);
        bind(s, 20, r.disposition);
        bind(s, 21, r.dkim_aligned);
        bind(s, 22, r.spf_aligned);
        std::vector<std::vector<std::string_view>> ov, dk, sp;
        for (const auto& o : r.overrides) ov.push_back({o.type, o.comment});
        for (const auto& d : r.dkim) dk.push_back({d.domain, d.selector, d.result, d.human_result});
        for (const auto& x : r.spf) sp.push_back({x.domain, x.scope, x.result});
        bind(s, 23, join_items(ov));
        bind(s, 24, join_items(dk));
        bind(s, 25, join_items(sp));
        const int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE) return {};
        RecordResult out{Status::tempfail, c->message()};
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED && rc != SQLITE_FULL) c.reset();
        return out;
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
        bind(s, 1, policy_domain);
        bind(s, 2, from);
        bind(s, 3, until);
        bind(s, 4, static_cast<std::int64_t>(limit));
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

}  // namespace mailmoat::store
