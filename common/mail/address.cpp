// common/mail/address.cpp - RFC 5322 §3.4/§4.4 address-list parser, RFC 2047 decoding, domain normalisation.
#include "common/mail/address.hpp"

#include <array>
#include <optional>

#include "common/mail/idn2_handles.hpp"

namespace mailmoat::mail {

namespace {

bool is_wsp(char c) noexcept {
    return c == ' ' || c == '\t';
}

bool is_atext(char c) noexcept {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) return true;  // RFC 6532 UTF8-non-ascii
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::optional<std::string> base64_decode(std::string_view in) {
    static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    std::size_t pad = 0;
    for (char c : in) {
        if (c == '=') {
            ++pad;
            continue;
        }
        if (pad > 0) return std::nullopt;  // data after padding
        std::size_t v = alphabet.find(c);
        if (v == std::string_view::npos) return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFF));
        }
    }
    if (pad > 2) return std::nullopt;
    return out;
}

bool valid_utf8(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = 0;
        std::uint32_t cp = 0;
        if (c < 0x80) {
            ++i;
            continue;
        }
        if ((c & 0xE0) == 0xC0)
            n = 1, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0)
            n = 2, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0)
            n = 3, cp = c & 0x07;
        else
            return false;
        for (std::size_t k = 1; k <= n; ++k) {
            if (i + k >= s.size()) return false;
            auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

std::string latin1_to_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size() * 2);
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x80)
            out.push_back(ch);
        else {
            out.push_back(static_cast<char>(0xC0 | (c >> 6)));
            out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        }
    }
    return out;
}

/// Decodes one encoded word starting at text[pos] ("=?"). On success sets decoded and end.
bool decode_one(std::string_view text, std::size_t pos, std::string& decoded, std::size_t& end) {
    if (text.substr(pos, 2) != "=?") return false;
    std::size_t q1 = text.find('?', pos + 2);
    if (q1 == std::string_view::npos || q1 + 3 >= text.size() || text[q1 + 2] != '?') return false;
    std::string charset = ascii_lower(text.substr(pos + 2, q1 - pos - 2));
    if (auto star = charset.find('*'); star != std::string::npos) charset.resize(star);  // RFC 2231 language
    char enc = text[q1 + 1];
    std::size_t data_start = q1 + 3;
    std::size_t close = text.find("?=", data_start);
    if (close == std::string_view::npos || close - pos > 75 * 4) return false;
    std::string_view data = text.substr(data_start, close - data_start);
    for (char c : data)
        if (is_wsp(c) || c == '\r' || c == '\n' || c == '?') return false;
    std::string bytes;
    if (enc == 'B' || enc == 'b') {
        auto b = base64_decode(data);
        if (!b) return false;
        bytes = std::move(*b);
    } else if (enc == 'Q' || enc == 'q') {
        for (std::size_t i = 0; i < data.size(); ++i) {
            if (data[i] == '_')
                bytes.push_back(' ');
            else if (data[i] == '=') {
                if (i + 2 >= data.size()) return false;
                int hi = hex_value(data[i + 1]), lo = hex_value(data[i + 2]);
                if (hi < 0 || lo < 0) return false;
                bytes.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
            } else
                bytes.push_back(data[i]);
        }
    } else {
        return false;
    }
    if (charset == "utf-8" || charset == "utf8") {
        if (!valid_utf8(bytes)) return false;
        decoded = std::move(bytes);
    } else if (charset == "us-ascii" || charset == "ascii") {
        for (char c : bytes)
            if (static_cast<unsigned char>(c) >= 0x80) return false;
        decoded = std::move(bytes);
    } else if (charset == "iso-8859-1" || charset == "iso8859-1" || charset == "latin1" || charset == "latin-1" ||
               charset == "iso_8859-1") {
        decoded = latin1_to_utf8(bytes);
    } else {
        return false;  // other charsets are left as written
    }
    end = close + 2;
    return true;
}

/// A token of a phrase or local part.
struct Word {
    std::string text;  // content (quoted-string without quotes and escapes; atom as is; "." for dots)
    std::string raw;   // as written (quoted-string with its quotes)
    bool quoted = false;
    bool dot = false;
    bool ws_before = false;  // CFWS preceded this token
};

class Parser {
public:
    Parser(std::string_view s, const AddressLimits& limits) : s_(s), limits_(limits) {}

