// common/checks/iconv_handles.hpp - RAII alias for glibc iconv(3) descriptors; the only place iconv_close is named.
#pragma once
#include <iconv.h>

#include <type_traits>

#include "common/util/c_handle.hpp"

namespace mailmoat::checks {

/// iconv_t is a pointer type; a failed iconv_open ((iconv_t)-1) must never be stored in one.
using Iconv = util::CHandle<std::remove_pointer_t<iconv_t>, iconv_close>;

}  // namespace mailmoat::checks
