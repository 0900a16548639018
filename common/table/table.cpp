// common/table/table.cpp - Postfix table types (texthash, inline, static, fail, cidr, regexp, pcre) and loader.
#include "common/table/table.hpp"

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "common/table/pcre2_handles.hpp"
#include "common/table/prefilter.hpp"
#include "common/util/ip_address.hpp"

namespace mailmoat::table {

namespace {

bool is_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}
bool is_alnum(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

/// One logical line of a table source and where it started.
struct SourceLine {
    std::size_t number = 0;
    std::string text;
};

/// Where lines come from, for error messages: "path:line: why".
struct Source {
    std::string where;  // file path, or "type:{inline}"
    std::vector<SourceLine> lines;
};

[[noreturn]] void fail_at(const Source& src, std::size_t line, std::string_view why) {
    std::ostringstream msg;
    msg << src.where << ':' << line << ": " << why;
    throw TableError(msg.str());
}

std::string read_file(const std::string& path, const Limits& limits) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw TableError(path + ": cannot open table file");
    std::string data;
    char buf[65536];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        data.append(buf, static_cast<std::size_t>(in.gcount()));
        if (data.size() > limits.max_file_bytes)
            throw TableError(path + ": table file larger than " + std::to_string(limits.max_file_bytes) + " bytes");
    }
    if (in.bad()) throw TableError(path + ": read error");
    return data;
}

/// Postfix readlline(3): a line starting with non-whitespace starts a logical line; a line starting with
/// whitespace continues it (newline dropped, leading whitespace kept); blank lines and lines whose first
/// non-blank character is '#' are skipped, also between a line and its continuation.
Source split_logical_lines(std::string where, std::string_view data, const Limits& limits) {
    Source src{std::move(where), {}};
    std::size_t number = 0;
    std::size_t pos = 0;
    while (pos < data.size()) {
        std::size_t end = data.find('\n', pos);
        if (end == std::string_view::npos) end = data.size();
        std::string_view line = data.substr(pos, end - pos);
        pos = end + 1;
        ++number;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() > limits.max_line_bytes)
            fail_at(src, number, "line longer than " + std::to_string(limits.max_line_bytes) + " bytes");
        std::string_view content = trim(line);
        if (content.empty() || content.front() == '#') continue;
        if (is_space(line.front())) {
            if (src.lines.empty()) fail_at(src, number, "continuation line without a preceding logical line");
            std::string& text = src.lines.back().text;
            if (text.size() + line.size() > limits.max_line_bytes)
                fail_at(src, src.lines.back().number,
                        "logical line longer than " + std::to_string(limits.max_line_bytes) + " bytes");
            // readlline keeps the continuation's leading whitespace; drop a trailing one.
            while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
            text.append(line);
            continue;
        }
        while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
        src.lines.push_back({number, std::string(line)});
        if (src.lines.size() > limits.max_entries)
            fail_at(src, number, "more than " + std::to_string(limits.max_entries) + " entries");
    }
    return src;
}

/// Splits the inside of "{ a=b, { c = d e }, f=g }" into its elements: separated by commas or whitespace
/// at the top level; a braced element keeps its inner text (braces removed, trimmed). Postfix's
/// mystrtokq(3) with parens "{}".
std::vector<std::string> split_inline(std::string_view where, std::string_view body, const Limits& limits) {
    body = trim(body);
    if (body.size() < 2 || body.front() != '{' || body.back() != '}')
        throw TableError(std::string(where) + ": inline table must be written as {...}");
    body = body.substr(1, body.size() - 2);
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < body.size()) {
        if (is_space(body[i]) || body[i] == ',') {
            ++i;
            continue;
        }
        if (body[i] == '{') {
            int depth = 0;
            std::size_t j = i;
            for (; j < body.size(); ++j) {
                if (body[j] == '{') ++depth;
                if (body[j] == '}' && --depth == 0) break;
            }
            if (j >= body.size()) throw TableError(std::string(where) + ": unbalanced '{' in inline table");
            out.emplace_back(trim(body.substr(i + 1, j - i - 1)));
            i = j + 1;
        } else {
            std::size_t j = i;
            while (j < body.size() && !is_space(body[j]) && body[j] != ',') {
                if (body[j] == '{' || body[j] == '}')
                    throw TableError(std::string(where) + ": unexpected brace in inline table element");
                ++j;
            }
            out.emplace_back(body.substr(i, j - i));
            i = j;
        }
        if (out.size() > limits.max_entries) throw TableError(std::string(where) + ": too many inline entries");
    }
    return out;
}

// --- texthash / inline -------------------------------------------------------------------------------

class HashTable final : public Table {
public:
    HashTable(std::string name, std::unordered_map<std::string, std::string> map)
        : Table(std::move(name), KeyKind::fixed), map_(std::move(map)) {}

    Lookup lookup(std::string_view key) const override {
        if (key.empty()) return Lookup::miss();
        auto it = map_.find(lower(key));
        if (it == map_.end()) return Lookup::miss();
        return Lookup::hit(it->second);
    }

private:
    std::unordered_map<std::string, std::string> map_;
};