    AddressList run() {
        if (s_.size() > limits_.max_value_bytes) {
            result_.status = AddressList::Status::invalid;
            result_.error = "value longer than " + std::to_string(limits_.max_value_bytes) + " bytes";
            return std::move(result_);
        }
        bool ok = parse_list();
        if (!ok) {
            result_.status = AddressList::Status::invalid;
            result_.error = error_;
        } else {
            result_.status = result_.mailboxes.empty() ? AddressList::Status::empty : AddressList::Status::ok;
        }
        return std::move(result_);
    }

private:
    bool parse_list() {
        for (;;) {
            if (!skip_cfws()) return false;
            if (at_end()) return true;
            if (peek() == ',') {  // obs-addr-list: empty elements
                ++i_;
                continue;
            }
            if (!parse_address({}, true)) return false;
            if (!skip_cfws()) return false;
            if (at_end()) return true;
            if (peek() != ',') return fail("expected ',' between addresses");
            ++i_;
        }
    }

    bool fail(std::string_view why) {
        if (error_.empty()) error_ = std::string(why) + " at offset " + std::to_string(i_);
        return false;
    }
    [[nodiscard]] bool at_end() const noexcept { return i_ >= s_.size(); }
    [[nodiscard]] char peek() const noexcept { return at_end() ? '\0' : s_[i_]; }

    /// Skips FWS and (nested) comments. False on an unterminated or too deeply nested comment.
    bool skip_cfws(bool* skipped = nullptr) {
        std::size_t start = i_;
        while (!at_end()) {
            char c = s_[i_];
            if (is_wsp(c) || c == '\r' || c == '\n') {
                ++i_;
                continue;
            }
            if (c != '(') break;
            std::size_t depth = 0;
            while (!at_end()) {
                char d = s_[i_++];
                if (d == '\\') {
                    if (at_end()) return fail("unterminated comment");
                    ++i_;
                } else if (d == '(') {
                    if (++depth > limits_.max_comment_depth) return fail("comments nested too deeply");
                } else if (d == ')') {
                    if (--depth == 0) break;
                }
            }
            if (depth != 0) return fail("unterminated comment");
        }
        if (skipped != nullptr) *skipped = i_ != start;
        return true;
    }

    bool read_quoted(Word& w) {
        std::size_t start = i_;
        ++i_;  // opening quote
        while (!at_end()) {
            char c = s_[i_++];
            if (c == '"') {
                w.raw = std::string(s_.substr(start, i_ - start));
                w.quoted = true;
                return true;
            }
            if (c == '\\') {
                if (at_end()) break;
                w.text.push_back(s_[i_++]);
            } else if (c == '\r' || c == '\n') {
                continue;  // unfold
            } else {
                w.text.push_back(c);
            }
        }
        i_ = start;
        return fail("unterminated quoted-string");
    }

    /// Reads words ("atom", "quoted") and dots until something else.
    bool read_words(std::vector<Word>& words) {
        for (;;) {
            bool ws = false;
            if (!skip_cfws(&ws)) return false;
            if (at_end()) return true;
            char c = peek();
            Word w;
            w.ws_before = ws;
            if (c == '"') {
                if (!read_quoted(w)) return false;
            } else if (c == '.') {
                ++i_;
                w.text = w.raw = ".";
                w.dot = true;
            } else if (is_atext(c)) {
                std::size_t start = i_;
                while (!at_end() && is_atext(peek())) ++i_;
                w.text = w.raw = std::string(s_.substr(start, i_ - start));
            } else {
                return true;
            }
            words.push_back(std::move(w));
            if (words.size() > 4096) return fail("too many words");
        }
    }

    static std::string display_name(const std::vector<Word>& words) {
        std::string out;
        bool prev_encoded = false;
        for (std::size_t k = 0; k < words.size(); ++k) {
            const Word& w = words[k];
            std::string piece = w.dot ? std::string(".") : decode_encoded_words(w.text);
            const bool encoded = !w.dot && !w.quoted && piece != w.text && w.text.rfind("=?", 0) == 0;
            if (k > 0 && w.ws_before && !(encoded && prev_encoded)) out.push_back(' ');
            out += piece;
            prev_encoded = encoded;
        }
        return out;
    }

