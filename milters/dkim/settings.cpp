// milters/dkim/settings.cpp - mailmoat-dkim settings schema, validation, tables and key loading.
#include "milters/dkim/settings.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include <unistd.h>

#include "common/dkim/signer.hpp"
#include "common/milter/settings.hpp"

namespace mailmoat::dkimd {
namespace {

constexpr std::size_t max_table_entries = 10000;
constexpr std::size_t max_table_bytes = 4 * 1024 * 1024;

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::vector<std::string> fields_of(std::string_view line) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        const auto start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        if (i > start) out.emplace_back(line.substr(start, i - start));
    }
    return out;
}

// Calls f(line_number, fields) for every non-comment, non-blank line; stops at f's error.
template <class F>
std::string each_line(std::string_view text, F f) {
    std::size_t n = 0, pos = 0, entries = 0;
    while (pos < text.size()) {
        auto end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        auto line = text.substr(pos, end - pos);
        pos = end + 1;
        ++n;
        if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        const auto fields = fields_of(line);
        if (fields.empty()) continue;
        if (++entries > max_table_entries) return "line " + std::to_string(n) + ": more than 10000 entries";
        if (auto e = f(fields); !e.empty()) return "line " + std::to_string(n) + ": " + e;
    }
    return {};
}

std::string read_table(const config::Values& v, const char* key, const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw v.error(key, "cannot read '" + path + "'");
    std::string text;
    char buf[65536];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        text.append(buf, static_cast<std::size_t>(in.gcount()));
        if (text.size() > max_table_bytes) throw v.error(key, "'" + path + "' is larger than 4 MiB");
    }
    return text;
}

bool valid_domain(std::string_view d) {
    if (d.empty() || d.size() > 253) return false;
    return std::all_of(d.begin(), d.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
    });
}

std::optional<std::pair<dkim::Canon, dkim::Canon>> parse_canon(std::string_view t) {
    auto one = [](std::string_view x) -> std::optional<dkim::Canon> {
        if (x == "simple") return dkim::Canon::simple;
        if (x == "relaxed") return dkim::Canon::relaxed;
        return std::nullopt;
    };
    const auto slash = t.find('/');
    const auto h = one(t.substr(0, slash));
    // RFC 6376 §3.5 c=: a missing body part means simple.
    const auto b = slash == std::string_view::npos ? std::optional<dkim::Canon>(dkim::Canon::simple) : one(t.substr(slash + 1));
    if (!h || !b) return std::nullopt;
    return std::make_pair(*h, *b);
}

}  // namespace

const char* mode_name(Mode m) noexcept {
    switch (m) {
    case Mode::sign: return "s";
    case Mode::verify: return "v";
    case Mode::sign_verify: return "sv";
    }
    return "sv";
}

TableParse parse_key_table(std::string_view text) {
    TableParse r;
    std::set<std::string> names;
    r.error = each_line(text, [&](const std::vector<std::string>& f) -> std::string {
        if (f.size() < 2) return "expected 'keyname domain:selector:keypath'";
        const auto& spec = f[1];
        const auto c1 = spec.find(':');
        const auto c2 = c1 == std::string::npos ? std::string::npos : spec.find(':', c1 + 1);
        if (c2 == std::string::npos) return "expected domain:selector:keypath, got '" + spec + "'";
        KeyEntry e;
        e.name = f[0];
        e.domain = lower(spec.substr(0, c1));
        e.selector = lower(spec.substr(c1 + 1, c2 - c1 - 1));
        e.path = spec.substr(c2 + 1);
        if (e.domain.empty() || e.selector.empty() || e.path.empty()) return "empty domain, selector or key path";
        if (e.domain != "%" && !valid_domain(e.domain)) return "bad domain '" + e.domain + "'";
        if (!valid_domain(e.selector)) return "bad selector '" + e.selector + "'";
        if (!names.insert(e.name).second) return "duplicate key name '" + e.name + "'";
        r.keys.push_back(std::move(e));
        return {};
    });
    if (!r.error.empty()) r.keys.clear();
    return r;
}

