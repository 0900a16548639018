// common/checks/blocklist.cpp - blocklist keys, PCRE quoting and the managed table file format.
#include "common/checks/blocklist.hpp"

#include <algorithm>
#include <cstdio>

#include "common/mail/address.hpp"
#include "common/mail/header.hpp"
#include "common/util/ip_address.hpp"

namespace mailmoat::checks {
namespace {

constexpr std::string_view header_marker = "# mailmoat-checks blocklist";

char lower_char(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = lower_char(c);
    return out;
}

bool iequal(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower_char(a[i]) != lower_char(b[i])) return false;
    return true;
}

bool is_ws(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
    return s;
}

/// RFC 5322 §2.2.3 unfolding: CRLF/LF before whitespace removed.
std::string unfold(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v)
        if (c != '\r' && c != '\n') out.push_back(c);
    return out;
}

const char hex[] = "0123456789ABCDEF";

}  // namespace

const char* block_by_name(BlockBy by) noexcept {
    switch (by) {
    case BlockBy::sender: return "sender";
    case BlockBy::from_domain: return "from-domain";
    case BlockBy::subject: return "subject";
    case BlockBy::client_ip: return "client-ip";
    case BlockBy::message_id_domain: return "message-id-domain";
    }
    return "subject";
}

std::optional<BlockBy> parse_block_by(std::string_view name) noexcept {
    for (BlockBy b : all_block_by)
        if (name == block_by_name(b)) return b;
    return std::nullopt;
}

std::string subject_value(std::string_view raw_value) {
    std::string s = mail::decode_encoded_words(trim(unfold(raw_value)));
    for (char& c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    return std::string(trim(s));
}

std::optional<std::string> from_domain_value(std::string_view raw_value) {
    const mail::AddressList l = mail::parse_address_list(unfold(raw_value));
    for (const mail::Mailbox& m : l.mailboxes)
        if (!m.domain.empty()) return lower(m.domain);
    return std::nullopt;
}

std::optional<std::string> message_id_domain_value(std::string_view raw_value) {
    std::string_view v = trim(raw_value);
    const std::size_t at = v.rfind('@');
    if (at == std::string_view::npos) return std::nullopt;
    std::string_view d = v.substr(at + 1);
    const std::size_t gt = d.find('>');
    if (gt != std::string_view::npos) d = d.substr(0, gt);
    d = trim(d);
    if (d.empty() || d.size() > 255) return std::nullopt;
    for (char c : d)
        if (static_cast<unsigned char>(c) <= ' ') return std::nullopt;
    return lower(d);
}

std::optional<std::string> sender_value(std::string_view mail_from) {
    std::string_view a = trim(mail_from);
    if (a.size() > 1024) return std::nullopt;
    if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
    // A source route "@relay:user@example.com" (RFC 5321 §4.1.2) is dropped.
    if (!a.empty() && a.front() == '@') {
        const std::size_t colon = a.find(':');
        if (colon == std::string_view::npos) return std::nullopt;
        a = a.substr(colon + 1);
    }
    if (a.empty()) return std::nullopt;
    for (char c : a)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return std::nullopt;
    return std::string(a);
}

std::optional<std::string> client_ip_value(std::string_view ip) {
    std::string_view t = trim(ip);
    if (t.size() >= 2 && t.front() == '[' && t.back() == ']') t = t.substr(1, t.size() - 2);
    if (t.size() > 5 && iequal(t.substr(0, 5), "IPv6:")) t.remove_prefix(5);
    const auto a = util::IpAddress::parse(t);
    if (!a) return std::nullopt;
    return a->to_string();
}

std::string blocklist_key(BlockBy by, std::string_view value) {
    std::string k = block_by_name(by);
    k += '=';
    k += value;
    return k;
}

std::string pcre_quote(std::string_view text) {
    std::string out;
    out.reserve(text.size() * 2);
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else if (c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            out.push_back(ch);
        } else {
            out.push_back('\\');
            out.push_back(ch);
        }
    }
    return out;
}

std::string blocklist_rule(BlockBy by, std::string_view value, std::string_view action) {
    return "/^" + pcre_quote(blocklist_key(by, value)) + "$/ " + std::string(action);
}

