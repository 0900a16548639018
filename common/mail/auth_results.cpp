// common/mail/auth_results.cpp - RFC 8601 §2.2 Authentication-Results writing and parsing.
#include "common/mail/auth_results.hpp"

namespace mailmoat::mail {

namespace {

constexpr std::size_t max_value_bytes = 65536;
constexpr int max_comment_depth = 64;

bool is_wsp(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}
bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}
bool is_alnum(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c);
}
/// Control characters other than the FWS ones (HTAB, CR, LF) are not allowed anywhere in the field.
bool is_bad_ctl(char c) noexcept {
    auto u = static_cast<unsigned char>(c);
    return (u < 32 && c != '\t' && c != '\r' && c != '\n') || u == 127;
}
bool is_keyword_char(char c) noexcept {
    return is_alnum(c) || c == '-' || c == '_' || c == '.';
}

bool is_tspecial(char c) noexcept {
    return std::string_view("()<>@,;:\\\"/[]?=").find(c) != std::string_view::npos;
}

/// RFC 2045 token character: printable US-ASCII other than tspecials.
bool is_token_char(char c) noexcept {
    auto u = static_cast<unsigned char>(c);
    return u > 32 && u < 127 && !is_tspecial(c);
}

bool is_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s)
        if (!is_token_char(c)) return false;
    return true;
}

bool is_atext(char c) noexcept {
    if (is_alnum(c)) return true;
    return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool is_dot_atom(std::string_view s) noexcept {
    if (s.empty() || s.front() == '.' || s.back() == '.') return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '.') {
            if (s[i - 1] == '.') return false;
        } else if (!is_atext(s[i])) {
            return false;
        }
    }
    return true;
}

/// [local-part] "@" domain-name with a dot-atom local part.
bool is_address_form(std::string_view s) noexcept {
    std::size_t at = s.rfind('@');
    if (at == std::string_view::npos) return false;
    std::string_view local = s.substr(0, at);
    std::string_view domain = s.substr(at + 1);
    if (!local.empty() && !is_dot_atom(local)) return false;
    if (domain.empty() || domain.front() == '.' || domain.back() == '.') return false;
    for (char c : domain)
        if (!is_alnum(c) && c != '-' && c != '.' && c != '_') return false;
    return true;
}

std::string sanitize(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        auto u = static_cast<unsigned char>(c);
        if ((u < 32 && c != '\t') || u == 127) c = '?';
    }
    return out;
}

std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (char c : sanitize(s)) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

std::string value_text(std::string_view v) {
    return is_token(v) ? std::string(v) : quoted(v);
}

std::string pvalue_text(std::string_view v) {
    return is_token(v) || is_address_form(v) ? std::string(v) : quoted(v);
}

std::string keyword(std::string_view s) {
    std::string out;
    for (char c : s)
        if (is_keyword_char(c)) out.push_back(c);
    return out;
}

std::string digits(std::string_view s) {
    std::string out;
    for (char c : s)
        if (is_digit(c)) out.push_back(c);
    return out;
}