TableParse parse_signing_table(std::string_view text) {
    TableParse r;
    r.error = each_line(text, [&](const std::vector<std::string>& f) -> std::string {
        if (f.size() < 2) return "expected 'pattern keyname'";
        r.rules.push_back({lower(f[0]), f[1]});
        return {};
    });
    if (!r.error.empty()) r.rules.clear();
    return r;
}

bool glob_match(std::string_view p, std::string_view t) noexcept {
    // Iterative wildcard match with single backtrack point (linear in practice, no recursion).
    std::size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
    auto eq = [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
    };
    while (ti < t.size()) {
        if (pi < p.size() && p[pi] == '*') {
            star = pi++;
            mark = ti;
        } else if (pi < p.size() && eq(p[pi], t[ti])) {
            ++pi;
            ++ti;
        } else if (star != std::string_view::npos) {
            pi = star + 1;
            ti = ++mark;
        } else {
            return false;
        }
    }
    while (pi < p.size() && p[pi] == '*') ++pi;
    return pi == p.size();
}

config::Schema make_schema() {
    config::Schema s("mailmoat-dkim", "DKIM (RFC 6376) signing and verifying milter for Postfix");
    s.add_common_daemon_options("unix:/run/mailmoat/dkim.sock", "/etc/mailmoat/mailmoat-dkim.conf");
    s.add_string("mode", "sv", "s: sign only, v: verify only, sv: sign internal/authenticated mail, verify the rest (OpenDKIM Mode).");
    s.add_string("domain", "", "Single-domain form: the signing domain d= (OpenDKIM Domain); needs selector and key-file.");
    s.add_string("selector", "", "Single-domain form: the selector s= (OpenDKIM Selector).");
    s.add_string("key-file", "", "Single-domain form: the private key, PEM or base64 Ed25519 seed (OpenDKIM KeyFile).");
    s.add_string("key-table", "", "OpenDKIM KeyTable file: 'name domain:selector:keypath' per line ('file:' prefix allowed; domain '%' = From domain).");
    s.add_string("signing-table", "", "OpenDKIM SigningTable file: 'pattern keyname' per line; 'refile:PATH' makes patterns '*' wildcards.");
    s.add_bool("multiple-signatures", false, "Sign with every matching signing-table line, not only the first (OpenDKIM MultipleSignatures).");
    s.add_list("internal-hosts", {"127.0.0.1", "::1"}, "Clients whose mail is signed, not verified (OpenDKIM InternalHosts).");
    s.add_string("canonicalization", "relaxed/relaxed", "header/body canonicalization: simple or relaxed (OpenDKIM Canonicalization).");
    s.add_string("signature-algorithm", "rsa-sha256", "rsa-sha256 or ed25519-sha256: the algorithm of the single-domain key; key-table keys sign with their own type.");
    s.add_list("sign-headers", {}, "Header fields to sign; empty: RFC 6376 §5.4.1's list plus Message-ID, MIME-Version, Content-* (OpenDKIM SignHeaders).");
    s.add_list("oversign-headers", {}, "Header fields signed once more than present; empty: From, Sender, Reply-To, To, Cc, Subject, Date, "
               "Message-ID, MIME-Version, Content-Type, Content-Transfer-Encoding; 'none' disables (OpenDKIM OversignHeaders).");
    s.add_string("authserv-id", "", "authserv-id of the Authentication-Results header; empty: this host's name (OpenDKIM AuthservID).");
    s.add_uint("max-signatures-to-verify", 5, 1, 64, "Signatures evaluated per message; later ones get dkim=neutral.");
    s.add_string("on-dns-error", "accept", "A key lookup that fails temporarily: accept (with dkim=temperror) or tempfail the message.");
    s.add_bool("require-safe-keys", true, "Refuse key files readable or writable by group or others (OpenDKIM RequireSafeKeys).");
    s.add_uint("dns-cache-size", 20000, 0, 10000000, "DNS answers kept for their TTL (0 disables).");
    milter::add_runner_settings(s);
    return s;
}

