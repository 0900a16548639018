// common/mail/header.cpp - RFC 5322 header block parsing, unfolding and folding.
#include "common/mail/header.hpp"

#include <ctime>

namespace mailmoat::mail {

namespace {

bool is_wsp(char c) noexcept {
    return c == ' ' || c == '\t';
}

char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool valid_name(std::string_view name) noexcept {
    if (name.empty()) return false;
    for (char c : name) {
        auto u = static_cast<unsigned char>(c);
        if (u < 33 || u > 126 || c == ':') return false;
    }
    return true;
}

}  // namespace

std::string HeaderField::unfolded() const {
    std::string out;
    out.reserve(raw_value.size());
    const std::string_view v = raw_value;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '\r' && i + 1 < v.size() && v[i + 1] == '\n') {
            if (i + 2 >= v.size() || is_wsp(v[i + 2])) {
                ++i;
                continue;
            }
        } else if (v[i] == '\n' && (i + 1 >= v.size() || is_wsp(v[i + 1]))) {
            continue;
        }
        out.push_back(v[i]);
    }
    std::size_t b = 0;
    while (b < out.size() && is_wsp(out[b])) ++b;
    std::size_t e = out.size();
    while (e > b && is_wsp(out[e - 1])) --e;
    return out.substr(b, e - b);
}

bool header_name_equal(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

std::vector<std::size_t> HeaderBlock::find(std::string_view name) const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < fields.size(); ++i)
        if (header_name_equal(fields[i].name, name)) out.push_back(i);
    return out;
}

HeaderBlock parse_header_block(std::string_view message, const HeaderLimits& limits) {
    HeaderBlock block;
    std::size_t pos = 0;
    std::size_t line_no = 0;
    bool have_field = false;    // the last field may take continuation lines
    std::string_view prev_eol;  // the line end that preceded the current line
    auto problem = [&](HeaderProblem::Kind k) { block.problems.push_back({k, line_no}); };
    auto stop = [&](HeaderProblem::Kind k) {
        problem(k);
        block.status = HeaderBlock::Status::truncated;
        block.body_offset = pos;
        return block;
    };

    while (pos < message.size()) {
        ++line_no;
        std::size_t nl = message.find('\n', pos);
        std::size_t end = nl == std::string_view::npos ? message.size() : nl;
        std::string_view line = message.substr(pos, end - pos);
        std::string_view eol = nl == std::string_view::npos ? std::string_view{} : message.substr(end, 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
            eol = nl == std::string_view::npos ? message.substr(end - 1, 1) : message.substr(end - 1, 2);
        }
        if (line.size() > limits.hard_line_bytes || end > limits.max_block_bytes) {
            HeaderBlock out = stop(HeaderProblem::Kind::block_too_large);
            return out;
        }
        const std::size_t next = nl == std::string_view::npos ? message.size() : nl + 1;
        if (line.empty()) {
            block.has_separator = true;
            pos = next;
            block.body_offset = pos;
            if (block.status == HeaderBlock::Status::ok && !block.problems.empty())
                block.status = HeaderBlock::Status::malformed;
            return block;
        }
        if (line.size() > limits.max_line_bytes) problem(HeaderProblem::Kind::line_too_long);
        if (line.find('\r') != std::string_view::npos) problem(HeaderProblem::Kind::bare_cr);

        if (is_wsp(line.front())) {
            if (!have_field)
                problem(HeaderProblem::Kind::orphan_continuation);
            else {
                HeaderField& f = block.fields.back();
                f.raw_value.append(prev_eol);
                f.raw_value.append(line);
            }
        } else {
            have_field = false;
            std::size_t colon = line.find(':');
            if (colon == std::string_view::npos) {
                problem(HeaderProblem::Kind::no_colon);
            } else {
                std::string_view name = line.substr(0, colon);
                while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);  // obs: "Name :"
                if (!valid_name(name)) {
                    problem(HeaderProblem::Kind::bad_name);
                } else {
                    if (block.fields.size() >= limits.max_fields) {
                        HeaderBlock out = stop(HeaderProblem::Kind::too_many_fields);
                        return out;
                    }
                    block.fields.push_back({std::string(name), std::string(line.substr(colon + 1)), line_no});
                    have_field = true;
                }
            }
        }
        prev_eol = eol;
        pos = next;
    }
    block.body_offset = message.size();
    if (!block.problems.empty()) block.status = HeaderBlock::Status::malformed;
    return block;
}

std::string fold_header(std::string_view name, std::string_view value, std::size_t width, std::string_view eol) {
    std::string text;
    std::size_t min_pos = 0;
    if (!name.empty()) {
        text.append(name);
        text.append(": ");
        min_pos = text.size();
    }
    text.append(value);
    std::string out;
    out.reserve(text.size() + text.size() / width * eol.size() + 8);
    std::size_t line_start = 0;
    std::size_t last = std::string::npos;  // last break candidate (index of a WSP) on this line
    bool in_quote = false;
    int comment = 0;
    for (std::size_t i = 0; i <= text.size(); ++i) {
        const bool at_end = i == text.size();
        bool candidate = false;
        if (!at_end) {
            char c = text[i];
            if (in_quote) {
                if (c == '\\')
                    ++i;
                else if (c == '"')
                    in_quote = false;
                continue;
            }
            if (comment > 0) {
                if (c == '\\')
                    ++i;
                else if (c == '(')
                    ++comment;
                else if (c == ')')
                    --comment;
                continue;
            }
            if (c == '"')
                in_quote = true;
            else if (c == '(')
                comment = 1;
            candidate = is_wsp(c) && i > min_pos && !is_wsp(text[i - 1]);
        }
        if (candidate || at_end) {
            if (i - line_start > width && last != std::string::npos && last > line_start) {
                out.append(text, line_start, last - line_start);
                out.append(eol);
                line_start = last;
            }
            if (candidate) last = i;
        }
    }
    out.append(text, line_start, std::string::npos);
    return out;
}

std::string rfc5322_date(std::int64_t unix_seconds) {
    const auto tt = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    const auto n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    return std::string(buf, n);
}

}  // namespace mailmoat::mail