std::shared_ptr<const Table> open_hash(const std::string& type, const std::string& path, const Limits& limits) {
    Source src = split_logical_lines(path, read_file(path, limits), limits);
    std::unordered_map<std::string, std::string> map;
    map.reserve(src.lines.size());
    for (const SourceLine& l : src.lines) {
        std::string_view text = l.text;
        std::size_t ws = 0;
        while (ws < text.size() && !is_space(text[ws])) ++ws;
        std::string_view key = text.substr(0, ws);
        std::string_view value = trim(text.substr(ws));
        if (value.empty()) fail_at(src, l.number, "expected format: key whitespace value");
        // postmap keeps the first of duplicate keys (with a warning).
        map.emplace(lower(key), std::string(value));
    }
    return std::make_shared<HashTable>(type + ":" + path, std::move(map));
}

std::shared_ptr<const Table> open_inline(const std::string& body, const Limits& limits) {
    const std::string name = "inline:" + body;
    std::unordered_map<std::string, std::string> map;
    for (const std::string& element : split_inline(name, body, limits)) {
        std::size_t eq = element.find('=');
        if (eq == std::string::npos)
            throw TableError(name + ": missing '=' after attribute name in \"" + element + "\"");
        std::string_view key = trim(std::string_view(element).substr(0, eq));
        std::string_view value = trim(std::string_view(element).substr(eq + 1));
        if (key.empty()) throw TableError(name + ": empty key in \"" + element + "\"");
        map.emplace(lower(key), std::string(value));
    }
    return std::make_shared<HashTable>(name, std::move(map));
}

// --- static / fail ------------------------------------------------------------------------------------

class StaticTable final : public Table {
public:
    StaticTable(std::string name, std::string value)
        : Table(std::move(name), KeyKind::fixed), value_(std::move(value)) {}
    Lookup lookup(std::string_view key) const override {
        if (key.empty()) return Lookup::miss();
        return Lookup::hit(value_);
    }

private:
    std::string value_;
};

class FailTable final : public Table {
public:
    explicit FailTable(std::string name) : Table(std::move(name), KeyKind::fixed) {}
    Lookup lookup(std::string_view key) const override {
        if (key.empty()) return Lookup::miss();
        return {Lookup::Status::tempfail, "table " + name() + " is a fail: table"};
    }
};

// --- rule tables: cidr, regexp, pcre --------------------------------------------------------------------

/// The right-hand side of a pattern rule, split at load time into literals and $n references.
struct Replacement {
    struct Piece {
        std::string literal;
        int group = -1;  // >= 0: insert capture group `group`
    };
    std::vector<Piece> pieces;
    int max_group = 0;

    [[nodiscard]] bool has_groups() const noexcept { return max_group > 0; }
};

/// Parses "$1", "${1}", "$(1)", "$$" in action text (Postfix mac_parse as dict_pcre/dict_regexp use it).
Replacement parse_replacement(const Source& src, std::size_t line, std::string_view text) {
    Replacement r;
    std::string lit;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '$') {
            lit.push_back(text[i]);
            continue;
        }
        if (i + 1 >= text.size()) fail_at(src, line, "'$' at end of replacement text");
        char c = text[i + 1];
        if (c == '$') {
            lit.push_back('$');
            ++i;
            continue;
        }
        std::string_view name;
        if (c == '{' || c == '(') {
            char close = c == '{' ? '}' : ')';
            std::size_t end = text.find(close, i + 2);
            if (end == std::string_view::npos)
                fail_at(src, line, "unbalanced '" + std::string(1, c) + "' in replacement text");
            name = text.substr(i + 2, end - i - 2);
            i = end;
        } else {
            std::size_t j = i + 1;
            while (j < text.size() && (is_alnum(text[j]) || text[j] == '_')) ++j;
            name = text.substr(i + 1, j - i - 1);
            if (name.empty()) fail_at(src, line, "'$' not followed by a replacement index");
            i = j - 1;
        }
        if (name.empty() || name.size() > 3 ||
            !std::all_of(name.begin(), name.end(), [](char d) { return d >= '0' && d <= '9'; }))
            fail_at(src, line, "non-numeric replacement index \"" + std::string(name) + "\"");
        int group = std::stoi(std::string(name));
        if (!lit.empty()) r.pieces.push_back({std::move(lit), -1});
        lit.clear();
        r.pieces.push_back({{}, group});
        r.max_group = std::max(r.max_group, group);
    }
    if (!lit.empty()) r.pieces.push_back({std::move(lit), -1});
    return r;
}

struct Rule {
    enum class Op { rule, if_, endif };
    Op op = Op::rule;
    bool negate = false;
    std::size_t skip_to = 0;  // for if_: index just past the matching endif (or end of rules)
    std::size_t line = 0;
    Replacement replacement;
    // matcher: one of these is set
    std::optional<util::IpNetwork> network;
    std::shared_ptr<pcre2_code> code;  // shared so rules stay copyable; freed by Pcre2Code's deleter
    std::string pcre_text;             // the pattern as compiled (for the prefilter)
    std::uint32_t pcre_options = 0;
};

