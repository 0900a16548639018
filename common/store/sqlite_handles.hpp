// common/store/sqlite_handles.hpp - RAII aliases for SQLite handles (the only place sqlite3_close/finalize is
// named) and the parameter and column helpers the SQLite stores share.
#pragma once
#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/util/c_handle.hpp"

namespace mailmoat::store {

using SqliteDb = util::CHandle<sqlite3, sqlite3_close_v2>;
using SqliteStmt = util::CHandle<sqlite3_stmt, sqlite3_finalize>;

// Binds parameter i of a statement: text (copied by SQLite) or an integer. Named bind_arg, not bind: with a
// std::string argument an unqualified bind() would find std::bind by argument-dependent lookup wherever
// <functional> is included, and bind nothing.
inline void bind_arg(sqlite3_stmt* s, int i, std::string_view text) {
    sqlite3_bind_text(s, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}
inline void bind_arg(sqlite3_stmt* s, int i, std::int64_t v) { sqlite3_bind_int64(s, i, v); }

/// Column i of the current row as text; "" for NULL.
inline std::string column_text(sqlite3_stmt* s, int i) {
    const auto* p = sqlite3_column_text(s, i);
    return p != nullptr
               ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s, i)))
               : std::string();
}

}  // namespace mailmoat::store
