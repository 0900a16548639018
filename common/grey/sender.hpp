// common/grey/sender.hpp - envelope sender normalisation for greylist triplets (postgrey's substitutions and more).
#pragma once
#include <string>
#include <string_view>

namespace mailmoat::grey {

/// Which rewrites normalise_sender() applies; all on by default.
struct SenderRules {
    bool strip_batv = true;       // prvs=TAG=user, msprvs1=TAG=user, btv1==TAG==user -> user
    bool unwrap_srs = true;       // SRS0=HHH=TT=domain=user@fwd, SRS1=HHH=fwd==HHH=TT=domain=user@fwd -> user@domain
    bool strip_extension = true;  // user+ext -> user (postgrey: s/\+.*//)
    bool verp_numbers = true;     // digit runs between word boundaries -> '#' (postgrey: s/\b\d+\b/#/g)
};

/// The sender as it goes into a triplet: lower-cased (RFC 5321 §2.4 lets local-parts be case-sensitive,
/// but no real MTA retries with another case), then the rewrites of `rules` applied to the local-part
/// only. The null sender stays "". An address without '@' is only lower-cased. Never fails: text that
/// looks like BATV/SRS but is malformed is left as it is.
[[nodiscard]] std::string normalise_sender(std::string_view sender, const SenderRules& rules = {});

}  // namespace mailmoat::grey