Settings build_settings(const config::Values& v) {
    Settings s;
    s.common = daemon::CommonSettings::from(v);
    const auto& mode = v.str("mode");
    if (mode == "s") s.mode = Mode::sign;
    else if (mode == "v") s.mode = Mode::verify;
    else if (mode == "sv" || mode == "vs") s.mode = Mode::sign_verify;
    else throw v.error("mode", "expected s, v or sv");

    const auto& domain = v.str("domain");
    const auto& selector = v.str("selector");
    const auto& key_file = v.str("key-file");
    std::string key_table = v.str("key-table");
    std::string signing_table = v.str("signing-table");
    const bool single = !domain.empty() || !selector.empty() || !key_file.empty();
    if (single && (!key_table.empty() || !signing_table.empty()))
        throw v.error("domain", "use either domain/selector/key-file or key-table/signing-table, not both");
    if (single) {
        if (domain.empty() || selector.empty() || key_file.empty())
            throw v.error(domain.empty() ? "domain" : selector.empty() ? "selector" : "key-file",
                          "the single-domain form needs domain, selector and key-file");
        if (!valid_domain(lower(domain))) throw v.error("domain", "not a domain name");
        if (!valid_domain(lower(selector))) throw v.error("selector", "not a selector");
        s.keys.push_back({"default", lower(domain), lower(selector), key_file, nullptr});
        s.rules.push_back({lower(domain), "default"});
    } else if (!key_table.empty() || !signing_table.empty()) {
        if (key_table.empty() || signing_table.empty())
            throw v.error(key_table.empty() ? "key-table" : "signing-table", "key-table and signing-table go together");
        if (key_table.rfind("file:", 0) == 0) key_table = key_table.substr(5);
        if (signing_table.rfind("refile:", 0) == 0) {
            s.refile = true;
            signing_table = signing_table.substr(7);
        } else if (signing_table.rfind("file:", 0) == 0) {
            signing_table = signing_table.substr(5);
        }
        auto kt = parse_key_table(read_table(v, "key-table", key_table));
        if (!kt.error.empty()) throw v.error("key-table", key_table + ": " + kt.error);
        auto st = parse_signing_table(read_table(v, "signing-table", signing_table));
        if (!st.error.empty()) throw v.error("signing-table", signing_table + ": " + st.error);
        for (const auto& r : st.rules)
            if (std::none_of(kt.keys.begin(), kt.keys.end(), [&](const KeyEntry& k) { return k.name == r.key_name; }))
                throw v.error("signing-table", "key name '" + r.key_name + "' is not in the key-table");
        s.keys = std::move(kt.keys);
        s.rules = std::move(st.rules);
    } else if (s.mode != Mode::verify) {
        throw v.error("mode", "signing needs domain/selector/key-file or key-table/signing-table (or mode v)");
    }
    s.multiple_signatures = v.flag("multiple-signatures");

    for (const auto& n : v.list("internal-hosts")) {
        auto net = util::IpNetwork::parse(n);
        if (!net) throw v.error("internal-hosts", "not an address or network: '" + n + "'");
        s.internal_hosts.push_back(*net);
    }
    const auto canon = parse_canon(v.str("canonicalization"));
    if (!canon) throw v.error("canonicalization", "expected simple or relaxed, optionally /simple or /relaxed");
    s.header_canon = canon->first;
    s.body_canon = canon->second;
    s.signature_algorithm = v.str("signature-algorithm");
    if (s.signature_algorithm != "rsa-sha256" && s.signature_algorithm != "ed25519-sha256")
        throw v.error("signature-algorithm", "expected rsa-sha256 or ed25519-sha256 (rsa-sha1 is not allowed, RFC 8301)");
    auto header_names = [&](const char* key, const std::vector<std::string>& def) {
        std::vector<std::string> out;
        const auto& list = v.list(key);
        if (list.empty()) return def;
        if (list.size() == 1 && lower(list[0]) == "none") return out;
        for (const auto& n : list) {
            if (n.empty() || n.size() > 128 ||
                !std::all_of(n.begin(), n.end(), [](char c) { return c >= 33 && c <= 126 && c != ':'; }))
                throw v.error(key, "not a header field name: '" + n + "'");
            out.push_back(lower(n));
        }
        return out;
    };
    s.sign_headers = header_names("sign-headers", dkim::default_sign_headers());
    if (std::find(s.sign_headers.begin(), s.sign_headers.end(), "from") == s.sign_headers.end())
        throw v.error("sign-headers", "must include From (RFC 6376 §5.4)");
    s.oversign_headers = header_names("oversign-headers", dkim::default_oversign_headers());

    s.authserv_id = v.str("authserv-id");
    if (s.authserv_id.empty()) {
        char host[256] = {};
        if (::gethostname(host, sizeof host - 1) == 0) s.authserv_id = host;
        if (s.authserv_id.empty()) s.authserv_id = "localhost";
    }
    for (const auto& c : s.authserv_id)
        if (c <= ' ' || c == ';' || c == '"' || c == '(' || c == ')' || c == '\\' || static_cast<unsigned char>(c) >= 0x7f)
            throw v.error("authserv-id", "must be a plain token (no spaces, quotes, ';' or parentheses)");
    s.max_signatures_to_verify = static_cast<std::size_t>(v.uint("max-signatures-to-verify"));
    const auto& dns = v.str("on-dns-error");
    if (dns == "accept") s.tempfail_on_dns_error = false;
    else if (dns == "tempfail") s.tempfail_on_dns_error = true;
    else throw v.error("on-dns-error", "expected accept or tempfail");
    s.require_safe_keys = v.flag("require-safe-keys");
    s.dns_cache_size = static_cast<std::size_t>(v.uint("dns-cache-size"));
    return s;
}

