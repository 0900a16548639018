// common/checks/scanner.cpp - header/body checks over one message, following Postfix cleanup(8) and
// mime_state.c: which table sees which header, body pieces, segment offsets, actions.
#include "common/checks/scanner.hpp"

#include <algorithm>
#include <cerrno>
#include <map>

#include "common/checks/blocklist.hpp"
#include "common/checks/iconv_handles.hpp"
#include "common/mail/address.hpp"

namespace mailmoat::checks {
namespace {

constexpr std::size_t max_logged_input = 200;  // Postfix truncates logged content to 200 bytes
constexpr std::size_t max_problems = 32;
constexpr std::size_t max_primary_headers = 10000;

char lower_char(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequal(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower_char(a[i]) != lower_char(b[i])) return false;
    return true;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = lower_char(c);
    return out;
}

bool is_ws(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && (is_ws(s.front()) || s.front() == '\r' || s.front() == '\n')) s.remove_prefix(1);
    while (!s.empty() && (is_ws(s.back()) || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
    return s;
}

/// The header name of "Name: value" or "Name : value" (empty when the text is not a header).
std::string_view header_name(std::string_view text) noexcept {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == ':' || c <= ' ' || c >= 0x7f) break;
        ++i;
    }
    if (i == 0) return {};
    std::size_t j = i;
    while (j < text.size() && is_ws(text[j])) ++j;
    if (j >= text.size() || text[j] != ':') return {};
    return text.substr(0, i);
}

/// Content-Type "type/subtype; boundary=...; charset=..." (RFC 2045 §5.1): the lower-case type, the
/// boundary and the lower-case charset parameters (empty when absent).
void parse_content_type(std::string_view value, std::string& type, std::string& boundary, std::string& charset) {
    value = trim(value);
    std::size_t end = 0;
    while (end < value.size() && value[end] != ';' && !is_ws(value[end]) && value[end] != '\n') ++end;
    type = lower(value.substr(0, end));
    boundary.clear();
    charset.clear();
    std::size_t pos = end;
    for (int params = 0; pos < value.size() && params < 64; ++params) {
        std::size_t semi = value.find(';', pos);
        if (semi == std::string_view::npos) break;
        std::string_view rest = value.substr(semi + 1);
        while (!rest.empty() && (is_ws(rest.front()) || rest.front() == '\n' || rest.front() == '\r'))
            rest.remove_prefix(1);
        pos = semi + 1;
        const std::size_t eq = rest.find('=');
        const std::size_t next_semi = rest.find(';');
        if (eq == std::string_view::npos || (next_semi != std::string_view::npos && eq > next_semi)) continue;
        const std::string_view name = trim(rest.substr(0, eq));
        std::string_view v = rest.substr(eq + 1);
        while (!v.empty() && is_ws(v.front())) v.remove_prefix(1);
        std::string parsed;
        if (!v.empty() && v.front() == '"') {
            std::size_t i = 1;
            for (; i < v.size() && v[i] != '"'; ++i) {
                if (v[i] == '\\' && i + 1 < v.size()) ++i;
                parsed.push_back(v[i]);
            }
            pos = static_cast<std::size_t>(v.data() + std::min(i, v.size()) - value.data());
        } else {
            std::size_t e = 0;
            while (e < v.size() && v[e] != ';' && !is_ws(v[e]) && v[e] != '\n' && v[e] != '\r') ++e;
            parsed = std::string(v.substr(0, e));
        }
        if (iequal(name, "boundary") && boundary.empty()) boundary = parsed;
        else if (iequal(name, "charset") && charset.empty()) charset = lower(parsed);
    }
}

std::string to_utf8(std::string_view text, const std::string& charset);

/// The parameters of a Content-Type or Content-Disposition value (RFC 2045 §5.1), names lower-cased,
/// quoted strings unquoted. At most 64.
std::vector<std::pair<std::string, std::string>> mime_params(std::string_view value) {
    std::vector<std::pair<std::string, std::string>> out;
    std::size_t i = value.find(';');
    while (i != std::string_view::npos && i < value.size() && out.size() < 64) {
        ++i;
        while (i < value.size() && (is_ws(value[i]) || value[i] == '\n' || value[i] == '\r')) ++i;
        const std::size_t eq = value.find('=', i);
        if (eq == std::string_view::npos) break;
        std::string name = lower(trim(value.substr(i, eq - i)));
        std::size_t j = eq + 1;
        while (j < value.size() && (is_ws(value[j]) || value[j] == '\n' || value[j] == '\r')) ++j;
        std::string v;
        if (j < value.size() && value[j] == '"') {
            for (++j; j < value.size() && value[j] != '"'; ++j) {
                if (value[j] == '\\' && j + 1 < value.size()) ++j;
                if (value[j] != '\r' && value[j] != '\n') v.push_back(value[j]);
            }
            if (j < value.size()) ++j;
        } else {
            const std::size_t e = std::min(value.find(';', j), value.size());
            v = std::string(trim(value.substr(j, e - j)));
            j = e;
        }
        if (name.find(';') == std::string::npos) out.emplace_back(std::move(name), std::move(v));
        i = value.find(';', j);
    }
    return out;
}

/// The value of parameter `name`, with RFC 2231 continuations (name*0, name*1*, ...) joined and
/// charset'lang'%XX values decoded, and RFC 2047 encoded words (as some mailers write them) decoded.
/// Empty when absent.
std::string mime_param(std::string_view value, std::string_view name) {
    const auto params = mime_params(value);
    for (const auto& [n, v] : params)
        if (n == name) return mail::decode_encoded_words(v);
    auto hex = [](char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    };
    std::string joined, charset;
    bool any = false;
    for (int k = 0; k < 64; ++k) {
        const std::string base = std::string(name) + "*" + std::to_string(k);
        const std::pair<std::string, std::string>* hit = nullptr;
        bool ext = false, single = false;
        for (const auto& p : params) {
            if (p.first == base) hit = &p;
            else if (p.first == base + "*") hit = &p, ext = true;
            else if (k == 0 && p.first == std::string(name) + "*") hit = &p, ext = true, single = true;
            if (hit) break;
        }
        if (!hit) break;
        std::string_view piece = hit->second;
        if (ext) {
            if (k == 0) {  // charset'language'value
                const std::size_t q1 = piece.find('\'');
                const std::size_t q2 = q1 == std::string_view::npos ? q1 : piece.find('\'', q1 + 1);
                if (q2 != std::string_view::npos) {
                    charset = lower(piece.substr(0, q1));
                    piece = piece.substr(q2 + 1);
                }
            }
            for (std::size_t i = 0; i < piece.size(); ++i) {
                if (piece[i] == '%' && i + 2 < piece.size()) {
                    const int hi = hex(piece[i + 1]);
                    const int lo = hex(piece[i + 2]);
                    if (hi >= 0 && lo >= 0) {
                        joined.push_back(static_cast<char>(hi * 16 + lo));
                        i += 2;
                        continue;
                    }
                }
                joined.push_back(piece[i]);
            }
        } else {
            joined += piece;
        }
        any = true;
        if (single) break;
    }
    if (!any) return {};
    return to_utf8(joined, charset);
}

}  // namespace

