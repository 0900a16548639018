// common/dkim/canonicalizer.cpp - RFC 6376 §3.4 canonicalization algorithms.
#include "common/dkim/canonicalizer.hpp"

#include <cstring>

namespace mailmoat::dkim {
namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
constexpr std::size_t flush_at = 16 * 1024;

}  // namespace

const char* canon_name(Canon c) noexcept { return c == Canon::simple ? "simple" : "relaxed"; }

void canonicalize_header_into(std::string& out, Canon c, std::string_view name, std::string_view value) {
    if (c == Canon::simple) {
        // §3.4.1: no change at all, except that a bare-LF line break becomes CRLF (see header).
        out += name;
        out += ':';
        for (std::size_t i = 0; i < value.size(); ++i) {
            if (value[i] == '\n' && (i == 0 || value[i - 1] != '\r')) out += '\r';
            out += value[i];
        }
        out += "\r\n";
        return;
    }
    // §3.4.2: lower-case name, unfold, WSP runs -> one SP, no WSP at either end of the value or
    // around the colon.
    std::size_t n_end = name.size();
    while (n_end > 0 && is_wsp(name[n_end - 1])) --n_end;
    for (std::size_t i = 0; i < n_end; ++i) out += lower(name[i]);
    out += ':';
    bool pending_space = false;
    bool started = false;
    for (const char ch : value) {
        if (ch == '\r' || ch == '\n') continue;  // unfolding removes the line breaks only
        if (is_wsp(ch)) {
            pending_space = started;
            continue;
        }
        if (pending_space) out += ' ';
        pending_space = false;
        started = true;
        out += ch;
    }
    out += "\r\n";
}

std::string canonicalize_header(Canon c, std::string_view name, std::string_view value) {
    std::string out;
    out.reserve(name.size() + value.size() + 3);
    canonicalize_header_into(out, c, name, value);
    return out;
}

BodyHasher::BodyHasher(Canon canon, crypto::HashAlgorithm hash, std::optional<std::uint64_t> limit)
    : canon_(canon), digest_(hash), limit_(limit) {
    buf_.reserve(flush_at + 64);
}

void BodyHasher::flush() {
    if (buf_.empty()) return;
    digest_.update(buf_);
    buf_.clear();
}

void BodyHasher::emit(std::string_view bytes) {
    // The limit applies to canonical octets; produced_ keeps counting past it.
    if (limit_) {
        const std::uint64_t room = produced_ >= *limit_ ? 0 : *limit_ - produced_;
        buf_.append(bytes.data(), static_cast<std::size_t>(std::min<std::uint64_t>(room, bytes.size())));
    } else {
        buf_.append(bytes);
    }
    produced_ += bytes.size();
    if (buf_.size() >= flush_at) flush();
}

void BodyHasher::emit_char(char c) { emit(std::string_view(&c, 1)); }

void BodyHasher::data_char(char c) {
    if (!line_has_data_) {
        // Non-empty content: the held empty lines were not trailing after all.
        for (; held_empty_lines_ > 0; --held_empty_lines_) emit("\r\n");
        line_has_data_ = true;
    }
    if (wsp_pending_) {
        emit_char(' ');
        wsp_pending_ = false;
    }
    emit_char(c);
}

void BodyHasher::end_of_line() {
    wsp_pending_ = false;  // relaxed: WSP at end of line is ignored
    if (line_has_data_) {
        emit("\r\n");
        line_has_data_ = false;
    } else {
        ++held_empty_lines_;
    }
}

void BodyHasher::update(std::string_view chunk) {
    const bool relaxed = canon_ == Canon::relaxed;
    std::size_t i = 0;
    if (cr_pending_ && !chunk.empty()) {
        cr_pending_ = false;
        if (chunk[0] == '\n') {
            end_of_line();
            i = 1;
        } else {
            data_char('\r');  // a lone CR is ordinary data
        }
    }
    for (; i < chunk.size(); ++i) {
        const char c = chunk[i];
        if (c == '\r') {
            if (i + 1 == chunk.size()) {
                cr_pending_ = true;
                break;
            }
            if (chunk[i + 1] == '\n') {
                end_of_line();
                ++i;
                continue;
            }
            data_char('\r');
            continue;
        }
        if (relaxed && is_wsp(c)) {
            wsp_pending_ = true;
            continue;
        }
        // Fast path: a run of bytes that canonicalization leaves as they are, on a line that already
        // has data. In relaxed mode a single SP followed by an ordinary byte is unchanged too.
        if (line_has_data_ && !wsp_pending_) {
            std::size_t j = i;
            const std::size_t n = chunk.size();
            if (!relaxed) {
                const void* cr = std::memchr(chunk.data() + i, '\r', n - i);
                j = cr == nullptr ? n : static_cast<std::size_t>(static_cast<const char*>(cr) - chunk.data());
            }
            while (relaxed && j < n) {
                const char cj = chunk[j];
                if (cj == '\r') break;
                if (relaxed) {
                    if (cj == '\t') break;
                    if (cj == ' ' && (j + 1 >= n || is_wsp(chunk[j + 1]) || chunk[j + 1] == '\r')) break;
                }
                ++j;
            }
            if (j > i) {
                emit(chunk.substr(i, j - i));
                i = j - 1;
                continue;
            }
        }
        data_char(c);
    }
}

std::string BodyHasher::finish() {
    if (!finished_) {
        finished_ = true;
        if (cr_pending_) {
            cr_pending_ = false;
            data_char('\r');
        }
        wsp_pending_ = false;  // trailing WSP of an unterminated last line
        if (line_has_data_) {
            emit("\r\n");  // non-empty body without final CRLF
            line_has_data_ = false;
        }
        held_empty_lines_ = 0;  // trailing empty lines are dropped (§3.4.3, §3.4.4)
        if (produced_ == 0 && canon_ == Canon::simple) emit("\r\n");  // §3.4.3: empty body is one CRLF
    }
    flush();
    return digest_.finish();
}

}  // namespace mailmoat::dkim
