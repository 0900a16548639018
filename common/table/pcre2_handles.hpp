// common/table/pcre2_handles.hpp - RAII aliases for PCRE2 (8-bit) handles; the only place pcre2_*_free is named.
#pragma once
#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include "common/util/c_handle.hpp"

namespace mailmoat::table {

using Pcre2Code = util::CHandle<pcre2_code, pcre2_code_free>;
using Pcre2MatchData = util::CHandle<pcre2_match_data, pcre2_match_data_free>;
using Pcre2MatchContext = util::CHandle<pcre2_match_context, pcre2_match_context_free>;

}  // namespace mailmoat::table