std::optional<std::string> value_from_message(BlockBy by, std::string_view message, std::string& why) {
    const mail::HeaderBlock h = mail::parse_header_block(message);
    auto first = [&](std::string_view name) -> const mail::HeaderField* {
        const auto idx = h.find(name);
        return idx.empty() ? nullptr : &h.fields[idx.front()];
    };
    switch (by) {
    case BlockBy::subject: {
        const auto* f = first("Subject");
        if (!f) break;
        std::string v = subject_value(f->raw_value);
        if (v.empty()) {
            why = "the Subject is empty";
            return std::nullopt;
        }
        return v;
    }
    case BlockBy::from_domain: {
        const auto* f = first("From");
        if (!f) break;
        auto v = from_domain_value(f->raw_value);
        if (!v) why = "the From header has no address with a domain";
        return v;
    }
    case BlockBy::message_id_domain: {
        const auto* f = first("Message-ID");
        if (!f) break;
        auto v = message_id_domain_value(f->raw_value);
        if (!v) why = "the Message-ID has no domain";
        return v;
    }
    case BlockBy::sender: {
        const auto* f = first("Return-Path");
        if (!f) {
            why = "the message has no Return-Path header (the envelope sender); give it with --value";
            return std::nullopt;
        }
        auto v = sender_value(f->unfolded());
        if (!v) why = "the Return-Path is the null sender or not an address";
        return v;
    }
    case BlockBy::client_ip: {
        for (std::size_t i : h.find("Received")) {
            const std::string v = h.fields[i].unfolded();
            // "from helo (name [address])" — only the from clause, before " by ".
            std::string_view from = v;
            const std::size_t by_pos = from.find(" by ");
            if (by_pos != std::string_view::npos) from = from.substr(0, by_pos);
            if (from.rfind("from ", 0) != 0) continue;
            const std::size_t open = from.find('[');
            const std::size_t close = open == std::string_view::npos ? open : from.find(']', open);
            if (close == std::string_view::npos) continue;
            if (auto ip = client_ip_value(from.substr(open, close - open + 1))) return ip;
        }
        why = "no Received header names a client address; give it with --value";
        return std::nullopt;
    }
    }
    if (why.empty()) why = std::string("the message has no ") +
                           (by == BlockBy::subject ? "Subject" : by == BlockBy::from_domain ? "From" : "Message-ID") +
                           " header";
    return std::nullopt;
}

// --- the managed file ---------------------------------------------------------------------------------

std::string quote_value(std::string_view v) {
    std::string out = "\"";
    for (char ch : v) {
        const auto c = static_cast<unsigned char>(ch);
        if (ch == '"' || ch == '\\') {
            out.push_back('\\');
            out.push_back(ch);
        } else if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out.push_back(ch);
        }
    }
    out.push_back('"');
    return out;
}