    /// word *("." word) → local part as written; false if the words do not form one.
    bool local_part_of(const std::vector<Word>& words, std::string& out) {
        if (words.empty()) return fail("missing local part");
        bool expect_word = true;
        for (const Word& w : words) {
            if (w.dot == expect_word) {
                // obs-local-part allows CFWS around dots but not two words or two dots in a row.
                return fail(expect_word ? "misplaced '.' in local part" : "words without '.' in local part");
            }
            out += w.raw;
            expect_word = !expect_word;
        }
        if (expect_word) return fail("local part ends with '.'");
        return true;
    }

    bool read_domain(std::string& out) {
        if (!skip_cfws()) return false;
        std::string raw;
        if (peek() == '[') {
            std::size_t start = i_;
            ++i_;
            raw.push_back('[');
            while (!at_end() && peek() != ']') {
                char c = s_[i_++];
                if (c == '[') return fail("'[' inside domain literal");
                if (c == '\\') {
                    if (at_end()) break;
                    c = s_[i_++];
                }
                if (c == '\r' || c == '\n' || is_wsp(c)) continue;
                raw.push_back(c);
            }
            if (at_end()) {
                i_ = start;
                return fail("unterminated domain literal");
            }
            ++i_;
            raw.push_back(']');
        } else {
            bool expect_label = true;
            for (;;) {
                if (!skip_cfws()) return false;
                if (at_end()) break;
                char c = peek();
                if (expect_label && is_atext(c)) {
                    while (!at_end() && is_atext(peek())) raw.push_back(s_[i_++]);
                    expect_label = false;
                } else if (expect_label && c == '.' && !raw.empty()) {
                    return fail("bad domain: empty label");
                } else if (!expect_label && c == '.') {
                    raw.push_back(s_[i_++]);
                    expect_label = true;
                } else {
                    break;
                }
            }
            if (raw.empty()) return fail("missing domain");
        }
        DomainResult d = normalize_domain(raw);
        if (d.status != DomainResult::Status::ok) return fail("bad domain: " + d.error);
        out = std::move(d.domain);
        return true;
    }

    bool add_mailbox(Mailbox m) {
        if (result_.mailboxes.size() >= limits_.max_mailboxes) return fail("too many mailboxes");
        result_.mailboxes.push_back(std::move(m));
        return true;
    }

    bool parse_angle(std::string display, const std::string& group) {
        ++i_;  // '<'
        if (!skip_cfws()) return false;
        if (peek() == '>') return fail("empty angle address");
        if (peek() == '@') {  // obs-route: @a,@b:
            for (;;) {
                if (!skip_cfws()) return false;
                if (peek() == ',') {
                    ++i_;
                    continue;
                }
                if (peek() != '@') break;
                ++i_;
                std::string ignored;
                if (!read_domain(ignored)) return false;
            }
            if (!skip_cfws()) return false;
            if (peek() != ':') return fail("expected ':' after route");
            ++i_;
        }
        std::vector<Word> words;
        if (!read_words(words)) return false;
        Mailbox m;
        if (!local_part_of(words, m.local_part)) return false;
        if (!skip_cfws()) return false;
        if (peek() != '@') return fail("expected '@' in angle address");
        ++i_;
        if (!read_domain(m.domain)) return false;
        if (!skip_cfws()) return false;
        if (peek() != '>') return fail("expected '>'");
        ++i_;
        m.display_name = std::move(display);
        m.group = group;
        return add_mailbox(std::move(m));
    }

    bool parse_address(const std::string& group, bool allow_group) {
        std::vector<Word> words;
        if (!read_words(words)) return false;
        if (!skip_cfws()) return false;
        char c = peek();
        if (c == '<') return parse_angle(display_name(words), group);
        if (c == ':' && allow_group) {
            if (words.empty()) return fail("group without a name");
            ++i_;
            std::string name = display_name(words);
            result_.groups.push_back(name);
            for (;;) {
                if (!skip_cfws()) return false;
                if (at_end()) return fail("group without ';'");
                if (peek() == ';') {
                    ++i_;
                    return true;
                }
                if (peek() == ',') {
                    ++i_;
                    continue;
                }
                if (!parse_address(name, false)) return false;
                if (!skip_cfws()) return false;
                if (at_end()) return fail("group without ';'");
                if (peek() != ',' && peek() != ';') return fail("expected ',' or ';' in group");
            }
        }
        if (c == '@') {
            Mailbox m;
            if (!local_part_of(words, m.local_part)) return false;
            ++i_;
            if (!read_domain(m.domain)) return false;
            m.group = group;
            return add_mailbox(std::move(m));
        }
        if (words.empty()) return fail(at_end() ? "missing address" : "unexpected character");
        return fail("address without '@domain'");
    }

