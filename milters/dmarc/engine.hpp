// milters/dmarc/engine.hpp - binds the session's Engine hooks to the DMARC engine in common/dmarc.
#pragma once
#include <memory>
#include <string>

#include "milters/dmarc/dmarc_session.hpp"

namespace mailmoat::dmarcd {

/// dmarc::evaluate and dmarc::fill_record.
[[nodiscard]] Engine default_engine();

/// dmarc::PublicSuffixList::load; throws std::runtime_error naming the file.
[[nodiscard]] std::shared_ptr<const dmarc::PublicSuffixList> load_public_suffix_list(const std::string& path);

}  // namespace mailmoat::dmarcd