const char* input_class_name(InputClass c) noexcept {
    switch (c) {
    case InputClass::header: return "header";
    case InputClass::mime_header: return "mime_header";
    case InputClass::nested_header: return "nested_header";
    case InputClass::body: return "body";
    case InputClass::decoded_body: return "decoded_body";
    case InputClass::attachment: return "attachment";
    case InputClass::blocklist: return "blocklist";
    }
    return "header";
}

const char* final_name(Outcome::Final f) noexcept {
    switch (f) {
    case Outcome::Final::accept: return "accept";
    case Outcome::Final::reject: return "reject";
    case Outcome::Final::discard: return "discard";
    case Outcome::Final::pass: return "pass";
    case Outcome::Final::tempfail: return "tempfail";
    }
    return "accept";
}

const RuleSet::Tables& RuleSet::tables(InputClass c) const noexcept {
    switch (c) {
    case InputClass::header: return header;
    case InputClass::mime_header: return mime_set ? mime_header : header;
    case InputClass::nested_header: return nested_set ? nested_header : header;
    case InputClass::body: return body;
    case InputClass::decoded_body: return decoded_body;
    case InputClass::blocklist: return blocklist;
    case InputClass::attachment: break;
    }
    static const Tables none;
    return none;
}

bool is_mime_header(std::string_view name) noexcept {
    for (std::string_view m : {"Content-Description", "Content-Disposition", "Content-ID", "Content-Transfer-Encoding",
                               "Content-Type", "MIME-Version"})
        if (iequal(name, m)) return true;
    return false;
}

