// common/table/hs_handles.hpp - RAII aliases for Hyperscan handles; the only place hs_free_* is named.
#pragma once
#include <hs/hs.h>

#include "common/util/c_handle.hpp"

namespace mailmoat::table {

using HsDatabase = util::CHandle<hs_database_t, hs_free_database>;
using HsScratch = util::CHandle<hs_scratch_t, hs_free_scratch>;
using HsCompileError = util::CHandle<hs_compile_error_t, hs_free_compile_error>;

}  // namespace mailmoat::table
