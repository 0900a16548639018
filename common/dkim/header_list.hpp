// common/dkim/header_list.hpp - the message's header fields as a signer/verifier keeps them, and the
// RFC 6376 §5.4.2 bottom-up selection of signed instances.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/crypto/digest.hpp"
#include "common/dkim/canonicalizer.hpp"

namespace mailmoat::dkim {

struct HeaderField {
    std::string name;        // as received
    std::string lower_name;  // lower-cased, for h= matching
    std::string value;       // after the colon, as received
};

/// Feeds the canonical form of the header fields named in `signed_names` to `digest`: for each name,
/// the last not-yet-used instance counting from the bottom (§5.4.2); a name with no instance left
/// contributes nothing (that is what makes oversigning work). Names must be lower-case.
void hash_signed_headers(crypto::Digest& digest, const std::vector<HeaderField>& headers,
                         const std::vector<std::string>& signed_names, Canon canon);

}  // namespace mailmoat::dkim
