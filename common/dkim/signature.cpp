// common/dkim/signature.cpp - DKIM-Signature parsing (RFC 6376 §3.5, §6.1.1) and building.
#include "common/dkim/signature.hpp"

#include <algorithm>
#include <limits>

#include "common/crypto/base64.hpp"
#include "common/dkim/tag_list.hpp"

namespace mailmoat::dkim {
namespace {

constexpr std::size_t max_signed_headers = 512;
constexpr std::size_t fold_width = 78;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
std::string lowered(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = lower(c);
    return out;
}
bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

/// LDH labels (plus '_' when allowed), each 1..63 octets, whole name <= 253, no empty label.
bool valid_domain(std::string_view d, bool allow_underscore) {
    if (d.empty() || d.size() > 253) return false;
    std::size_t label = 0;
    char prev = '.';
    for (const char c : d) {
        if (c == '.') {
            if (label == 0 || prev == '-') return false;
            label = 0;
        } else {
            const bool ok = is_alnum(c) || c == '-' || (allow_underscore && c == '_') ||
                            static_cast<unsigned char>(c) >= 0x80;  // RFC 8616 U-labels
            if (!ok || (label == 0 && c == '-') || ++label > 63) return false;
        }
        prev = c;
    }
    return label > 0 && prev != '-';
}

/// 1*max_digits DIGIT, saturating at the type's maximum.
template <class T>
std::optional<T> parse_number(std::string_view s, std::size_t max_digits) {
    if (s.empty() || s.size() > max_digits) return std::nullopt;
    T v = 0;
    for (const char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        const T digit = static_cast<T>(c - '0');
        if (v > (std::numeric_limits<T>::max() - digit) / 10) {
            v = std::numeric_limits<T>::max();
        } else {
            v = v * 10 + digit;
        }
    }
    return v;
}

bool is_fws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/// Appends text to a header value being folded at fold_width.
struct Folder {
    std::string out;
    std::size_t col = 0;
    void fold() {
        out += "\r\n\t";
        col = 1;
    }
    /// Puts `piece` after a space, or on a new line when it does not fit.
    void add_item(std::string_view piece) {
        if (col + 1 + piece.size() > fold_width && col > 1) {
            fold();
        } else {
            out += ' ';
            ++col;
        }
        out += piece;
        col += piece.size();
    }
    void raw(std::string_view s) {
        out += s;
        col += s.size();
    }
};

}  // namespace

const char* algorithm_name(Algorithm a) noexcept {
    switch (a) {
    case Algorithm::rsa_sha1: return "rsa-sha1";
    case Algorithm::rsa_sha256: return "rsa-sha256";
    case Algorithm::ed25519_sha256: return "ed25519-sha256";
    }
    return "rsa-sha256";
}

crypto::HashAlgorithm algorithm_hash(Algorithm a) noexcept {
    return a == Algorithm::rsa_sha1 ? crypto::HashAlgorithm::sha1 : crypto::HashAlgorithm::sha256;
}

crypto::KeyType algorithm_key_type(Algorithm a) noexcept {
    return a == Algorithm::ed25519_sha256 ? crypto::KeyType::ed25519 : crypto::KeyType::rsa;
}

std::string_view Signature::identity_domain() const noexcept {
    const auto at = identity.rfind('@');
    return at == std::string::npos ? std::string_view() : std::string_view(identity).substr(at + 1);
}

std::string Signature::key_name() const { return selector + "._domainkey." + domain; }

bool domain_within(std::string_view sub, std::string_view domain) noexcept {
    if (sub.size() < domain.size() || domain.empty()) return false;
    const std::string_view tail = sub.substr(sub.size() - domain.size());
    for (std::size_t i = 0; i < tail.size(); ++i)
        if (lower(tail[i]) != lower(domain[i])) return false;
    return sub.size() == domain.size() || sub[sub.size() - domain.size() - 1] == '.';
}

SignatureParse parse_signature(std::string_view value) {
    SignatureParse r;
    Signature& s = r.signature;
    auto fail = [&](SignatureStatus st, std::string why) {
        r.status = st;
        r.error = std::move(why);
        return r;
    };
    const TagList tags = parse_tag_list(value);
    if (tags.status != TagListStatus::ok) return fail(SignatureStatus::permerror, "signature syntax: " + tags.error);

    // Identify the signature for reporting as early as possible.
    if (const auto* d = tags.find("d")) s.domain = lowered(*d);
    if (const auto* sel = tags.find("s")) s.selector = lowered(*sel);
    if (const auto* b = tags.find("b")) s.b_text = strip_fws(*b);

    for (const char* req : {"v", "a", "b", "bh", "d", "h", "s"})
        if (tags.find(req) == nullptr) return fail(SignatureStatus::permerror, std::string("missing tag ") + req + "=");
    if (*tags.find("v") != "1") return fail(SignatureStatus::unsupported, "unsupported version v=" + *tags.find("v"));

    const std::string& a = *tags.find("a");
    if (a == "rsa-sha256") s.algorithm = Algorithm::rsa_sha256;
    else if (a == "ed25519-sha256") s.algorithm = Algorithm::ed25519_sha256;
    else if (a == "rsa-sha1") s.algorithm = Algorithm::rsa_sha1;
    else return fail(SignatureStatus::unsupported, "unsupported algorithm a=" + a);

    auto b = crypto::base64_decode(*tags.find("b"));
    if (!b || b->empty()) return fail(SignatureStatus::permerror, "b= is not valid base64");
    s.signature = std::move(*b);
    auto bh = crypto::base64_decode(*tags.find("bh"));
    if (!bh) return fail(SignatureStatus::permerror, "bh= is not valid base64");
    if (bh->size() != crypto::hash_size(algorithm_hash(s.algorithm)))
        return fail(SignatureStatus::permerror, "bh= has the wrong length for " + a);
    s.body_hash = std::move(*bh);

    if (!valid_domain(s.domain, false)) return fail(SignatureStatus::permerror, "bad domain d=");
    if (!valid_domain(s.selector, true)) return fail(SignatureStatus::permerror, "bad selector s=");

    if (const auto* c = tags.find("c")) {
        const auto slash = c->find('/');
        const std::string hc = lowered(c->substr(0, slash));
        const std::string bc = slash == std::string::npos ? "simple" : lowered(c->substr(slash + 1));
        auto parse_canon = [](const std::string& v) -> std::optional<Canon> {
            if (v == "simple") return Canon::simple;
            if (v == "relaxed") return Canon::relaxed;
            return std::nullopt;
        };
        const auto h = parse_canon(hc);
        const auto bo = parse_canon(bc);
        if (!h || !bo) return fail(SignatureStatus::unsupported, "unsupported canonicalization c=" + *c);
        s.header_canon = *h;
        s.body_canon = *bo;
    }

    const std::string hlist = strip_fws(*tags.find("h"));
    std::size_t pos = 0;
    bool has_from = false;
    while (true) {
        const auto colon = hlist.find(':', pos);
        const std::string name = lowered(std::string_view(hlist).substr(pos, colon == std::string::npos ? std::string::npos : colon - pos));
        if (name.empty()) return fail(SignatureStatus::permerror, "empty header name in h=");
        for (const char ch : name)
            if (static_cast<unsigned char>(ch) < 0x21 || static_cast<unsigned char>(ch) > 0x7e)
                return fail(SignatureStatus::permerror, "bad header name in h=");
        if (s.signed_headers.size() >= max_signed_headers) return fail(SignatureStatus::permerror, "too many names in h=");
        has_from = has_from || name == "from";
        s.signed_headers.push_back(name);
        if (colon == std::string::npos) break;
        pos = colon + 1;
    }
    if (!has_from) return fail(SignatureStatus::permerror, "From is not signed (h= lacks from)");

    if (const auto* i = tags.find("i")) {
        const auto at = i->rfind('@');
        if (at == std::string::npos) return fail(SignatureStatus::permerror, "i= has no '@'");
        const std::string idom = lowered(i->substr(at + 1));
        if (!valid_domain(idom, false)) return fail(SignatureStatus::permerror, "bad domain in i=");
        if (!domain_within(idom, s.domain)) return fail(SignatureStatus::permerror, "i= domain is not within d=");
        s.identity = i->substr(0, at + 1) + idom;
    } else {
        s.identity = "@" + s.domain;
    }

    if (const auto* l = tags.find("l")) {
        const auto v = parse_number<std::uint64_t>(*l, 76);
        if (!v) return fail(SignatureStatus::permerror, "l= is not a number");
        s.body_length = v;
    }
    if (const auto* q = tags.find("q")) {
        bool dns = false;
        const std::string qs = strip_fws(*q);
        std::size_t p = 0;
        while (p <= qs.size()) {
            const auto colon = qs.find(':', p);
            const std::string m = lowered(std::string_view(qs).substr(p, colon == std::string::npos ? std::string::npos : colon - p));
            if (m == "dns/txt" || m == "dns") dns = true;
            if (colon == std::string::npos) break;
            p = colon + 1;
        }
        if (!dns) return fail(SignatureStatus::unsupported, "q= has no dns/txt");
    }
    if (const auto* t = tags.find("t")) {
        const auto v = parse_number<std::int64_t>(*t, 12);
        if (!v) return fail(SignatureStatus::permerror, "t= is not a number");
        s.timestamp = v;
    }
    if (const auto* x = tags.find("x")) {
        const auto v = parse_number<std::int64_t>(*x, 12);
        if (!v) return fail(SignatureStatus::permerror, "x= is not a number");
        s.expiration = v;
        if (s.timestamp && *s.expiration <= *s.timestamp) return fail(SignatureStatus::permerror, "x= is not after t=");
    }
    if (const auto* z = tags.find("z")) s.copied_headers = *z;
    r.status = SignatureStatus::ok;
    return r;
}

std::string build_signature_value(const SignatureFields& f, std::string_view signature) {
    Folder w;
    w.col = std::string_view("DKIM-Signature:").size();
    w.add_item("v=1;");
    w.add_item(std::string("a=") + algorithm_name(f.algorithm) + ";");
    w.add_item(std::string("c=") + canon_name(f.header_canon) + "/" + canon_name(f.body_canon) + ";");
    w.add_item("d=" + f.domain + ";");
    w.add_item("s=" + f.selector + ";");
    if (f.timestamp) w.add_item("t=" + std::to_string(*f.timestamp) + ";");
    if (f.expiration) w.add_item("x=" + std::to_string(*f.expiration) + ";");
    if (f.identity) w.add_item("i=" + *f.identity + ";");
    if (f.body_length) w.add_item("l=" + std::to_string(*f.body_length) + ";");
    // h= on its own line, folded after a colon when long.
    w.fold();
    w.raw("h=");
    for (std::size_t i = 0; i < f.signed_headers.size(); ++i) {
        std::string piece = f.signed_headers[i] + (i + 1 < f.signed_headers.size() ? ":" : ";");
        if (w.col + piece.size() > fold_width) w.fold();
        w.raw(piece);
    }
    w.add_item("bh=" + crypto::base64_encode(f.body_hash) + ";");
    w.fold();
    w.raw("b=");
    std::size_t pos = 0;
    while (pos < signature.size()) {
        if (w.col >= fold_width) w.fold();
        const std::size_t take = std::min(signature.size() - pos, fold_width - w.col);
        w.raw(signature.substr(pos, take));
        pos += take;
    }
    return w.out;
}

std::string strip_b_value(std::string_view value) {
    std::size_t pos = 0;
    while (pos < value.size()) {
        const auto semi = value.find(';', pos);
        const std::size_t end = semi == std::string_view::npos ? value.size() : semi;
        const auto eq = value.find('=', pos);
        if (eq != std::string_view::npos && eq < end) {
            std::size_t n0 = pos, n1 = eq;
            while (n0 < n1 && is_fws(value[n0])) ++n0;
            while (n1 > n0 && is_fws(value[n1 - 1])) --n1;
            if (value.substr(n0, n1 - n0) == "b") {
                std::size_t v0 = eq + 1, v1 = end;
                while (v0 < v1 && is_fws(value[v0])) ++v0;
                while (v1 > v0 && is_fws(value[v1 - 1])) --v1;
                std::string out(value.substr(0, v0));
                out += value.substr(v1);
                return out;
            }
        }
        if (semi == std::string_view::npos) break;
        pos = semi + 1;
    }
    return std::string(value);
}

}  // namespace mailmoat::dkim
