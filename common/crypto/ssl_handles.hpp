// common/crypto/ssl_handles.hpp - the one place OpenSSL handles get their RAII owners (util::CHandle).
#pragma once
#include <openssl/bio.h>
#include <openssl/evp.h>

#include "common/util/c_handle.hpp"

namespace mailmoat::crypto {

using EvpPkey = util::CHandle<EVP_PKEY, EVP_PKEY_free>;
using EvpPkeyCtx = util::CHandle<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using EvpMdCtx = util::CHandle<EVP_MD_CTX, EVP_MD_CTX_free>;
using Bio = util::CHandle<BIO, BIO_free_all>;

}  // namespace mailmoat::crypto
