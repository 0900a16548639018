// common/arc/arc_headers.cpp - ARC header field recognition and parsing (RFC 8617 §4.1).
#include "common/arc/arc_headers.hpp"

#include <limits>

#include "common/crypto/base64.hpp"
#include "common/crypto/digest.hpp"
#include "common/dkim/tag_list.hpp"

namespace mailmoat::arc {
namespace {

constexpr std::size_t max_signed_headers = 512;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
std::string lowered(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = lower(c);
    return out;
}
bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}
bool is_fws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

/// LDH labels (and '_' in selectors), 1..63 octets each, <= 253 in all.
bool valid_domain(std::string_view d, bool allow_underscore) {
    if (d.empty() || d.size() > 253) return false;
    std::size_t label = 0;
    for (const char c : d) {
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
            continue;
        }
        const bool ok = is_alnum(c) || c == '-' || (allow_underscore && c == '_') ||
                        static_cast<unsigned char>(c) >= 0x80;
        if (!ok || ++label > 63) return false;
    }
    return label > 0;
}

/// 1*DIGIT, saturating at `cap`.
std::optional<std::uint64_t> parse_digits(std::string_view s, std::size_t max_digits,
                                          std::uint64_t cap = std::numeric_limits<std::uint64_t>::max()) {
    if (s.empty() || s.size() > max_digits) return std::nullopt;
    std::uint64_t v = 0;
    for (const char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
        v = v > (cap - d) / 10 ? cap : v * 10 + d;
    }
    return v;
}

InstanceParse instance_from_text(std::string_view digits) {
    InstanceParse r;
    // Leading zeros are allowed by the grammar (1*DIGIT); only the value matters.
    const auto v = parse_digits(digits, 64, 9999);
    if (!v) {
        r.status = InstanceStatus::invalid;
        return r;
    }
    r.instance = static_cast<unsigned>(*v);
    r.status = (*v == 0 || *v > max_instance) ? InstanceStatus::out_of_range : InstanceStatus::ok;
    return r;
}

/// The instance from a parsed tag-list, with a reason when it is not usable.
bool tag_instance(const dkim::TagList& tags, unsigned& out, std::string& why) {
    const auto* i = tags.find("i");
    if (i == nullptr) {
        why = "missing tag i=";
        return false;
    }
    const auto p = instance_from_text(*i);
    if (p.status != InstanceStatus::ok) {
        why = "i= is not an instance between 1 and " + std::to_string(max_instance);
        return false;
    }
    out = p.instance;
    return true;
}

}  // namespace

const char* field_kind_name(FieldKind k) noexcept {
    switch (k) {
    case FieldKind::aar: return "ARC-Authentication-Results";
    case FieldKind::ams: return "ARC-Message-Signature";
    case FieldKind::seal: return "ARC-Seal";
    }
    return "ARC-Seal";
}

std::optional<FieldKind> field_kind(std::string_view name) noexcept {
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    if (iequals(name, "arc-authentication-results")) return FieldKind::aar;
    if (iequals(name, "arc-message-signature")) return FieldKind::ams;
    if (iequals(name, "arc-seal")) return FieldKind::seal;
    return std::nullopt;
}

const char* cv_name(Cv c) noexcept {
    switch (c) {
    case Cv::none: return "none";
    case Cv::pass: return "pass";
    case Cv::fail: return "fail";
    }
    return "fail";
}