    std::string_view s_;
    AddressLimits limits_;
    std::size_t i_ = 0;
    std::string error_;
    AddressList result_;
};

}  // namespace

AddressList parse_address_list(std::string_view value, const AddressLimits& limits) {
    return Parser(value, limits).run();
}

std::string decode_encoded_words(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    std::string pending_ws;
    bool last_encoded = false;
    std::size_t i = 0;
    while (i < text.size()) {
        std::string decoded;
        std::size_t end = 0;
        if (text[i] == '=' && decode_one(text, i, decoded, end)) {
            if (!last_encoded) out += pending_ws;
            pending_ws.clear();
            out += decoded;
            i = end;
            last_encoded = true;
            continue;
        }
        char c = text[i++];
        if (is_wsp(c)) {
            pending_ws.push_back(c);
            continue;
        }
        if (c == '\r' || c == '\n') continue;  // unfold
        out += pending_ws;
        pending_ws.clear();
        out.push_back(c);
        last_encoded = false;
    }
    out += pending_ws;
    return out;
}

DomainResult normalize_domain(std::string_view domain) {
    DomainResult r;
    if (domain.empty()) return r;
    if (domain.front() == '[') {
        if (domain.size() < 3 || domain.back() != ']') {
            r.status = DomainResult::Status::invalid;
            r.error = "bad address literal";
            return r;
        }
        r.status = DomainResult::Status::ok;
        r.domain = std::string(domain);
        return r;
    }
    if (domain.back() == '.') domain.remove_suffix(1);
    if (domain.empty()) {
        r.status = DomainResult::Status::invalid;
        r.error = "domain is only a dot";
        return r;
    }
    std::string name;
    bool ascii = true;
    for (char c : domain)
        if (static_cast<unsigned char>(c) >= 0x80) ascii = false;
    if (ascii) {
        name = ascii_lower(domain);
    } else {
        std::string input(domain);
        char* raw = nullptr;
        int rc = idn2_to_ascii_8z(input.c_str(), &raw, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
        Idn2String out(raw);
        if (rc != IDN2_OK || !out) {
            r.status = DomainResult::Status::invalid;
            r.error = std::string("IDN conversion failed: ") + idn2_strerror(rc);
            return r;
        }
        name = ascii_lower(out.get());
    }
    if (name.size() > 253) {
        r.status = DomainResult::Status::invalid;
        r.error = "domain longer than 253 octets";
        return r;
    }
    std::size_t start = 0;
    for (;;) {
        std::size_t dot = name.find('.', start);
        std::size_t len = (dot == std::string::npos ? name.size() : dot) - start;
        if (len == 0 || len > 63) {
            r.status = DomainResult::Status::invalid;
            r.error = len == 0 ? "empty label" : "label longer than 63 octets";
            return r;
        }
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    r.status = DomainResult::Status::ok;
    r.domain = std::move(name);
    return r;
}

DomainResult envelope_domain(std::string_view path) {
    DomainResult r;
    if (path.size() > 1024) {
        r.status = DomainResult::Status::invalid;
        r.error = "path longer than 1024 bytes";
        return r;
    }
    while (!path.empty() && is_wsp(path.front())) path.remove_prefix(1);
    while (!path.empty() && is_wsp(path.back())) path.remove_suffix(1);
    if (!path.empty() && path.front() == '<') {
        if (path.back() != '>') {
            r.status = DomainResult::Status::invalid;
            r.error = "missing '>'";
            return r;
        }
        path = path.substr(1, path.size() - 2);
    }
    if (path.empty()) return r;  // null reverse-path
    if (path.front() == '@') {   // RFC 5321 §4.1.2 source route (obsolete)
        std::size_t colon = path.find(':');
        if (colon == std::string_view::npos) {
            r.status = DomainResult::Status::invalid;
            r.error = "source route without ':'";
            return r;
        }
        path.remove_prefix(colon + 1);
    }
    std::size_t at = path.rfind('@');
    if (at == std::string_view::npos || at == 0) {
        r.status = DomainResult::Status::invalid;
        r.error = at == 0 ? "empty local part" : "no '@' in address";
        return r;
    }
    std::string_view domain = path.substr(at + 1);
    if (domain.empty()) {
        r.status = DomainResult::Status::invalid;
        r.error = "empty domain";
        return r;
    }
    return normalize_domain(domain);
}

}  // namespace mailmoat::mail
