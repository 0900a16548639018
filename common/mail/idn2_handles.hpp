// common/mail/idn2_handles.hpp - RAII alias for strings allocated by libidn2; the only place idn2_free is named.
#pragma once
#include <idn2.h>

#include "common/util/c_handle.hpp"

namespace mailmoat::mail {

/// A NUL-terminated string returned by idn2_to_ascii_8z and friends.
using Idn2String = util::CHandle<char, idn2_free>;

}  // namespace mailmoat::mail
