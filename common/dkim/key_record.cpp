// common/dkim/key_record.cpp - strict DKIM key record parser.
#include "common/dkim/key_record.hpp"

#include "common/crypto/base64.hpp"
#include "common/dkim/tag_list.hpp"

namespace mailmoat::dkim {
namespace {

std::vector<std::string> colon_list(std::string_view v) {
    std::vector<std::string> out;
    const std::string s = strip_fws(v);
    std::size_t pos = 0;
    while (pos <= s.size()) {
        const auto c = s.find(':', pos);
        out.emplace_back(s.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
        if (c == std::string::npos) break;
        pos = c + 1;
    }
    return out;
}

}  // namespace

KeyRecordParse parse_key_record(std::string_view text) {
    KeyRecordParse r;
    KeyRecord& k = r.record;
    auto fail = [&](KeyRecordStatus st, std::string why) {
        r.status = st;
        r.error = std::move(why);
        return r;
    };
    const TagList tags = parse_tag_list(text);
    if (tags.status != TagListStatus::ok) return fail(KeyRecordStatus::permerror, "key record syntax: " + tags.error);
    if (const auto* v = tags.find("v")) {
        if (tags.tags.front().name != "v") return fail(KeyRecordStatus::permerror, "v= is not the first tag");
        if (*v != "DKIM1") return fail(KeyRecordStatus::permerror, "key record version is not DKIM1");
    }
    if (const auto* kt = tags.find("k")) {
        if (*kt == "rsa") k.type = crypto::KeyType::rsa;
        else if (*kt == "ed25519") k.type = crypto::KeyType::ed25519;
        else return fail(KeyRecordStatus::unsupported, "unknown key type k=" + *kt);
    }
    if (const auto* h = tags.find("h")) {
        k.allows_sha1 = k.allows_sha256 = false;
        for (const auto& name : colon_list(*h)) {
            if (name.empty()) return fail(KeyRecordStatus::permerror, "empty name in h=");
            if (name == "sha1") k.allows_sha1 = true;
            if (name == "sha256") k.allows_sha256 = true;
        }
    }
    if (const auto* s = tags.find("s")) {
        bool email = false;
        for (const auto& name : colon_list(*s)) {
            if (name.empty()) return fail(KeyRecordStatus::permerror, "empty name in s=");
            if (name == "*" || name == "email") email = true;
        }
        if (!email) return fail(KeyRecordStatus::unsupported, "key service type s= excludes email");
    }
    if (const auto* t = tags.find("t")) {
        for (const auto& flag : colon_list(*t)) {
            if (flag == "y") k.testing = true;
            else if (flag == "s") k.strict_identity = true;
        }
    }
    if (const auto* n = tags.find("n")) k.notes = *n;
    const auto* p = tags.find("p");
    if (p == nullptr) return fail(KeyRecordStatus::permerror, "key record has no p=");
    if (strip_fws(*p).empty()) {
        k.revoked = true;
    } else {
        auto der = crypto::base64_decode(*p);
        if (!der) return fail(KeyRecordStatus::permerror, "p= is not valid base64");
        k.public_key = std::move(*der);
    }
    r.status = KeyRecordStatus::ok;
    return r;
}

}  // namespace mailmoat::dkim