/// An address or network as two 64-bit words, so that a cidr rule is two masked compares.
struct Words {
    bool v4 = true;
    std::uint64_t hi = 0, lo = 0;
};

Words to_words(const util::IpAddress& a) {
    Words w;
    w.v4 = a.is_v4();
    const auto& b = a.bytes();
    if (w.v4) {
        for (int i = 0; i < 4; ++i) w.lo = (w.lo << 8) | b[static_cast<std::size_t>(i)];
    } else {
        for (int i = 0; i < 8; ++i) w.hi = (w.hi << 8) | b[static_cast<std::size_t>(i)];
        for (int i = 8; i < 16; ++i) w.lo = (w.lo << 8) | b[static_cast<std::size_t>(i)];
    }
    return w;
}

/// A cidr rule in the compact form the lookup loop walks (kept apart from Rule for cache locality).
struct CidrMatcher {
    Words net;
    std::uint64_t mask_hi = 0, mask_lo = 0;
    Rule::Op op = Rule::Op::rule;
    bool negate = false;
    std::size_t skip_to = 0;

    explicit CidrMatcher(const Rule& r) : CidrMatcher(r.network ? *r.network : util::IpNetwork{}) {
        op = r.op;
        negate = r.negate;
        skip_to = r.skip_to;
    }
    explicit CidrMatcher(const util::IpNetwork& n) : net(to_words(n.address)) {
        auto mask_of = [](unsigned bits) -> std::uint64_t { return bits == 0 ? 0 : ~std::uint64_t{0} << (64 - bits); };
        if (net.v4) {
            mask_lo = n.prefix_len == 0 ? 0 : (~std::uint64_t{0} << (32 - n.prefix_len)) & 0xFFFFFFFFULL;
        } else {
            mask_hi = mask_of(std::min(n.prefix_len, 64U));
            mask_lo = n.prefix_len > 64 ? mask_of(n.prefix_len - 64) : 0;
        }
    }
    [[nodiscard]] bool contains(const Words& a) const noexcept {
        return a.v4 == net.v4 && (a.hi & mask_hi) == net.hi && (a.lo & mask_lo) == net.lo;
    }
};

/// Resolves if/endif nesting into skip_to indexes. An endif without if is an error; an if without endif
/// extends to the end of the table (Postfix warns and does the same).
void link_if_blocks(const Source& src, std::vector<Rule>& rules, const Limits& limits) {
    std::vector<std::size_t> open;
    for (std::size_t i = 0; i < rules.size(); ++i) {
        if (rules[i].op == Rule::Op::if_) {
            open.push_back(i);
            if (open.size() > limits.max_if_depth) fail_at(src, rules[i].line, "if/endif nested too deeply");
        } else if (rules[i].op == Rule::Op::endif) {
            if (open.empty()) fail_at(src, rules[i].line, "ignoring ENDIF without matching IF");
            rules[open.back()].skip_to = i + 1;
            open.pop_back();
        }
    }
    for (std::size_t i : open) rules[i].skip_to = rules.size();
}

/// Splits "if pattern", "endif", or "pattern action" (keyword case-insensitive, as Postfix).
bool starts_keyword(std::string_view text, std::string_view kw) {
    if (text.size() < kw.size()) return false;
    if (lower(text.substr(0, kw.size())) != kw) return false;
    return text.size() == kw.size() || is_space(text[kw.size()]);
}

class RuleTable final : public Table {
public:
    enum class Type { cidr, regexp, pcre };

    RuleTable(std::string name, std::string file, Type type, std::vector<Rule> rules, const Limits& limits)
        : Table(std::move(name), KeyKind::pattern),
          type_(type),
          file_(std::move(file)),
          rules_(std::move(rules)),
          max_result_(limits.max_result_bytes) {
        if (type_ == Type::cidr) {
            cidr_.reserve(rules_.size());
            for (const Rule& r : rules_) cidr_.emplace_back(r);
        } else {
            match_context_.reset(pcre2_match_context_create(nullptr));
            if (!match_context_) throw std::bad_alloc();
            // Bound backtracking; a match that hits the limit counts as no match (as Postfix's dict_pcre).
            pcre2_set_match_limit(match_context_.get(), limits.match_limit);
            pcre2_set_depth_limit(match_context_.get(), limits.depth_limit);
            std::vector<Prefilter::Pattern> patterns;
            for (std::size_t i = 0; i < rules_.size(); ++i) {
                const Rule& r = rules_[i];
                std::uint32_t n = 0;
                if (r.code) pcre2_pattern_info(r.code.get(), PCRE2_INFO_CAPTURECOUNT, &n);
                max_captures_ = std::max(max_captures_, n);
                if (r.op != Rule::Op::rule || r.negate) simple_ = false;
                if (r.code) patterns.push_back({r.pcre_text, r.pcre_options, static_cast<std::uint32_t>(i)});
            }
            // Small tables are faster without: one PCRE2 JIT match is cheaper than a Hyperscan pass.
            if (patterns.size() >= limits.prefilter_min_rules) prefilter_ = Prefilter::build(patterns);
        }
    }