std::string comment_text(std::string_view s) {
    std::string out;
    for (char c : sanitize(s)) {
        if (c == '(' || c == ')' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

class ArParser {
public:
    explicit ArParser(std::string_view s) : s_(s) {}

    ParsedAuthResults run() {
        ParsedAuthResults out;
        if (s_.size() > max_value_bytes) {
            out.error = "value longer than 65536 bytes";
            return out;
        }
        if (!skip_cfws() || !read_value(out.value.authserv_id) || out.value.authserv_id.empty()) {
            out.error = error_.empty() ? "missing authserv-id" : error_;
            out.value.authserv_id.clear();
            return out;
        }
        out.status = ParsedAuthResults::Status::partial;
        if (!parse_rest(out.value)) {
            out.error = error_;
            return out;
        }
        out.status = ParsedAuthResults::Status::ok;
        return out;
    }

private:
    bool fail(std::string_view why) {
        if (error_.empty()) error_ = std::string(why) + " at offset " + std::to_string(i_);
        return false;
    }
    [[nodiscard]] bool at_end() const noexcept { return i_ >= s_.size(); }
    [[nodiscard]] char peek() const noexcept { return at_end() ? '\0' : s_[i_]; }

    /// Skips FWS and comments; remembers the text of the first top-level comment since the last clear.
    bool skip_cfws() {
        while (!at_end()) {
            if (is_wsp(peek())) {
                ++i_;
                continue;
            }
            if (peek() != '(') return true;
            std::string text;
            int depth = 0;
            do {
                char c = s_[i_++];
                if (is_bad_ctl(c) || (c == '\\' && !at_end() && is_bad_ctl(peek())))
                    return fail("control character in comment");
                if (c == '\\') {
                    if (at_end()) return fail("unterminated comment");
                    c = s_[i_++];
                    text.push_back(c);
                    continue;
                }
                if (c == '(') {
                    if (++depth > max_comment_depth) return fail("comments nested too deeply");
                    if (depth == 1) continue;
                } else if (c == ')') {
                    if (--depth == 0) break;
                }
                if (c != '\r' && c != '\n') text.push_back(c);
            } while (!at_end());
            if (depth != 0) return fail("unterminated comment");
            if (!have_comment_) {
                comment_ = std::move(text);
                have_comment_ = true;
            }
        }
        return true;
    }

    bool read_quoted(std::string& out) {
        ++i_;
        while (!at_end()) {
            char c = s_[i_++];
            if (c == '"') return true;
            if (is_bad_ctl(c) || (c == '\\' && !at_end() && is_bad_ctl(peek())))
                return fail("control character in quoted-string");
            if (c == '\\') {
                if (at_end()) break;
                out.push_back(s_[i_++]);
            } else if (c != '\r' && c != '\n') {
                out.push_back(c);
            }
        }
        return fail("unterminated quoted-string");
    }

    /// value = token / quoted-string. Also accepts UTF-8 in tokens (RFC 8601 §2.2 with RFC 6532).
    bool read_value(std::string& out) {
        if (peek() == '"') return read_quoted(out);
        std::size_t start = i_;
        while (!at_end() && (is_token_char(peek()) || static_cast<unsigned char>(peek()) >= 0x80)) ++i_;
        if (i_ == start) return fail("expected a value");
        out = std::string(s_.substr(start, i_ - start));
        return true;
    }

    bool read_keyword(std::string& out) {
        std::size_t start = i_;
        while (!at_end() && is_keyword_char(peek())) ++i_;
        if (i_ == start) return fail("expected a keyword");
        out = ascii_lower(s_.substr(start, i_ - start));
        return true;
    }

    /// Method and ptype keywords end at '/', '=' or '.': no dots inside.
    bool read_name(std::string& out) {
        std::size_t start = i_;
        while (!at_end() && (is_alnum(peek()) || peek() == '-' || peek() == '_')) ++i_;
        if (i_ == start) return fail("expected a name");
        out = ascii_lower(s_.substr(start, i_ - start));
        return true;
    }

    bool read_digits(std::string& out) {
        std::size_t start = i_;
        while (!at_end() && is_digit(peek())) ++i_;
        if (i_ == start) return fail("expected digits");
        out = std::string(s_.substr(start, i_ - start));
        return true;
    }

    /// pvalue = [CFWS] ( value / [ [ local-part ] "@" ] domain-name ) [CFWS]
    bool read_pvalue(std::string& out) {
        if (peek() == '"') {
            std::string q;
            if (!read_quoted(q)) return false;
            if (peek() == '@') {
                out = quoted(q);
                ++i_;
                out.push_back('@');
                std::size_t start = i_;
                while (!at_end() && !is_wsp(peek()) && peek() != ';' && peek() != '(' && !is_bad_ctl(peek())) ++i_;
                out.append(s_.substr(start, i_ - start));
            } else {
                out = std::move(q);
            }
            return true;
        }
        std::size_t start = i_;
        while (!at_end() && !is_wsp(peek()) && peek() != ';' && peek() != '(' && peek() != '"' && !is_bad_ctl(peek()))
            ++i_;
        if (i_ == start) return fail("expected a property value");
        out = std::string(s_.substr(start, i_ - start));
        return true;
    }

    bool expect(char c, std::string_view what) {
        if (!skip_cfws()) return false;
        if (peek() != c) return fail("expected " + std::string(what));
        ++i_;
        return skip_cfws();
    }

    bool parse_rest(AuthResults& ar) {
        if (!skip_cfws()) return false;
        if (is_digit(peek())) {
            std::size_t save = i_;
            std::string v;
            (void)read_digits(v);
            if (at_end() || is_wsp(peek()) || peek() == '(' || peek() == ';')
                ar.version = v;
            else
                i_ = save;
            if (!skip_cfws()) return false;
        }
        if (at_end()) return fail("expected ';' and a result or \"none\"");
        bool first = true;
        while (!at_end()) {
            if (!expect(';', "';'")) return false;
            if (at_end() && !first) return true;  // a trailing ';' is tolerated
            first = false;
            std::size_t save = i_;
            std::string word;
            if (read_name(word) && word == "none") {
                if (!skip_cfws()) return false;
                if (!ar.results.empty()) return fail("\"none\" after results");
                if (!at_end()) return fail("text after \"none\"");
                return true;
            }
            error_.clear();
            i_ = save;
            AuthResult r;
            if (!read_name(r.method)) return false;
            if (!skip_cfws()) return false;
            if (peek() == '/') {
                ++i_;
                if (!skip_cfws() || !read_digits(r.method_version)) return false;
            }
            if (!expect('=', "'=' after method")) return false;
            if (!read_keyword(r.result)) return false;
            have_comment_ = false;
            comment_.clear();
            if (!skip_cfws()) return false;
            if (have_comment_) r.comment = comment_;
            while (!at_end() && peek() != ';') {
                std::string ptype;
                if (!read_name(ptype)) return false;
                if (!skip_cfws()) return false;
                if (ptype == "reason" && peek() == '=') {
                    ++i_;
                    if (!skip_cfws() || !read_value(r.reason) || !skip_cfws()) return false;
                    continue;
                }
                AuthProperty p;
                p.ptype = std::move(ptype);
                if (!expect('.', "'.' in property")) return false;
                if (!read_keyword(p.property)) return false;
                if (!expect('=', "'=' in property")) return false;
                if (!read_pvalue(p.value)) return false;
                if (!skip_cfws()) return false;
                r.properties.push_back(std::move(p));
                if (r.properties.size() > 256) return fail("too many properties");
            }
            ar.results.push_back(std::move(r));
            if (ar.results.size() > 256) return fail("too many results");
        }
        return true;
    }

    std::string_view s_;
    std::size_t i_ = 0;
    std::string error_;
    std::string comment_;
    bool have_comment_ = false;
};

}  // namespace

std::string auth_results_value(const AuthResults& ar) {
    std::string out = value_text(ar.authserv_id);
    std::string version = digits(ar.version);
    if (!version.empty()) out += " " + version;
    if (ar.results.empty()) return out + "; none";
    for (const AuthResult& r : ar.results) {
        out += "; " + keyword(r.method);
        std::string mv = digits(r.method_version);
        if (!mv.empty()) out += "/" + mv;
        out += "=" + keyword(r.result);
        if (!r.comment.empty()) out += " (" + comment_text(r.comment) + ")";
        if (!r.reason.empty()) out += " reason=" + value_text(r.reason);
        for (const AuthProperty& p : r.properties)
            out += " " + keyword(p.ptype) + "." + keyword(p.property) + "=" + pvalue_text(p.value);
    }
    return out;
}

std::string auth_results_field(const AuthResults& ar, std::size_t width, std::string_view eol) {
    return fold_header("Authentication-Results", auth_results_value(ar), width, eol);
}

ParsedAuthResults parse_auth_results(std::string_view value) {
    return ArParser(value).run();
}

std::vector<ForgedField> forged_auth_results(const std::vector<HeaderField>& fields, std::string_view authserv_id) {
    std::vector<ForgedField> out;
    const std::string ours = ascii_lower(authserv_id);
    std::size_t occurrence = 0;
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (!header_name_equal(fields[i].name, "Authentication-Results")) continue;
        ++occurrence;
        ParsedAuthResults p = parse_auth_results(fields[i].raw_value);
        if (p.status == ParsedAuthResults::Status::invalid) continue;
        if (ascii_lower(p.value.authserv_id) == ours) out.push_back({i, occurrence});
    }
    return out;
}

}  // namespace mailmoat::mail
