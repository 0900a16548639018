// common/dmarc/psl_handles.hpp - RAII alias for libpsl contexts; the only place psl_free is named.
#pragma once
#include <libpsl.h>

#include "common/util/c_handle.hpp"

namespace mailmoat::dmarc {

/// A loaded Public Suffix List (psl_load_file).
using PslHandle = util::CHandle<psl_ctx_t, psl_free>;

}  // namespace mailmoat::dmarc