    Lookup lookup(std::string_view key) const override { return lookup_rule(key).lookup; }

    std::string source_file() const override { return file_; }

    RuleLookup lookup_rule(std::string_view key) const override {
        if (key.empty()) return {Lookup::miss(), 0};
        if (type_ == Type::cidr) return lookup_cidr(key);
        Pcre2MatchData md;
        Candidates cand;
        if (prefilter_) cand = prefilter_->candidates(key);
        const bool filtered = cand.status == Candidates::Status::some;
        if (filtered && simple_) {
            // No if/endif and no negation: only the candidates can match; the first confirmed one wins.
            for (std::uint32_t idx : cand.rules) {
                const Rule& r = rules_[idx];
                if (!md) {
                    md.reset(pcre2_match_data_create(max_captures_ + 1, nullptr));
                    if (!md) return {{Lookup::Status::tempfail, "out of memory"}, r.line};
                }
                int rc = pcre2_match(r.code.get(), reinterpret_cast<PCRE2_SPTR>(key.data()), key.size(), 0, 0,
                                     md.get(), match_context_.get());
                if (rc >= 0) return {expand(r, key, md.get()), r.line};
                if (rc != PCRE2_ERROR_NOMATCH) return match_error(r, rc);
            }
            return {Lookup::miss(), 0};
        }
        std::size_t next = 0;  // position in cand.rules (ascending) at or after rule i
        std::size_t i = 0;
        while (i < rules_.size()) {
            const Rule& r = rules_[i];
            if (r.op == Rule::Op::endif) {
                ++i;
                continue;
            }
            bool matched = false;
            if (filtered) {
                while (next < cand.rules.size() && cand.rules[next] < i) ++next;
                if (next >= cand.rules.size() || cand.rules[next] != i) {
                    // Not a candidate: the pattern cannot match this key.
                    if (r.negate) matched = true;
                    if (r.op == Rule::Op::if_) {
                        i = matched ? i + 1 : r.skip_to;
                        continue;
                    }
                    if (matched) return {expand(r, key, nullptr), r.line};
                    ++i;
                    continue;
                }
            }
            if (!md) {
                md.reset(pcre2_match_data_create(max_captures_ + 1, nullptr));
                if (!md) return {{Lookup::Status::tempfail, "out of memory"}, r.line};
            }
            int rc = pcre2_match(r.code.get(), reinterpret_cast<PCRE2_SPTR>(key.data()), key.size(), 0, 0, md.get(),
                                 match_context_.get());
            if (rc >= 0) {
                matched = true;
            } else if (rc != PCRE2_ERROR_NOMATCH) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(rc, msg, sizeof msg);
                return {Lookup::miss(name() + ":" + std::to_string(r.line) +
                                     ": match error: " + reinterpret_cast<const char*>(msg)),
                        r.line};
            }
            if (r.negate) matched = !matched;
            if (r.op == Rule::Op::if_) {
                i = matched ? i + 1 : r.skip_to;
                continue;
            }
            if (matched) return {expand(r, key, md.get()), r.line};
            ++i;
        }
        return {Lookup::miss(), 0};
    }

private:
    /// cidr_table(5): first matching rule wins, honouring if/endif; keys that are not addresses miss.
    RuleLookup lookup_cidr(std::string_view key) const {
        const auto addr = util::IpAddress::parse(key);
        if (!addr) return {Lookup::miss(), 0};
        const Words kw = to_words(*addr);
        std::size_t i = 0;
        while (i < cidr_.size()) {
            const CidrMatcher& c = cidr_[i];
            if (c.op == Rule::Op::endif) {
                ++i;
                continue;
            }
            const bool matched = c.contains(kw) != c.negate;
            if (c.op == Rule::Op::if_) {
                i = matched ? i + 1 : c.skip_to;
                continue;
            }
            if (matched) return {expand(rules_[i], key, nullptr), rules_[i].line};
            ++i;
        }
        return {Lookup::miss(), 0};
    }

    Lookup expand(const Rule& r, std::string_view key, pcre2_match_data* md) const {
        std::string out;
        const PCRE2_SIZE* ov = md != nullptr ? pcre2_get_ovector_pointer(md) : nullptr;
        const std::uint32_t pairs = md != nullptr ? pcre2_get_ovector_count(md) : 0;
        for (const Replacement::Piece& p : r.replacement.pieces) {
            if (p.group < 0) {
                out += p.literal;
            } else if (ov != nullptr && static_cast<std::uint32_t>(p.group) < pairs) {
                PCRE2_SIZE b = ov[2 * p.group];
                PCRE2_SIZE e = ov[2 * p.group + 1];
                if (b != PCRE2_UNSET && e != PCRE2_UNSET && b <= e && e <= key.size()) out.append(key.substr(b, e - b));
            }
            if (out.size() > max_result_)
                return {Lookup::Status::tempfail, name() + ":" + std::to_string(r.line) + ": result longer than " +
                                                      std::to_string(max_result_) + " bytes"};
        }
        return Lookup::hit(std::move(out));
    }

    RuleLookup match_error(const Rule& r, int rc) const {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        return {Lookup::miss(name() + ":" + std::to_string(r.line) + ": match error: " + reinterpret_cast<const char*>(msg)),
                r.line};
    }

    Type type_;
    std::string file_;
    bool simple_ = true;                  // no if/endif, no negated rule
    std::unique_ptr<Prefilter> prefilter_;
    std::vector<Rule> rules_;
    std::size_t max_result_;
    std::uint32_t max_captures_ = 0;
    std::vector<CidrMatcher> cidr_;  // per rule, cidr tables only
    Pcre2MatchContext match_context_;
};

