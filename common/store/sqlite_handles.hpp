// common/store/sqlite_handles.hpp - RAII aliases for SQLite handles; the only place sqlite3_close/finalize is named.
#pragma once
#include <sqlite3.h>

#include "common/util/c_handle.hpp"

namespace mailmoat::store {

using SqliteDb = util::CHandle<sqlite3, sqlite3_close_v2>;
using SqliteStmt = util::CHandle<sqlite3_stmt, sqlite3_finalize>;

}  // namespace mailmoat::store