RuleSet::Tables open_tables(const std::vector<std::string>& specs, const table::Limits& limits) {
    RuleSet::Tables out;
    for (const std::string& s : specs) {
        if (trim(s).empty()) continue;
        out.push_back(table::open_table(s, limits));
    }
    return out;
}

Scanner::Scanner(std::shared_ptr<const RuleSet> rules) : rules_(std::move(rules)) {
    if (rules_->time_limit.count() > 0) {
        deadline_ = std::chrono::steady_clock::now() + rules_->time_limit;
        has_deadline_ = true;
    }
}

// Where an input came from, so that an action can be turned into a header or body edit.
struct Scanner::Origin {
    bool primary = false;
    bool message_level = false;  // attachment and blocklist hits: PREPEND adds a header at the top
    std::size_t position = 0;  // primary header position
    std::size_t first_line = 0, nlines = 1;
    long chunk = -1;
};

void Scanner::header(std::string_view logical) {
    if (primary_names_.size() >= max_primary_headers) {
        if (primary_names_.size() == max_primary_headers) {
            out_.problems.push_back("more than " + std::to_string(max_primary_headers) + " headers; the rest is not inspected");
            primary_names_.emplace_back();
        }
        return;
    }
    const std::string_view name = header_name(logical);
    const std::size_t position = primary_names_.size();
    primary_names_.emplace_back(name);
    if (logical.size() > rules_->header_size_limit) logical = logical.substr(0, rules_->header_size_limit);
    note_header(name, logical);
    if (!rules_->blocklist.empty()) {
        const std::size_t colon = logical.find(':');
        const std::string_view value = colon == std::string_view::npos ? std::string_view() : logical.substr(colon + 1);
        if (!have_subject_ && iequal(name, "Subject")) subject_ = std::string(value), have_subject_ = true;
        else if (!have_from_ && iequal(name, "From")) from_ = std::string(value), have_from_ = true;
        else if (!have_message_id_ && iequal(name, "Message-ID")) message_id_ = std::string(value), have_message_id_ = true;
    }
    Origin o;
    o.primary = true;
    o.position = position;
    check(is_mime_header(name) ? InputClass::mime_header : InputClass::header, logical, o);
}

void Scanner::envelope(std::string_view client_ip, std::string_view mail_from) {
    client_ip_ = std::string(client_ip.substr(0, 256));
    mail_from_ = std::string(mail_from.substr(0, 2048));
}

void Scanner::end_of_headers() {
    if (!primary_done_) {
        primary_done_ = true;
        check_blocklist();
    }
    end_block();
}

void Scanner::check_blocklist() {
    if (rules_->blocklist.empty()) return;
    Origin o;
    o.message_level = true;
    auto key = [&](BlockBy by, const std::optional<std::string>& v) {
        if (v && !done()) check(InputClass::blocklist, blocklist_key(by, *v), o);
    };
    key(BlockBy::client_ip, client_ip_value(client_ip_));
    key(BlockBy::sender, sender_value(mail_from_));
    if (have_from_) key(BlockBy::from_domain, from_domain_value(from_));
    if (have_message_id_) key(BlockBy::message_id_domain, message_id_domain_value(message_id_));
    if (have_subject_) key(BlockBy::subject, subject_value(subject_));
}

void Scanner::note_content_type(std::string_view logical) {
    const std::size_t colon = logical.find(':');
    if (colon == std::string_view::npos) return;
    parse_content_type(logical.substr(colon + 1), block_.type, block_.boundary, block_.charset);
}