InstanceParse parse_instance(FieldKind kind, std::string_view value) {
    InstanceParse r;
    if (kind == FieldKind::aar) {
        // RFC 8617 §4.1.1: arc-info = instance [CFWS] ";" authres-payload; instance = [CFWS] "i" [CFWS] "=" [CFWS] 1*DIGIT
        std::size_t p = 0;
        auto skip = [&] {
            while (p < value.size() && is_fws(value[p])) ++p;
        };
        skip();
        if (p >= value.size() || lower(value[p]) != 'i') {
            r.status = InstanceStatus::missing;
            return r;
        }
        ++p;
        skip();
        if (p >= value.size() || value[p] != '=') {
            r.status = InstanceStatus::missing;
            return r;
        }
        ++p;
        skip();
        const std::size_t d0 = p;
        while (p < value.size() && value[p] >= '0' && value[p] <= '9') ++p;
        const std::string_view digits = value.substr(d0, p - d0);
        skip();
        if (digits.empty() || p >= value.size() || value[p] != ';') {
            r.status = InstanceStatus::invalid;
            return r;
        }
        return instance_from_text(digits);
    }
    const auto tags = dkim::parse_tag_list(value);
    if (tags.status != dkim::TagListStatus::ok) {
        r.status = InstanceStatus::invalid;
        return r;
    }
    const auto* i = tags.find("i");
    if (i == nullptr) {
        r.status = InstanceStatus::missing;
        return r;
    }
    return instance_from_text(*i);
}

MessageSignatureParse parse_message_signature(std::string_view value) {
    MessageSignatureParse r;
    MessageSignature& s = r.signature;
    auto fail = [&](ParseStatus st, std::string why) {
        r.status = st;
        r.error = std::move(why);
        return r;
    };
    const auto tags = dkim::parse_tag_list(value);
    if (tags.status != dkim::TagListStatus::ok) return fail(ParseStatus::permerror, "syntax: " + tags.error);
    if (const auto* d = tags.find("d")) s.domain = lowered(*d);
    if (const auto* sel = tags.find("s")) s.selector = lowered(*sel);
    if (const auto* b = tags.find("b")) s.b_text = dkim::strip_fws(*b);
    for (const char* req : {"i", "a", "b", "bh", "d", "h", "s"})
        if (tags.find(req) == nullptr) return fail(ParseStatus::permerror, std::string("missing tag ") + req + "=");
    std::string why;
    if (!tag_instance(tags, s.instance, why)) return fail(ParseStatus::permerror, why);
    const std::string& a = *tags.find("a");
    if (a != "rsa-sha256") return fail(ParseStatus::unsupported, "unsupported algorithm a=" + a);

    auto b = crypto::base64_decode(*tags.find("b"));
    if (!b || b->empty()) return fail(ParseStatus::permerror, "b= is not valid base64");
    s.signature = std::move(*b);
    auto bh = crypto::base64_decode(*tags.find("bh"));
    if (!bh || bh->size() != crypto::hash_size(crypto::HashAlgorithm::sha256))
        return fail(ParseStatus::permerror, "bh= is not a base64 SHA-256 digest");
    s.body_hash = std::move(*bh);
    if (!valid_domain(s.domain, false)) return fail(ParseStatus::permerror, "bad domain d=");
    if (!valid_domain(s.selector, true)) return fail(ParseStatus::permerror, "bad selector s=");

    if (const auto* c = tags.find("c")) {
        const auto slash = c->find('/');
        const std::string hc = lowered(c->substr(0, slash));
        const std::string bc = slash == std::string::npos ? "simple" : lowered(c->substr(slash + 1));
        auto canon = [](const std::string& v) -> std::optional<dkim::Canon> {
            if (v == "simple") return dkim::Canon::simple;
            if (v == "relaxed") return dkim::Canon::relaxed;
            return std::nullopt;
        };
        const auto h = canon(hc);
        const auto bo = canon(bc);
        if (!h || !bo) return fail(ParseStatus::unsupported, "unsupported canonicalization c=" + *c);
        s.header_canon = *h;
        s.body_canon = *bo;
    }

    const std::string hlist = dkim::strip_fws(*tags.find("h"));
    std::size_t pos = 0;
    while (true) {
        const auto colon = hlist.find(':', pos);
        std::string name = lowered(std::string_view(hlist).substr(pos, colon == std::string::npos ? std::string::npos : colon - pos));
        if (name.empty()) return fail(ParseStatus::permerror, "empty header name in h=");
        for (const char ch : name)
            if (static_cast<unsigned char>(ch) < 0x21 || static_cast<unsigned char>(ch) > 0x7e)
                return fail(ParseStatus::permerror, "bad header name in h=");
        if (name == "arc-seal") return fail(ParseStatus::permerror, "h= names arc-seal");
        if (s.signed_headers.size() >= max_signed_headers) return fail(ParseStatus::permerror, "too many names in h=");
        s.signed_headers.push_back(std::move(name));
        if (colon == std::string::npos) break;
        pos = colon + 1;
    }
    if (const auto* l = tags.find("l")) {
        const auto v = parse_digits(*l, 76);
        if (!v) return fail(ParseStatus::permerror, "l= is not a number");
        s.body_length = v;
    }
    if (const auto* t = tags.find("t")) {
        const auto v = parse_digits(*t, 12);
        if (!v) return fail(ParseStatus::permerror, "t= is not a number");
        s.timestamp = static_cast<std::int64_t>(*v);
    }
    r.status = ParseStatus::ok;
    return r;
}