/// regexp_table(5) patterns are POSIX EREs (or BREs with the x flag). Rewrites them into PCRE2 syntax:
/// inside bracket expressions a backslash is literal in POSIX; in a BRE \( \) \{ \} \| are operators and
/// their bare forms and + ? are literals; a leading * is literal.
/// glibc's regex escapes that PCRE2 spells differently: \< \> word start/end, \` \' buffer start/end.
/// Everything else (\w \W \s \S \b \B, escaped literals) means the same in both.
std::string gnu_escape(char n) {
    switch (n) {
        case '<':
            return "\\b(?=\\w)";
        case '>':
            return "\\b(?<=\\w)";
        case '`':
            return "\\A";
        case '\'':
            return "\\z";
        default:
            return std::string{'\\', n};
    }
}

std::string posix_to_pcre(std::string_view pat, bool extended) {
    std::string out;
    out.reserve(pat.size() + 8);
    std::size_t i = 0;
    bool at_start = true;
    while (i < pat.size()) {
        char c = pat[i];
        if (c == '[') {
            // Copy a bracket expression: "[", optional "^", optional leading "]", up to the closing "]",
            // honouring [:class:], [.x.] and [=x=] inside.
            out.push_back('[');
            ++i;
            if (i < pat.size() && pat[i] == '^') out.push_back(pat[i++]);
            if (i < pat.size() && pat[i] == ']') {
                out += "\\]";
                ++i;
            }
            while (i < pat.size() && pat[i] != ']') {
                if (pat[i] == '[' && i + 1 < pat.size() &&
                    (pat[i + 1] == ':' || pat[i + 1] == '.' || pat[i + 1] == '=')) {
                    char kind = pat[i + 1];
                    std::size_t end = pat.find(std::string{kind, ']'}, i + 2);
                    if (end == std::string_view::npos) {
                        out += "\\[";
                        ++i;
                        continue;
                    }
                    out.append(pat.substr(i, end + 2 - i));
                    i = end + 2;
                    continue;
                }
                if (pat[i] == '\\')
                    out += "\\\\";
                else if (pat[i] == '[')
                    out += "\\[";
                else
                    out.push_back(pat[i]);
                ++i;
            }
            if (i < pat.size()) out.push_back(pat[i++]);
            at_start = false;
            continue;
        }
        if (!extended) {
            if (c == '\\' && i + 1 < pat.size()) {
                char n = pat[i + 1];
                if (n == '(' || n == ')' || n == '{' || n == '}' || n == '|')
                    out.push_back(n);
                else
                    out += gnu_escape(n);
                i += 2;
                at_start = n == '(' || n == '|';
                continue;
            }
            if (c == '(' || c == ')' || c == '{' || c == '}' || c == '+' || c == '?' || c == '|' ||
                (c == '*' && at_start)) {
                out.push_back('\\');
                out.push_back(c);
                ++i;
                at_start = false;
                continue;
            }
            out.push_back(c);
            at_start = c == '^' && at_start;
            ++i;
            continue;
        }
        if (c == '\\' && i + 1 < pat.size()) {
            out += gnu_escape(pat[i + 1]);
            i += 2;
        } else {
            out.push_back(c);
            ++i;
        }
        at_start = false;
    }
    return out;
}

/// Parses "[!...]<delim>pattern<delim>flags" at the start of text; returns the position after the flags.
struct ParsedPattern {
    bool negate = false;
    std::string pattern;
    std::string flags;
    std::size_t end = 0;
};

ParsedPattern parse_delimited(const Source& src, std::size_t line, std::string_view text) {
    ParsedPattern p;
    std::size_t i = 0;
    while (i < text.size() && text[i] == '!') {
        p.negate = !p.negate;
        ++i;
    }
    if (i >= text.size()) fail_at(src, line, "missing regular expression");
    char delim = text[i++];
    if (is_alnum(delim) || is_space(delim) || delim == '\\')
        fail_at(src, line, std::string("invalid regular expression delimiter '") + delim + "'");
    std::size_t start = i;
    for (; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) {
            ++i;
            continue;
        }
        if (text[i] == delim) break;
    }
    if (i >= text.size()) fail_at(src, line, std::string("no closing regular expression delimiter '") + delim + "'");
    p.pattern = std::string(text.substr(start, i - start));
    ++i;
    std::size_t fstart = i;
    while (i < text.size() && !is_space(text[i])) ++i;
    p.flags = std::string(text.substr(fstart, i - fstart));
    p.end = i;
    return p;
}