void Scanner::note_header(std::string_view name, std::string_view logical) {
    if (iequal(name, "Content-Type")) {
        note_content_type(logical);
        if (rules_->attachments && block_.filename.empty()) {
            const std::size_t colon = logical.find(':');
            if (colon != std::string_view::npos) block_.filename = mime_param(logical.substr(colon + 1), "name");
        }
    } else if (iequal(name, "Content-Disposition")) {
        const std::size_t colon = logical.find(':');
        if (rules_->attachments && colon != std::string_view::npos) {
            std::string f = mime_param(logical.substr(colon + 1), "filename");
            if (!f.empty()) block_.filename = std::move(f);
        }
    } else if (iequal(name, "Content-Transfer-Encoding")) {
        const std::size_t colon = logical.find(':');
        if (colon != std::string_view::npos) block_.encoding = lower(trim(logical.substr(colon + 1)));
    }
}

void Scanner::end_block() {
    body_offset_ = 0;
    flush_decoded();
    decode_ = Decode::none;
    b64_bits_ = 0;
    b64_count_ = 0;
    // Only text is decoded for decoded-body-checks: a part without Content-Type is text/plain (RFC 2045 §5.2).
    if (!rules_->decoded_body.empty() && (block_.type.empty() || block_.type.rfind("text/", 0) == 0)) {
        if (block_.encoding == "base64") decode_ = Decode::base64;
        else if (block_.encoding == "quoted-printable") decode_ = Decode::qp;
        charset_ = block_.charset;
    }
    const std::size_t depth = stack_.size();
    const bool multipart = block_.type.rfind("multipart/", 0) == 0 && !block_.boundary.empty() && depth < rules_->mime_nesting_limit;
    const bool message = (block_.type == "message/rfc822" || block_.type == "message/global") && depth < rules_->mime_nesting_limit;
    if (!multipart && !message) start_attachment();
    if (multipart) {
        stack_.push_back(block_.boundary);
        state_ = State::body;
    } else if (message) {
        stack_.emplace_back();  // a nested message ends with the enclosing part
        state_ = State::nested_header;
        ++part_;
    } else {
        state_ = State::body;
    }
    block_ = {};
}

void Scanner::body(std::string_view chunk) {
    const std::size_t limit = std::max<std::size_t>(rules_->line_length_limit, 1);
    for (char c : chunk) {
        if (c == '\n') {
            if (!pending_.empty() && pending_.back() == '\r') pending_.pop_back();
            line(pending_, true);
            pending_.clear();
            ++line_no_;
            chunk_no_ = 0;
            continue;
        }
        pending_.push_back(c);
        // One byte more than a piece is kept so that a CR just before LF is never cut off.
        if (pending_.size() > limit) {
            line(std::string_view(pending_).substr(0, limit), false);
            pending_.erase(0, limit);
            ++chunk_no_;
        }
    }
}

const Outcome& Scanner::finish() {
    if (!finished_) {
        finished_ = true;
        if (!pending_.empty()) {
            if (pending_.back() == '\r') pending_.pop_back();
            line(pending_, true);
            pending_.clear();
        }
        if (state_ != State::body) flush_part_header();
        flush_decoded();
        flush_attachment();
    }
    return out_;
}

void Scanner::line(std::string_view text, bool complete) {
    if (state_ == State::body) {
        body_line(text, complete);
        return;
    }
    if (header_buf_.size() < rules_->header_size_limit)
        header_buf_.append(text.substr(0, rules_->header_size_limit - header_buf_.size()));
    if (!complete) return;
    std::string l = std::move(header_buf_);
    header_buf_.clear();
    header_line(l);
}

void Scanner::header_line(std::string_view text) {
    if (text.empty()) {
        flush_part_header();
        end_block();
        return;
    }
    if (is_ws(text.front()) && !part_header_.empty()) {
        if (part_header_.size() < rules_->header_size_limit) {
            part_header_.push_back('\n');
            part_header_.append(text.substr(0, rules_->header_size_limit - std::min(part_header_.size(), rules_->header_size_limit)));
        }
        ++part_header_lines_;
        return;
    }
    flush_part_header();
    if (!header_name(text).empty()) {
        part_header_ = std::string(text);
        part_header_line_ = line_no_;
        part_header_lines_ = 1;
        return;
    }
    // Not a header: the header block ends here and this line is body (mime_state.c does the same).
    end_block();
    body_line(text, true);
}

