// common/grey/sender.cpp - sender normalisation: BATV, SRS0/SRS1, +ext and VERP numbers in the local-part.
#include "common/grey/sender.hpp"

#include <cctype>

namespace mailmoat::grey {
namespace {

bool starts_with(std::string_view s, std::string_view p) {
    return s.substr(0, p.size()) == p;
}
bool word_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
}

/// BATV (draft-levine-smtp-batv-01 §3): "prvs=TAG=user"; the tag changes with every message.
std::string_view strip_batv(std::string_view local) {
    for (const std::string_view scheme : {"prvs=", "msprvs1=", "btv1=="}) {
        if (!starts_with(local, scheme)) continue;
        const auto rest = local.substr(scheme.size());
        const auto sep = scheme == "btv1==" ? rest.find("==") : rest.find('=');
        if (sep == std::string_view::npos || sep == 0) return local;
        const auto user = rest.substr(sep + (scheme == "btv1==" ? 2 : 1));
        return user.empty() ? local : user;
    }
    return local;
}

/// SRS0: "srs0=HASH=TT=domain=user"; SRS1: "srs1=HASH=fwd==HASH=TT=domain=user" (the part after
/// "==" has the SRS0 fields). The separator after the tag may be '=', '+' or '-'.
bool unwrap_srs(std::string_view local, std::string& out) {
    std::string_view fields;
    if ((starts_with(local, "srs0=") || starts_with(local, "srs0+") || starts_with(local, "srs0-"))) {
        fields = local.substr(5);
    } else if (starts_with(local, "srs1=") || starts_with(local, "srs1+") || starts_with(local, "srs1-")) {
        const auto dd = local.find("==", 5);
        if (dd == std::string_view::npos) return false;
        fields = local.substr(dd + 2);
    } else {
        return false;
    }
    // HASH = TT = domain = user
    std::size_t pos = 0;
    std::string_view parts[3];
    for (auto& p : parts) {
        const auto eq = fields.find('=', pos);
        if (eq == std::string_view::npos) return false;
        p = fields.substr(pos, eq - pos);
        pos = eq + 1;
    }
    const auto user = fields.substr(pos);
    const auto domain = parts[2];
    if (user.empty() || domain.empty()) return false;
    out = std::string(user) + "@" + std::string(domain);
    return true;
}

// Appends local with every all-digit word replaced by '#'.
void append_verp_numbers(std::string& out, std::string_view local) {
    std::size_t i = 0;
    while (i < local.size()) {
        if (std::isdigit(static_cast<unsigned char>(local[i])) != 0 && (i == 0 || !word_char(local[i - 1]))) {
            std::size_t j = i;
            while (j < local.size() && std::isdigit(static_cast<unsigned char>(local[j])) != 0) ++j;
            if (j == local.size() || !word_char(local[j])) {
                out += '#';
                i = j;
                continue;
            }
            out.append(local.substr(i, j - i));
            i = j;
            continue;
        }
        out += local[i++];
    }
}

}  // namespace

std::string normalise_sender(std::string_view sender, const SenderRules& rules) {
    // Views into addr (or unwrapped) until the one result string is built: a request pays two
    // allocations here, not one per step.
    std::string addr(sender);
    for (auto& c : addr)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');  // ASCII, as tolower in the C locale
    const auto at = addr.rfind('@');
    if (at == std::string::npos) return addr;
    std::string_view local = std::string_view(addr).substr(0, at);
    std::string_view domain = std::string_view(addr).substr(at + 1);
    if (rules.strip_batv) local = strip_batv(local);
    std::string unwrapped;
    if (rules.unwrap_srs && unwrap_srs(local, unwrapped)) {
        const auto uat = unwrapped.rfind('@');
        local = std::string_view(unwrapped).substr(0, uat);
        domain = std::string_view(unwrapped).substr(uat + 1);
        if (rules.strip_batv) local = strip_batv(local);
    }
    if (rules.strip_extension) {
        const auto plus = local.find('+');
        if (plus != std::string_view::npos && plus > 0) local = local.substr(0, plus);
    }
    std::string out;
    out.reserve(local.size() + 1 + domain.size());
    if (rules.verp_numbers)
        append_verp_numbers(out, local);
    else
        out.append(local);
    out += '@';
    out.append(domain);
    return out;
}

}  // namespace mailmoat::grey