std::optional<std::string> unquote_value(std::string_view q, std::size_t* consumed) {
    if (q.empty() || q.front() != '"') return std::nullopt;
    std::string out;
    for (std::size_t i = 1; i < q.size(); ++i) {
        const char c = q[i];
        if (c == '"') {
            if (consumed) *consumed = i + 1;
            return out;
        }
        if (c != '\\') {
            out.push_back(c);
            continue;
        }
        if (++i >= q.size()) return std::nullopt;
        if (q[i] == 'x') {
            if (i + 2 >= q.size()) return std::nullopt;
            auto hv = [](char h) { return h >= '0' && h <= '9' ? h - '0' : h >= 'A' && h <= 'F' ? h - 'A' + 10 : h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1; };
            const int hi = hv(q[i + 1]), lo = hv(q[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else {
            out.push_back(q[i]);
        }
    }
    return std::nullopt;
}

namespace {

std::vector<std::string_view> split_lines(std::string_view text) {
    std::vector<std::string_view> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        out.push_back(text.substr(pos, nl - pos));
        pos = nl + 1;
    }
    return out;
}

/// "# [7] 2026-12-01T04:40:00Z by=subject value="..." reason="..."" → entry (without rule line).
std::optional<BlockEntry> parse_comment(std::string_view l) {
    if (l.rfind("# [", 0) != 0) return std::nullopt;
    std::size_t i = 3;
    std::size_t id = 0;
    const std::size_t start = i;
    while (i < l.size() && l[i] >= '0' && l[i] <= '9' && i - start < 12) id = id * 10 + static_cast<std::size_t>(l[i++] - '0');
    if (i == start || i >= l.size() || l[i] != ']') return std::nullopt;
    BlockEntry e;
    e.id = id;
    ++i;
    bool have_by = false, have_value = false;
    while (i < l.size()) {
        while (i < l.size() && l[i] == ' ') ++i;
        if (i >= l.size()) break;
        std::size_t eq = l.find('=', i);
        std::size_t sp = l.find(' ', i);
        if (eq == std::string_view::npos || (sp != std::string_view::npos && sp < eq)) {
            // the time stamp (a word without '=')
            const std::size_t end = sp == std::string_view::npos ? l.size() : sp;
            e.added = std::string(l.substr(i, end - i));
            i = end;
            continue;
        }
        const std::string_view key = l.substr(i, eq - i);
        i = eq + 1;
        std::string val;
        if (i < l.size() && l[i] == '"') {
            std::size_t used = 0;
            auto v = unquote_value(l.substr(i), &used);
            if (!v) return std::nullopt;
            val = std::move(*v);
            i += used;
        } else {
            const std::size_t end = l.find(' ', i);
            val = std::string(l.substr(i, (end == std::string_view::npos ? l.size() : end) - i));
            i = end == std::string_view::npos ? l.size() : end;
        }
        if (key == "by") {
            auto b = parse_block_by(val);
            if (!b) return std::nullopt;
            e.by = *b;
            have_by = true;
        } else if (key == "value") {
            e.value = std::move(val);
            have_value = true;
        } else if (key == "reason") {
            e.reason = std::move(val);
        }
    }
    if (!have_by || !have_value) return std::nullopt;
    return e;
}

}  // namespace

ManagedTable parse_managed_table(std::string text) {
    ManagedTable t;
    t.text = std::move(text);
    const auto lines = split_lines(t.text);
    std::optional<BlockEntry> pending;
    for (std::size_t n = 0; n < lines.size(); ++n) {
        std::string_view l = lines[n];
        if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
        if (l.rfind(header_marker, 0) == 0) {
            const std::size_t p = l.find("next-id=");
            if (p != std::string_view::npos) {
                std::size_t v = 0;
                for (std::size_t i = p + 8; i < l.size() && l[i] >= '0' && l[i] <= '9' && i < p + 20; ++i)
                    v = v * 10 + static_cast<std::size_t>(l[i] - '0');
                t.next_id = std::max(t.next_id, v);
            }
            continue;
        }
        if (auto e = parse_comment(l)) {
            pending = std::move(e);
            pending->comment_line = n + 1;
            continue;
        }
        const std::string_view content = trim(l);
        if (content.empty() || content.front() == '#') continue;
        if (is_ws(l.front())) continue;  // a continuation line
        if (pending) {
            pending->rule_line = n + 1;
            t.next_id = std::max(t.next_id, pending->id + 1);
            t.entries.push_back(std::move(*pending));
            pending.reset();
        }
    }
    return t;
}

const BlockEntry* find_entry(const ManagedTable& t, BlockBy by, std::string_view value) {
    for (const BlockEntry& e : t.entries)
        if (e.by == by && iequal(e.value, value)) return &e;
    return nullptr;
}

std::string append_entry(const ManagedTable& t, BlockBy by, std::string_view value, std::string_view action,
                         std::string_view reason, std::string_view added_utc, std::size_t& id) {
    id = t.next_id;
    const std::string head = std::string(header_marker) +
                             ", managed by \"mailmoat checks block\" (hand-written rules are kept); next-id=" +
                             std::to_string(id + 1);
    std::string out;
    const auto lines = split_lines(t.text);
    bool replaced = false;
    for (std::string_view l : lines) {
        if (!replaced && l.rfind(header_marker, 0) == 0) {
            out += head;
            replaced = true;
        } else {
            out += l;
        }
        out += '\n';
    }
    // A file without the marker gets it after its own lines, so that their line numbers stay the same.
    if (!replaced) out += head + "\n";
    out += "# [" + std::to_string(id) + "] " + std::string(added_utc) + " by=" + block_by_name(by) + " value=" +
           quote_value(value);
    if (!reason.empty()) out += " reason=" + quote_value(reason);
    out += '\n';
    out += blocklist_rule(by, value, action);
    out += '\n';
    return out;
}

std::string remove_entries(const ManagedTable& t, const std::vector<std::size_t>& ids) {
    std::vector<bool> drop;
    const auto lines = split_lines(t.text);
    drop.assign(lines.size() + 1, false);
    for (const BlockEntry& e : t.entries) {
        if (std::find(ids.begin(), ids.end(), e.id) == ids.end()) continue;
        drop[e.comment_line - 1] = true;
        drop[e.rule_line - 1] = true;
        // and the rule's continuation lines
        for (std::size_t k = e.rule_line; k < lines.size() && !lines[k].empty() && is_ws(lines[k].front()); ++k) drop[k] = true;
    }
    std::string out;
    for (std::size_t n = 0; n < lines.size(); ++n) {
        if (drop[n]) continue;
        out += lines[n];
        out += '\n';
    }
    return out;
}

}  // namespace mailmoat::checks