void Scanner::flush_part_header() {
    if (part_header_.empty()) return;
    const std::string_view name = header_name(part_header_);
    InputClass c = InputClass::mime_header;
    if (state_ == State::nested_header && !is_mime_header(name)) c = InputClass::nested_header;
    note_header(name, part_header_);
    Origin o;
    o.first_line = part_header_line_;
    o.nlines = part_header_lines_;
    const std::string h = std::move(part_header_);
    part_header_.clear();
    check(c, h, o);
}

void Scanner::body_line(std::string_view text, bool complete) {
    const bool whole = complete && chunk_no_ == 0;
    bool boundary = false, closing = false;
    std::size_t level = 0;
    if (chunk_no_ == 0 && text.size() > 2 && text[0] == '-' && text[1] == '-' && !stack_.empty()) {
        for (std::size_t k = stack_.size(); k-- > 0;) {
            const std::string& b = stack_[k];
            if (b.empty() || text.size() < 2 + b.size() || text.compare(2, b.size(), b) != 0) continue;
            boundary = true;
            level = k;
            closing = text.size() >= 4 + b.size() && text.compare(2 + b.size(), 2, "--") == 0;
            break;
        }
    }
    if (rules_->body_size_limit == 0 || body_offset_ < rules_->body_size_limit) {
        Origin o;
        o.first_line = line_no_;
        o.chunk = whole ? -1 : chunk_no_;
        check(InputClass::body, text, o);
        if (decode_ != Decode::none && !boundary) decode_line(text, complete);
    }
    if (att_.active && !boundary) attachment_bytes(text, complete);
    body_offset_ += text.size() + (complete ? 1 : 0);
    if (boundary) {
        flush_attachment();
        flush_decoded();
        decode_ = Decode::none;
        if (closing) {
            stack_.resize(level);
        } else {
            stack_.resize(level + 1);
            state_ = State::part_header;
            block_ = {};
            ++part_;
        }
    }
}