std::shared_ptr<pcre2_code> compile_pattern(const Source& src, std::size_t line, const ParsedPattern& p,
                                            RuleTable::Type type, std::string* compiled_text = nullptr,
                                            std::uint32_t* compiled_options = nullptr) {
    std::uint32_t options = 0;
    std::string pattern = p.pattern;
    if (type == RuleTable::Type::pcre) {
        options = PCRE2_CASELESS | PCRE2_DOTALL;
        for (char f : p.flags) {
            switch (f) {
                case 'i':
                    options ^= PCRE2_CASELESS;
                    break;
                case 'm':
                    options ^= PCRE2_MULTILINE;
                    break;
                case 's':
                    options ^= PCRE2_DOTALL;
                    break;
                case 'x':
                    options ^= PCRE2_EXTENDED;
                    break;
                case 'A':
                    options ^= PCRE2_ANCHORED;
                    break;
                case 'E':
                    options ^= PCRE2_DOLLAR_ENDONLY;
                    break;
                case 'U':
                    options ^= PCRE2_UNGREEDY;
                    break;
                case 'X':
                    break;  // PCRE_EXTRA has no PCRE2 counterpart; Postfix ignores it with PCRE2 too
                default:
                    fail_at(src, line, std::string("unknown regexp option \"") + f + "\"");
            }
        }
    } else {
        bool icase = true, extended = true, newline = false;
        for (char f : p.flags) {
            switch (f) {
                case 'i':
                    icase = !icase;
                    break;
                case 'x':
                    extended = !extended;
                    break;
                case 'm':
                    newline = !newline;
                    break;
                default:
                    fail_at(src, line, std::string("unknown regexp option \"") + f + "\"");
            }
        }
        pattern = posix_to_pcre(p.pattern, extended);
        if (icase) options |= PCRE2_CASELESS;
        // Without REG_NEWLINE '.' matches a newline and ^/$ anchor only at the ends of the string.
        options |= newline ? PCRE2_MULTILINE : (PCRE2_DOTALL | PCRE2_DOLLAR_ENDONLY);
    }
    int err = 0;
    PCRE2_SIZE offset = 0;
    Pcre2Code code(
        pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &err, &offset, nullptr));
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        fail_at(src, line,
                "error in regular expression \"" + p.pattern + "\" at offset " + std::to_string(offset) + ": " +
                    reinterpret_cast<const char*>(msg));
    }
    // JIT is an optimisation: without it (e.g. no executable memory) the interpreter gives the same answers.
    (void)pcre2_jit_compile(code.get(), PCRE2_JIT_COMPLETE);
    if (compiled_text != nullptr) *compiled_text = pattern;
    if (compiled_options != nullptr) *compiled_options = options;
    return std::shared_ptr<pcre2_code>(code.release(), util::FnDeleter<pcre2_code_free>{});
}

std::optional<util::IpNetwork> parse_cidr(std::string_view text, std::string& why) {
    std::string s(text);
    // "[2001:db8::]/32" and "[2001:db8::1]": brackets are allowed around the address.
    if (!s.empty() && s.front() == '[') {
        std::size_t close = s.find(']');
        if (close == std::string::npos) {
            why = "missing ']'";
            return std::nullopt;
        }
        s = s.substr(1, close - 1) + s.substr(close + 1);
    }
    auto net = util::IpNetwork::parse(s);
    if (!net) {
        why = "bad net/mask pattern \"" + std::string(text) + "\"";
        return std::nullopt;
    }
    if (net->address.masked(net->prefix_len) != net->address) {
        why = "non-null host address bits in \"" + std::string(text) + "\", perhaps you should use \"" +
              net->address.masked(net->prefix_len).to_string() + "/" + std::to_string(net->prefix_len) + "\" instead";
        return std::nullopt;
    }
    return net;
}