void load_keys(Settings& s, const config::Values& v) {
    crypto::KeyLoadOptions opts;
    opts.allow_unsafe_permissions = !s.require_safe_keys;
    const bool single = !v.str("key-file").empty();
    const char* key = single ? "key-file" : "key-table";
    for (auto& k : s.keys) {
        auto r = crypto::SigningKey::load_file(k.path, opts);
        if (r.status != crypto::KeyLoadStatus::ok)
            throw v.error(key, "key '" + k.name + "' (" + k.path + "): " + crypto::key_load_status_name(r.status) +
                                   (r.error.empty() ? "" : ": " + r.error));
        if (single && s.signature_algorithm != r.key->algorithm())
            throw v.error("signature-algorithm", std::string("the key in ") + k.path + " signs " + r.key->algorithm() +
                                                     ", not " + s.signature_algorithm);
        k.key = r.key;
    }
}

std::vector<SigningChoice> choose_keys(const Settings& s, std::string_view from_address) {
    std::vector<SigningChoice> out;
    const std::string addr = lower(from_address);
    const auto at = addr.rfind('@');
    if (at == std::string::npos || at + 1 >= addr.size()) return out;
    const std::string from_domain = addr.substr(at + 1);
    auto add = [&](const SigningRule& r) {
        for (const auto& k : s.keys) {
            if (k.name != r.key_name || !k.key) continue;
            SigningChoice c{&k, k.domain == "%" ? from_domain : k.domain};
            if (std::none_of(out.begin(), out.end(), [&](const SigningChoice& o) { return o.key == c.key; }))
                out.push_back(std::move(c));
        }
        return !s.multiple_signatures && !out.empty();
    };
    if (s.refile) {
        for (const auto& r : s.rules)
            if (glob_match(r.pattern, addr) && add(r)) break;
    } else {
        for (const auto* candidate : {&addr, &from_domain}) {
            bool done = false;
            for (const auto& r : s.rules)
                if (r.pattern == *candidate && (done = add(r))) break;
            if (done) break;
        }
    }
    return out;
}

}  // namespace mailmoat::dkimd
