// common/util/zip_handles.hpp - RAII aliases for libzip handles; the only place their free functions are named.
#pragma once
#include <zip.h>

#include "common/util/c_handle.hpp"

namespace mailmoat::util {

using ZipArchive = CHandle<zip_t, zip_discard>;
using ZipFile = CHandle<zip_file_t, zip_fclose>;
using ZipSource = CHandle<zip_source_t, zip_source_free>;

}  // namespace mailmoat::util