std::shared_ptr<const Table> build_rule_table(const std::string& name, Source src, RuleTable::Type type,
                                              const Limits& limits) {
    std::vector<Rule> rules;
    rules.reserve(src.lines.size());
    for (const SourceLine& l : src.lines) {
        std::string_view text = l.text;
        Rule r;
        r.line = l.number;
        if (starts_keyword(text, "endif")) {
            if (!trim(text.substr(5)).empty()) fail_at(src, l.number, "garbage after ENDIF");
            r.op = Rule::Op::endif;
            rules.push_back(std::move(r));
            continue;
        }
        bool is_if = starts_keyword(text, "if");
        if (is_if) {
            r.op = Rule::Op::if_;
            text = trim(text.substr(2));
        }
        std::string_view action;
        if (type == RuleTable::Type::cidr) {
            while (!text.empty() && text.front() == '!') {
                if (!is_if) fail_at(src, l.number, "negation is allowed only in IF");
                r.negate = !r.negate;
                text.remove_prefix(1);
            }
            std::size_t ws = 0;
            while (ws < text.size() && !is_space(text[ws])) ++ws;
            std::string why;
            r.network = parse_cidr(text.substr(0, ws), why);
            if (!r.network) fail_at(src, l.number, why);
            action = trim(text.substr(ws));
        } else {
            ParsedPattern p = parse_delimited(src, l.number, text);
            r.negate = p.negate;
            r.code = compile_pattern(src, l.number, p, type, &r.pcre_text, &r.pcre_options);
            action = trim(text.substr(p.end));
        }
        if (is_if) {
            if (!action.empty()) fail_at(src, l.number, "garbage after IF pattern");
        } else {
            if (action.empty()) fail_at(src, l.number, "no replacement text: using empty string is not allowed");
            r.replacement = parse_replacement(src, l.number, action);
            if (r.replacement.has_groups()) {
                if (type == RuleTable::Type::cidr)
                    r.replacement = Replacement{{{std::string(action), -1}}, 0};  // cidr has no $n
                else if (r.negate)
                    fail_at(src, l.number, "$number found in negative match replacement text");
                else {
                    std::uint32_t captures = 0;
                    pcre2_pattern_info(r.code.get(), PCRE2_INFO_CAPTURECOUNT, &captures);
                    if (static_cast<std::uint32_t>(r.replacement.max_group) > captures)
                        fail_at(src, l.number,
                                "out of range replacement index \"" + std::to_string(r.replacement.max_group) + "\"");
                }
            }
        }
        rules.push_back(std::move(r));
    }
    link_if_blocks(src, rules, limits);
    std::string file = src.where == name ? std::string() : src.where;
    return std::make_shared<RuleTable>(name, std::move(file), type, std::move(rules), limits);
}

std::shared_ptr<const Table> open_rules(const std::string& type_name, const std::string& rest, RuleTable::Type type,
                                        const Limits& limits) {
    const std::string name = type_name + ":" + rest;
    if (!rest.empty() && rest.front() == '{') {
        Source src{name, {}};
        std::size_t n = 0;
        for (std::string& element : split_inline(name, rest, limits)) src.lines.push_back({++n, std::move(element)});
        return build_rule_table(name, std::move(src), type, limits);
    }
    Source src = split_logical_lines(rest, read_file(rest, limits), limits);
    return build_rule_table(name, std::move(src), type, limits);
}

}  // namespace

std::shared_ptr<const Table> open_table(std::string_view spec_in, const Limits& limits) {
    std::string_view spec = trim(spec_in);
    if (spec.empty()) throw TableError("empty table name");
    std::string type;
    std::string rest;
    std::size_t colon = spec.find(':');
    if (spec.front() == '/' || spec.front() == '.' || colon == std::string_view::npos) {
        type = "texthash";
        rest = std::string(spec);
    } else {
        type = lower(spec.substr(0, colon));
        rest = std::string(spec.substr(colon + 1));
    }
    if (type == "texthash" || type == "hash" || type == "btree" || type == "lmdb" || type == "cdb" || type == "dbm") {
        if (rest.empty()) throw TableError(std::string(spec) + ": missing file name");
        return open_hash(type, rest, limits);
    }
    if (type == "inline") return open_inline(rest, limits);
    if (type == "static") {
        std::string_view v = trim(rest);
        if (!v.empty() && v.front() == '{') {
            if (v.back() != '}') throw TableError(std::string(spec) + ": missing '}'");
            v = trim(v.substr(1, v.size() - 2));
        }
        return std::make_shared<StaticTable>("static:" + rest, std::string(v));
    }
    if (type == "fail") return std::make_shared<FailTable>("fail:" + rest);
    if (rest.empty()) throw TableError(std::string(spec) + ": missing file name");
    if (type == "cidr") return open_rules(type, rest, RuleTable::Type::cidr, limits);
    if (type == "regexp") return open_rules(type, rest, RuleTable::Type::regexp, limits);
    if (type == "pcre") return open_rules(type, rest, RuleTable::Type::pcre, limits);
    throw TableError(std::string(spec) + ": unsupported table type \"" + type + "\"");
}

// --- access(5) lookup order -------------------------------------------------------------------------