SealParse parse_seal(std::string_view value) {
    SealParse r;
    Seal& s = r.seal;
    auto fail = [&](ParseStatus st, std::string why) {
        r.status = st;
        r.error = std::move(why);
        return r;
    };
    const auto tags = dkim::parse_tag_list(value);
    if (tags.status != dkim::TagListStatus::ok) return fail(ParseStatus::permerror, "syntax: " + tags.error);
    if (const auto* d = tags.find("d")) s.domain = lowered(*d);
    if (const auto* sel = tags.find("s")) s.selector = lowered(*sel);
    if (const auto* b = tags.find("b")) s.b_text = dkim::strip_fws(*b);
    if (const auto* cv = tags.find("cv")) {
        const std::string v = lowered(*cv);
        if (v == "none") s.cv = Cv::none;
        else if (v == "pass") s.cv = Cv::pass;
        else if (v == "fail") s.cv = Cv::fail;
        else return fail(ParseStatus::permerror, "cv= is not none, pass or fail");
    }
    for (const char* req : {"i", "a", "b", "cv", "d", "s"})
        if (tags.find(req) == nullptr) return fail(ParseStatus::permerror, std::string("missing tag ") + req + "=");
    if (tags.find("h") != nullptr) return fail(ParseStatus::permerror, "h= is not allowed in an ARC-Seal");
    std::string why;
    if (!tag_instance(tags, s.instance, why)) return fail(ParseStatus::permerror, why);
    const std::string& a = *tags.find("a");
    if (a != "rsa-sha256") return fail(ParseStatus::unsupported, "unsupported algorithm a=" + a);
    auto b = crypto::base64_decode(*tags.find("b"));
    if (!b || b->empty()) return fail(ParseStatus::permerror, "b= is not valid base64");
    s.signature = std::move(*b);
    if (!valid_domain(s.domain, false)) return fail(ParseStatus::permerror, "bad domain d=");
    if (!valid_domain(s.selector, true)) return fail(ParseStatus::permerror, "bad selector s=");
    if (const auto* t = tags.find("t")) {
        const auto v = parse_digits(*t, 12);
        if (!v) return fail(ParseStatus::permerror, "t= is not a number");
        s.timestamp = static_cast<std::int64_t>(*v);
    }
    r.status = ParseStatus::ok;
    return r;
}

mail::ParsedAuthResults parse_aar(std::string_view value) {
    const auto ip = parse_instance(FieldKind::aar, value);
    if (ip.status != InstanceStatus::ok) {
        mail::ParsedAuthResults r;
        r.status = mail::ParsedAuthResults::Status::invalid;
        r.error = "no valid i= instance";
        return r;
    }
    return mail::parse_auth_results(value.substr(value.find(';') + 1));
}

}  // namespace mailmoat::arc