namespace {

int b64_value(char c) noexcept {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// RFC 2045 §6.8 base64, one line of a part: characters outside the alphabet are ignored, '=' ends the
// data. Partial quanta carry over to the next line in `bits`/`count`; every decoded byte goes to `put`.
template <class Put>
void decode_base64_line(std::string_view text, std::uint32_t& bits, int& count, Put&& put) {
    for (char c : text) {
        const int v = b64_value(c);
        if (v < 0) continue;
        bits = (bits << 6) | static_cast<std::uint32_t>(v);
        if (++count == 4) {
            put(static_cast<char>((bits >> 16) & 0xFF));
            put(static_cast<char>((bits >> 8) & 0xFF));
            put(static_cast<char>(bits & 0xFF));
            bits = 0;
            count = 0;
        }
    }
    if (std::find(text.begin(), text.end(), '=') != text.end()) {
        if (count == 2) put(static_cast<char>((bits >> 4) & 0xFF));
        if (count == 3) {
            put(static_cast<char>((bits >> 10) & 0xFF));
            put(static_cast<char>((bits >> 2) & 0xFF));
        }
        bits = 0;
        count = 0;
    }
}

// RFC 2045 §6.7 quoted-printable, one line of a part: "=XX" is a byte, a malformed "=" stays as it is,
// trailing white space of a complete line is dropped. Returns true when the line ends in a soft break
// ("=" at its end), so the caller adds no line break after it.
template <class Put>
bool decode_qp_line(std::string_view t, bool complete, Put&& put) {
    if (complete)
        while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    for (std::size_t i = 0; i < t.size(); ++i) {
        if (t[i] != '=') {
            put(t[i]);
            continue;
        }
        if (i + 1 == t.size()) return true;
        const int hi = i + 2 < t.size() ? hex_value(t[i + 1]) : -1;
        const int lo = i + 2 < t.size() ? hex_value(t[i + 2]) : -1;
        if (hi >= 0 && lo >= 0) {
            put(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else {
            put('=');
        }
    }
    return false;
}

}  // namespace

void Scanner::decode_line(std::string_view text, bool complete) {
    auto put = [this](char c) { decoded_byte(c); };
    if (decode_ == Decode::base64) {
        decode_base64_line(text, b64_bits_, b64_count_, put);
        return;
    }
    const bool soft = decode_qp_line(text, complete, put);
    if (complete && !soft) decoded_byte('\n');
}

void Scanner::decoded_byte(char c) {
    if (c == '\n') {
        if (!decoded_.empty() && decoded_.back() == '\r') decoded_.pop_back();
        flush_decoded();
        decoded_chunk_ = 0;
        return;
    }
    decoded_.push_back(c);
    if (decoded_.size() >= std::max<std::size_t>(rules_->line_length_limit, 1)) {
        flush_decoded();
        ++decoded_chunk_;
    }
}

namespace {

/// Converts text in charset to UTF-8 (RFC 2046 §4.1.2); invalid sequences become U+FFFD. Returns the
/// text unchanged for US-ASCII, UTF-8, an empty or an unknown charset.
std::string to_utf8(std::string_view text, const std::string& charset) {
    if (charset.empty() || charset == "us-ascii" || charset == "utf-8" || charset == "utf8") return std::string(text);
    iconv_t cd = ::iconv_open("UTF-8", charset.c_str());
    if (cd == reinterpret_cast<iconv_t>(-1)) return std::string(text);
    Iconv owned(cd);
    std::string out;
    out.reserve(text.size() * 2 + 8);
    char* in = const_cast<char*>(text.data());
    std::size_t in_left = text.size();
    char buf[1024];
    while (in_left > 0) {
        char* o = buf;
        std::size_t o_left = sizeof buf;
        const std::size_t rc = ::iconv(owned.get(), &in, &in_left, &o, &o_left);
        out.append(buf, sizeof buf - o_left);
        if (rc == static_cast<std::size_t>(-1)) {
            if (errno == E2BIG) continue;
            out.append("\xEF\xBF\xBD");  // EILSEQ / EINVAL: skip one byte
            ++in;
            --in_left;
        }
    }
    return out;
}

}  // namespace

void Scanner::flush_decoded() {
    if (decoded_.empty()) return;
    Origin o;
    o.first_line = line_no_;
    o.chunk = decoded_chunk_;
    const std::string line = to_utf8(decoded_, charset_);
    decoded_.clear();
    check(InputClass::decoded_body, line, o);
}

void Scanner::start_attachment() {
    flush_attachment();
    if (!rules_->attachments) return;
    att_ = Attachment{};
    att_.active = true;
    att_.part = part_;
    att_.info.name = block_.filename.substr(0, 1024);
    att_.info.declared_type = block_.type;
    if (block_.encoding == "base64") att_.decode = Decode::base64;
    else if (block_.encoding == "quoted-printable") att_.decode = Decode::qp;
    const bool text = block_.type.empty() || block_.type.rfind("text/", 0) == 0;
    att_.limit = att_.info.name.empty() && text ? std::min<std::size_t>(rules_->attachment_size_limit, 512)
                                               : rules_->attachment_size_limit;
}

void Scanner::attachment_bytes(std::string_view text, bool complete) {
    const std::size_t limit = att_.limit;
    auto put = [&](char c) {
        ++att_.info.size;
        if (att_.data.size() < limit) att_.data.push_back(c);
        else att_.truncated = true;
    };
    if (att_.decode == Decode::base64) {
        decode_base64_line(text, att_.bits, att_.count, put);
        return;
    }
    if (att_.decode == Decode::qp) {
        if (!decode_qp_line(text, complete, put) && complete) put('\r'), put('\n');
        return;
    }
    for (char c : text) put(c);
    if (complete) put('\r'), put('\n');
}

void Scanner::flush_attachment() {
    if (!att_.active) return;
    att_.active = false;
    if (done() || out_.time_limit_reached) return;
    // Nameless text parts are message text, not files; they count only with executable magic.
    const bool text = att_.info.declared_type.empty() || att_.info.declared_type.rfind("text/", 0) == 0;
    const std::vector<std::string> head = sniff_types(std::string_view(att_.data).substr(0, 512));
    const bool executable = std::any_of(head.begin(), head.end(), [](const std::string& t) {
        return t == "exe" || t == "elf" || t == "macho";
    });
    if (att_.info.name.empty() && text && !executable) {
        att_.data.clear();
        return;
    }
    const std::vector<FileInfo> files =
        inspect_attachment(att_.info, att_.data, !att_.truncated, rules_->archive_limits);
    std::string().swap(att_.data);
    if (files.front().problems != 0 && out_.problems.size() < max_problems)
        out_.problems.push_back("attachment " + (files.front().name.empty() ? std::string("(no name)") : files.front().name) +
                                ": " + files.front().why);
    Origin o;
    o.message_level = true;
    for (const FileInfo& f : files) {
        if (done()) break;
        if (has_deadline_ && std::chrono::steady_clock::now() > deadline_) {
            out_.time_limit_reached = true;
            out_.problems.push_back("match time limit reached; the rest of the message is not inspected");
            break;
        }
        const AttachmentMatch m = rules_->attachments->match(f);
        if (!m.matched) continue;
        Hit hit;
        hit.input_class = InputClass::attachment;
        hit.table = "attachment-rules";
        hit.where = rules_->attachments->source() + ":" + std::to_string(m.line);
        hit.action = m.action;
        hit.input = describe(f).substr(0, 400);
        hit.part = att_.part;
        apply(hit, o);
        out_.hits.push_back(std::move(hit));
    }
}

void Scanner::check(InputClass c, std::string_view input, const Origin& origin) {
    if (done() || out_.time_limit_reached) return;
    if (has_deadline_ && std::chrono::steady_clock::now() > deadline_) {
        out_.time_limit_reached = true;
        out_.problems.push_back("match time limit reached; the rest of the message is not inspected");
        return;
    }
    for (const auto& t : rules_->tables(c)) {
        table::RuleLookup r = t->lookup_rule(input);
        if (r.lookup.status == table::Lookup::Status::tempfail) {
            out_.final = Outcome::Final::tempfail;
            out_.problems.push_back(t->name() + ": " + r.lookup.value);
            return;
        }
        if (!r.lookup.found()) {
            if (!r.lookup.value.empty() && out_.problems.size() < max_problems) out_.problems.push_back(r.lookup.value);
            continue;
        }
        Hit hit;
        hit.input_class = c;
        hit.table = t->name();
        const std::string file = t->source_file();
        hit.where = (file.empty() ? t->name() : file) + ":" + std::to_string(r.line);
        hit.action = parse_action(r.lookup.value);
        hit.input = std::string(input.substr(0, max_logged_input));
        hit.part = part_;
        apply(hit, origin);
        out_.hits.push_back(std::move(hit));
        return;
    }
}

void Scanner::apply(const Hit& hit, const Origin& o) {
    const Action& a = hit.action;
    const bool is_header = hit.input_class != InputClass::body && hit.input_class != InputClass::decoded_body;
    if (hit.input_class == InputClass::decoded_body &&
        (a.kind == ActionKind::prepend || a.kind == ActionKind::replace || a.kind == ActionKind::ignore ||
         a.kind == ActionKind::strip)) {
        if (out_.problems.size() < max_problems)
            out_.problems.push_back(hit.where + ": " + action_name(a.kind) +
                                    " cannot change decoded text -- ignored");
        return;
    }
    if (o.message_level && (a.kind == ActionKind::replace || a.kind == ActionKind::ignore || a.kind == ActionKind::strip)) {
        if (out_.problems.size() < max_problems)
            out_.problems.push_back(hit.where + ": " + action_name(a.kind) + " needs a header or body line -- ignored");
        return;
    }
    auto edit = [&](ActionKind kind, const std::string& text) {
        if (o.message_level) {
            HeaderEdit e;  // a header above the first primary header
            e.name = primary_names_.empty() ? std::string() : primary_names_.front();
            e.kind = kind;
            e.text = text;
            out_.header_edits.push_back(std::move(e));
        } else if (o.primary) {
            HeaderEdit e;
            e.position = o.position;
            e.name = primary_names_[o.position];
            e.occurrence = static_cast<std::size_t>(std::count_if(
                primary_names_.begin(), primary_names_.begin() + static_cast<long>(o.position) + 1,
                [&](const std::string& n) { return iequal(n, e.name); }));
            e.kind = kind;
            e.text = text;
            out_.header_edits.push_back(std::move(e));
        } else {
            out_.body_edits.push_back({o.first_line, o.nlines, o.chunk, kind, text});
        }
    };
    switch (a.kind) {
    case ActionKind::reject:
        out_.final = Outcome::Final::reject;
        out_.reply = reject_reply(a.text);
        break;
    case ActionKind::discard: out_.final = Outcome::Final::discard; break;
    case ActionKind::pass: out_.final = Outcome::Final::pass; break;
    case ActionKind::hold:
        if (!out_.hold) out_.hold = a.text;
        break;
    case ActionKind::redirect:
        // As cleanup_act(): REDIRECT ends header/body inspection, like REJECT and DISCARD.
        out_.redirect = a.text;
        out_.stopped = true;
        break;
    case ActionKind::bcc:
        if (std::find(out_.bcc.begin(), out_.bcc.end(), a.text) == out_.bcc.end()) out_.bcc.push_back(a.text);
        break;
    case ActionKind::prepend:
    case ActionKind::replace:
        if (is_header && !is_header_text(a.text)) {
            out_.problems.push_back(hit.where + ": bad " + action_name(a.kind) + " header text \"" +
                                    a.text.substr(0, max_logged_input) + "\" -- ignored");
            break;
        }
        edit(a.kind, a.text);
        break;
    case ActionKind::ignore:
    case ActionKind::strip: edit(a.kind, {}); break;
    case ActionKind::filter:
        if (out_.problems.size() < max_problems)
            out_.problems.push_back(hit.where + ": FILTER cannot be done by a milter -- ignored");
        break;
    case ActionKind::unknown:
    case ActionKind::invalid:
        if (out_.problems.size() < max_problems)
            out_.problems.push_back(hit.where + ": " + a.why + " \"" + a.text.substr(0, max_logged_input) + "\" -- ignored");
        break;
    case ActionKind::info:
    case ActionKind::warn:
    case ActionKind::dunno: break;
    }
}

std::string rewrite_body(std::string_view raw, const std::vector<BodyEdit>& edits, std::size_t line_length_limit) {
    std::multimap<std::size_t, const BodyEdit*> by_line;
    for (const BodyEdit& e : edits) by_line.emplace(e.line, &e);
    const std::size_t limit = std::max<std::size_t>(line_length_limit, 1);
    std::string out;
    out.reserve(raw.size() + 64);
    std::size_t pos = 0, n = 0, skip_until = 0;
    while (pos < raw.size()) {
        std::size_t nl = raw.find('\n', pos);
        std::string_view l = raw.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? raw.size() : nl + 1;
        if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
        const std::size_t this_line = n++;
        if (this_line < skip_until) continue;
        auto range = by_line.equal_range(this_line);
        std::vector<const BodyEdit*> whole;
        std::map<long, const BodyEdit*> pieces;
        for (auto it = range.first; it != range.second; ++it) {
            if (it->second->chunk < 0) whole.push_back(it->second);
            else pieces.emplace(it->second->chunk, it->second);
        }
        bool dropped = false;
        for (const BodyEdit* e : whole) {
            if (e->kind == ActionKind::prepend) {
                out.append(e->text).append("\r\n");
            } else {
                if (e->kind == ActionKind::replace) out.append(e->text).append("\r\n");
                dropped = true;
                skip_until = this_line + std::max<std::size_t>(e->nlines, 1);
            }
        }
        if (dropped) continue;
        if (pieces.empty()) {
            out.append(l).append("\r\n");
            continue;
        }
        std::string cur;
        bool any = false;
        for (std::size_t off = 0, k = 0; off < l.size(); off += limit, ++k) {
            const std::string_view piece = l.substr(off, limit);
            auto it = pieces.find(static_cast<long>(k));
            if (it == pieces.end()) {
                cur.append(piece);
                any = true;
                continue;
            }
            const BodyEdit* e = it->second;
            if (e->kind == ActionKind::prepend) {
                if (!cur.empty()) out.append(cur).append("\r\n");
                cur.clear();
                out.append(e->text).append("\r\n");
                cur.append(piece);
                any = true;
            } else if (e->kind == ActionKind::replace) {
                cur.append(e->text);
                any = true;
            }
        }
        if (any) out.append(cur).append("\r\n");
    }
    return out;
}

}  // namespace mailmoat::checks