namespace {

/// Looks up key; returns true (and fills m) when the search should stop: found or tempfail.
bool try_key(const Table& table, const std::string& key, Match& m) {
    if (key.empty()) return false;
    Lookup r = table.lookup(key);
    if (r.status == Lookup::Status::not_found) return false;
    m.status = r.status;
    m.key = key;
    m.value = std::move(r.value);
    return true;
}

bool looks_numeric(std::string_view name) {
    return util::IpAddress::parse(name).has_value();
}

/// check_domain_access(): the name, then parents including the TLD; no subdomain magic for addresses.
bool domain_walk(const Table& table, std::string_view domain, ParentStyle style, Match& m) {
    std::string low = lower(domain);
    while (!low.empty() && low.back() == '.') low.pop_back();
    if (low.empty()) return false;
    if (table.key_kind() == KeyKind::pattern) return try_key(table, low, m);
    if (try_key(table, low, m)) return true;
    if (looks_numeric(low)) return false;
    std::size_t pos = 0;  // start of the current name within low
    for (;;) {
        std::size_t dot = low.find('.', pos + 1);
        if (dot == std::string::npos) return false;
        pos = style == ParentStyle::parent ? dot + 1 : dot;
        if (try_key(table, low.substr(pos), m)) return true;
    }
}

}  // namespace

Match lookup_domain(const Table& table, std::string_view domain, ParentStyle style) {
    Match m;
    domain_walk(table, domain, style, m);
    return m;
}

Match lookup_address(const Table& table, std::string_view address, const AddressOptions& options) {
    Match m;
    if (address.empty()) {
        try_key(table, options.null_sender_key, m);
        return m;
    }
    const std::string full(address);
    if (table.key_kind() == KeyKind::pattern) {
        try_key(table, full, m);
        return m;
    }
    std::size_t at = full.rfind('@');
    std::string local = at == std::string::npos ? full : full.substr(0, at);
    std::string domain = at == std::string::npos ? std::string() : full.substr(at + 1);
    std::string bare_local = local;
    if (!options.recipient_delimiter.empty()) {
        // Postfix split_addr(): the extension starts at the first delimiter character; a local part
        // starting with one is not split, nor (with '-' as a delimiter) owner-foo and foo-request.
        std::size_t d = local.find_first_of(options.recipient_delimiter);
        const std::string low_local = lower(local);
        bool keep = d == 0 || d == std::string::npos;
        if (options.recipient_delimiter.find('-') != std::string::npos &&
            (low_local.rfind("owner-", 0) == 0 ||
             (low_local.size() > 8 && low_local.compare(low_local.size() - 8, 8, "-request") == 0)))
            keep = true;
        if (!keep) bare_local = local.substr(0, d);
    }
    const bool has_ext = bare_local != local;

    if (at != std::string::npos) {
        if (try_key(table, full, m)) return m;
        if (has_ext && try_key(table, bare_local + "@" + domain, m)) return m;
        if (domain_walk(table, domain, options.parent_style, m)) return m;
        if (try_key(table, local + "@", m)) return m;
        if (has_ext && try_key(table, bare_local + "@", m)) return m;
    } else {
        // No domain: Postfix looks up the local part with "@" appended.
        if (try_key(table, local + "@", m)) return m;
        if (has_ext && try_key(table, bare_local + "@", m)) return m;
    }
    return m;
}

Match lookup_client(const Table& table, std::string_view ip) {
    Match m;
    std::string addr;
    if (auto parsed = util::IpAddress::parse(ip))
        addr = parsed->to_string();
    else
        addr = std::string(ip);
    if (table.key_kind() == KeyKind::pattern) {
        try_key(table, addr, m);
        return m;
    }
    const char delim = addr.find(':') != std::string::npos ? ':' : '.';
    for (;;) {
        if (try_key(table, addr, m)) return m;
        std::size_t cut = addr.rfind(delim);
        if (cut == std::string::npos || cut == 0) return m;
        addr.resize(cut);
    }
}

// --- TableSet --------------------------------------------------------------------------------------------

std::shared_ptr<const Table> TableSet::get(std::string_view spec) {
    if (auto t = current(spec)) return t;
    // Open outside the lock: file reads and regex compiles may be slow.
    std::shared_ptr<const Table> opened = open_table(spec, limits_);
    return tables_.with_lock([&](auto& map) {
        auto [it, inserted] = map.emplace(std::string(spec), opened);
        return it->second;
    });
}

std::shared_ptr<const Table> TableSet::current(std::string_view spec) const {
    return tables_.with_lock([&](const auto& map) -> std::shared_ptr<const Table> {
        auto it = map.find(spec);
        return it == map.end() ? nullptr : it->second;
    });
}

std::size_t TableSet::size() const {
    return tables_.with_lock([](const auto& map) { return map.size(); });
}

TableSet::ReloadResult TableSet::reload() {
    std::vector<std::string> specs = tables_.with_lock([](const auto& map) {
        std::vector<std::string> out;
        for (const auto& [k, v] : map) out.push_back(k);
        return out;
    });
    if (specs.empty()) return {ReloadResult::Status::empty, {}};
    std::map<std::string, std::shared_ptr<const Table>, std::less<>> fresh;
    for (const std::string& spec : specs) {
        try {
            fresh.emplace(spec, open_table(spec, limits_));
        } catch (const TableError& e) {
            return {ReloadResult::Status::failed, e.what()};
        }
    }
    tables_.with_lock([&](auto& map) {
        for (auto& [k, v] : fresh) map[k] = std::move(v);
    });
    return {ReloadResult::Status::reloaded, {}};
}

}  // namespace mailmoat::table
