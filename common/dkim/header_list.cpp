// common/dkim/header_list.cpp - bottom-up header selection and hashing (RFC 6376 §5.4.2, §3.7).
#include "common/dkim/header_list.hpp"

#include <unordered_map>

namespace mailmoat::dkim {

void hash_signed_headers(crypto::Digest& digest, const std::vector<HeaderField>& headers,
                         const std::vector<std::string>& signed_names, Canon canon) {
    // For each name: how many instances, counted from the bottom, have been used so far.
    std::unordered_map<std::string_view, std::size_t> used;
    std::string buf;
    for (const auto& name : signed_names) {
        std::size_t& skip = used[name];
        std::size_t seen = 0;
        for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
            if (it->lower_name != name) continue;
            if (seen++ < skip) continue;
            buf.clear();
            canonicalize_header_into(buf, canon, it->name, it->value);
            digest.update(buf);
            break;
        }
        ++skip;
    }
}

}  // namespace mailmoat::dkim
