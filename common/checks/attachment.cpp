// common/checks/attachment.cpp - magic-byte sniffing, bounded zip inspection through libzip, and the
// attachment rules file (parsing and first-match evaluation).
#include "common/checks/attachment.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <fstream>
#include <optional>

#include "common/table/pcre2_handles.hpp"
#include "common/table/table.hpp"
#include "common/util/zip_handles.hpp"

namespace mailmoat::checks {
namespace {

char lower_char(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = lower_char(c);
    return out;
}

bool starts(std::string_view d, std::string_view magic, std::size_t at = 0) noexcept {
    return d.size() >= at + magic.size() && d.substr(at, magic.size()) == magic;
}

/// Does an OLE2 compound file hold a VBA project? The directory entry names are UTF-16LE; a macro
/// project has a "_VBA_PROJECT" stream (MS-OVBA §2.3.4.1) or a "VBA" storage.
bool ole_has_vba(std::string_view d) {
    static const std::string vba_project = [] {
        std::string s;
        for (char c : std::string_view("_VBA_PROJECT")) s += c, s += '\0';
        return s;
    }();
    return d.find(vba_project) != std::string_view::npos || d.find(std::string_view("V\0B\0A\0\0\0", 8)) != std::string_view::npos;
}

constexpr std::uint64_t mib = 1ULL << 20;

}  // namespace

std::vector<std::string> sniff_types(std::string_view d) {
    std::vector<std::string> t;
    auto u32 = [&](std::size_t at) -> std::uint32_t {
        return d.size() >= at + 4 ? (static_cast<std::uint32_t>(static_cast<unsigned char>(d[at])) << 24) |
                                        (static_cast<std::uint32_t>(static_cast<unsigned char>(d[at + 1])) << 16) |
                                        (static_cast<std::uint32_t>(static_cast<unsigned char>(d[at + 2])) << 8) |
                                        static_cast<std::uint32_t>(static_cast<unsigned char>(d[at + 3]))
                                  : 0;
    };
    if (starts(d, "MZ")) t.emplace_back("exe");
    else if (starts(d, "\x7f" "ELF")) t.emplace_back("elf");
    else if (const std::uint32_t m = u32(0); m == 0xFEEDFACE || m == 0xFEEDFACF || m == 0xCEFAEDFE || m == 0xCFFAEDFE ||
                                             (m == 0xCAFEBABE && u32(4) > 0 && u32(4) < 20))
        t.emplace_back("macho");  // thin Mach-O either endianness, or a fat binary (a Java class has a version >= 45 there)
    else if (starts(d, "#!")) t.emplace_back("script");
    else if (starts(d, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")) {
        t.emplace_back("ole");
        if (ole_has_vba(d)) t.emplace_back("office-macro");
    } else if (starts(d, "PK\x03\x04") || starts(d, "PK\x05\x06")) t.emplace_back("zip");
    else if (starts(d, "Rar!\x1a\x07")) t.emplace_back("rar");
    else if (starts(d, "7z\xBC\xAF\x27\x1C")) t.emplace_back("7z");
    else if (starts(d, "\x1f\x8b")) t.emplace_back("gzip");
    else if (starts(d, "BZh")) t.emplace_back("bzip2");
    else if (starts(d, std::string_view("\xFD" "7zXZ\0", 6))) t.emplace_back("xz");
    else if (starts(d, "MSCF")) t.emplace_back("cab");
    else if (starts(d, "ustar", 257)) t.emplace_back("tar");
    else if (starts(d, "%PDF-")) t.emplace_back("pdf");
    return t;
}

const char* archive_problem_name(ArchiveProblem p) noexcept {
    switch (p) {
    case ArchiveProblem::bomb: return "bomb";
    case ArchiveProblem::encrypted: return "encrypted";
    case ArchiveProblem::corrupt: return "corrupt";
    case ArchiveProblem::limit: return "limit";
    }
    return "limit";
}

namespace {

void add_problem(FileInfo& f, ArchiveProblem p, const std::string& why) {
    f.problems |= static_cast<unsigned>(p);
    if (f.why.size() < 400) f.why += (f.why.empty() ? "" : "; ") + why;
}

bool has(const std::vector<std::string>& v, std::string_view x) { return std::find(v.begin(), v.end(), x) != v.end(); }

/// Reads the zip in `data` and appends its entries to `out` (recursing into zips inside it). `budget` is
/// what may still be inflated for the outermost archive; `archive_index` is this archive in `out`.
void walk_zip(std::vector<FileInfo>& out, std::size_t archive_index, std::string_view data, std::size_t depth,
              std::uint64_t& budget, const ArchiveLimits& limits) {
    auto problem = [&](ArchiveProblem p, const std::string& why) { add_problem(out[archive_index], p, why); };
    zip_error_t err;
    zip_error_init(&err);
    util::ZipSource src(zip_source_buffer_create(data.data(), data.size(), 0, &err));
    if (!src) {
        zip_error_fini(&err);
        problem(ArchiveProblem::corrupt, "cannot read zip archive");
        return;
    }
    util::ZipArchive za(zip_open_from_source(src.get(), ZIP_RDONLY, &err));
    if (!za) {
        problem(ArchiveProblem::corrupt, std::string("not a valid zip archive: ") + zip_error_strerror(&err));
        zip_error_fini(&err);
        return;
    }
    src.release();  // owned by the archive now
    zip_error_fini(&err);
    const zip_int64_t n = zip_get_num_entries(za.get(), 0);
    std::size_t count = n > 0 ? static_cast<std::size_t>(n) : 0;
    if (count > limits.max_entries) {
        problem(ArchiveProblem::limit, "zip archive has " + std::to_string(count) + " entries; the first " +
                                           std::to_string(limits.max_entries) + " are inspected");
        count = limits.max_entries;
    }
    const std::string container = out[archive_index].name;
    for (std::size_t i = 0; i < count; ++i) {
        zip_stat_t st;
        zip_stat_init(&st);
        if (zip_stat_index(za.get(), i, 0, &st) != 0) {
            problem(ArchiveProblem::corrupt, "cannot read zip entry " + std::to_string(i));
            continue;
        }
        FileInfo f;
        f.name = (st.valid & ZIP_STAT_NAME) && st.name ? st.name : "";
        f.depth = depth;
        f.container = container;
        f.size = (st.valid & ZIP_STAT_SIZE) ? st.size : 0;
        if (!f.name.empty() && f.name.back() == '/') continue;  // a directory
        const std::string lname = lower(f.name);
        if (lname == "word/vbaproject.bin" || lname == "xl/vbaproject.bin" || lname == "ppt/vbaproject.bin" ||
            (lname.size() > 15 && lname.substr(lname.size() - 15) == "/vbaproject.bin")) {
            // An OOXML document with a VBA project: the archive itself is an office-macro file.
            if (!has(out[archive_index].sniffed, "office-macro")) out[archive_index].sniffed.emplace_back("office-macro");
        }
        const std::uint64_t csize = (st.valid & ZIP_STAT_COMP_SIZE) ? st.comp_size : 0;
        const bool encrypted = (st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE;
        if (encrypted) {
            problem(ArchiveProblem::encrypted, "entry " + f.name + " is encrypted");
            out.push_back(std::move(f));
            continue;
        }
        if (f.size > budget) {
            problem(ArchiveProblem::bomb, "entry " + f.name + " declares " + std::to_string(f.size) +
                                              " bytes, over the " + std::to_string(limits.max_uncompressed) +
                                              "-byte limit");
            out.push_back(std::move(f));
            continue;
        }
        if (f.size > mib && f.size / std::max<std::uint64_t>(csize, 1) > limits.max_ratio) {
            problem(ArchiveProblem::bomb, "entry " + f.name + " expands " + std::to_string(f.size / std::max<std::uint64_t>(csize, 1)) +
                                              " times (limit " + std::to_string(limits.max_ratio) + ")");
            out.push_back(std::move(f));
            continue;
        }
        util::ZipFile zf(zip_fopen_index(za.get(), i, 0));
        if (!zf) {
            problem(ArchiveProblem::corrupt, "cannot open entry " + f.name + ": " + zip_strerror(za.get()));
            out.push_back(std::move(f));
            continue;
        }
        // Read the head to sniff; a nested zip is read whole (within the budget) to look inside it.
        std::string content;
        std::size_t want = limits.sniff_bytes;
        bool nested = false;
        char buf[16384];
        std::uint64_t total = 0;
        bool broken = false;
        for (;;) {
            const std::size_t ask = std::min<std::size_t>(sizeof buf, nested ? sizeof buf : want - std::min(want, content.size()));
            if (ask == 0) break;
            const zip_int64_t got = zip_fread(zf.get(), buf, ask);
            if (got < 0) {
                problem(ArchiveProblem::corrupt, "corrupt entry " + f.name + ": " + zip_file_strerror(zf.get()));
                broken = true;
                break;
            }
            if (got == 0) break;
            total += static_cast<std::uint64_t>(got);
            if (total > budget) {
                problem(ArchiveProblem::bomb, "entry " + f.name + " inflates beyond the " +
                                                  std::to_string(limits.max_uncompressed) + "-byte limit");
                broken = true;
                break;
            }
            content.append(buf, static_cast<std::size_t>(got));
            if (!nested && content.size() >= 4 && starts(content, "PK\x03\x04")) {
                if (depth < limits.max_depth) nested = true;
            }
        }
        // Declared sizes count too, so that many entries read only in part cannot add up unnoticed.
        budget -= std::min(budget, std::max(total, f.size));
        f.sniffed = sniff_types(content);
        const bool is_zip = has(f.sniffed, "zip");
        out.push_back(std::move(f));
        if (is_zip && !broken) {
            if (depth >= limits.max_depth) {
                add_problem(out.back(), ArchiveProblem::limit, "archives nested deeper than " + std::to_string(limits.max_depth));
                problem(ArchiveProblem::limit, "archives nested deeper than " + std::to_string(limits.max_depth));
            } else {
                walk_zip(out, out.size() - 1, content, depth + 1, budget, limits);
            }
        }
    }
}

}  // namespace

std::vector<FileInfo> inspect_attachment(FileInfo part, std::string_view data, bool complete, const ArchiveLimits& limits) {
    std::vector<FileInfo> out;
    part.sniffed = sniff_types(data.substr(0, std::max<std::size_t>(limits.sniff_bytes, 512)));
    if (has(part.sniffed, "ole") && !has(part.sniffed, "office-macro") && ole_has_vba(data))
        part.sniffed.emplace_back("office-macro");
    if (part.size == 0) part.size = data.size();
    const bool zip = has(part.sniffed, "zip");
    out.push_back(std::move(part));
    if (!zip) return out;
    if (!complete) {
        add_problem(out[0], ArchiveProblem::limit, "archive larger than the attachment size limit: not opened");
        return out;
    }
    std::uint64_t budget = limits.max_uncompressed;
    walk_zip(out, 0, data, 1, budget, limits);
    // Every problem of a nested archive is reported on the attachment, where rules see it.
    for (std::size_t i = 1; i < out.size(); ++i)
        if (out[i].problems) {
            out[0].problems |= out[i].problems;
            if (out[0].why.find(out[i].why) == std::string::npos && out[0].why.size() < 400)
                out[0].why += (out[0].why.empty() ? "" : "; ") + out[i].why;
        }
    return out;
}

std::string describe(const FileInfo& f) {
    std::string s = "name=" + (f.name.empty() ? std::string("(none)") : f.name);
    if (!f.declared_type.empty()) s += " type=" + f.declared_type;
    s += " magic=";
    if (f.sniffed.empty()) s += "unknown";
    for (std::size_t i = 0; i < f.sniffed.size(); ++i) s += (i ? "," : "") + f.sniffed[i];
    if (f.depth > 0) s += " in=" + f.container;
    if (f.problems) {
        s += " archive=";
        bool first = true;
        for (ArchiveProblem p : {ArchiveProblem::bomb, ArchiveProblem::encrypted, ArchiveProblem::corrupt, ArchiveProblem::limit})
            if (f.problems & static_cast<unsigned>(p)) s += (first ? "" : ","), s += archive_problem_name(p), first = false;
    }
    return s;
}

// --- rules --------------------------------------------------------------------------------------------

namespace {

enum class Cond { name, ext, type, magic, location, archive };

struct Condition {
    Cond what = Cond::name;
    bool negate = false;
    std::vector<std::string> values;             // lower-case globs / words
    std::shared_ptr<pcre2_code> regex;           // name=/re/
};

const std::vector<std::string>& group(std::string_view word) {
    static const std::vector<std::string> executable{"exe", "elf", "macho"};
    static const std::vector<std::string> archive{"zip", "rar", "7z", "gzip", "bzip2", "xz", "cab", "tar"};
    static const std::vector<std::string> none;
    if (word == "executable") return executable;
    if (word == "archive") return archive;
    return none;
}

bool known_magic(std::string_view w) {
    for (std::string_view k : {"exe", "elf", "macho", "script", "ole", "office-macro", "zip", "rar", "7z", "gzip", "bzip2",
                               "xz", "cab", "tar", "pdf", "executable", "archive", "unknown"})
        if (w == k) return true;
    return false;
}

/// The extension list of a file name: "a.tar.gz" has "gz" and "tar.gz".
bool has_extension(std::string_view lname, std::string_view ext) {
    if (ext.empty()) return lname.find('.') == std::string_view::npos;
    return lname.size() > ext.size() + 1 && lname.substr(lname.size() - ext.size()) == ext &&
           lname[lname.size() - ext.size() - 1] == '.';
}

}  // namespace

struct AttachmentRules::Rule {
    std::size_t line = 0;
    std::vector<Condition> conditions;
    Action action;
};

AttachmentRules::AttachmentRules() = default;
AttachmentRules::~AttachmentRules() = default;

std::size_t AttachmentRules::size() const noexcept { return rules_.size(); }

std::shared_ptr<const AttachmentRules> AttachmentRules::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw table::TableError(path + ": cannot open attachment rules file");
    std::string data;
    char buf[65536];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        data.append(buf, static_cast<std::size_t>(in.gcount()));
        if (data.size() > (16U << 20)) throw table::TableError(path + ": attachment rules file larger than 16 MiB");
    }
    return parse(data, path);
}

std::shared_ptr<const AttachmentRules> AttachmentRules::parse(std::string_view text, const std::string& where) {
    std::shared_ptr<AttachmentRules> rules(new AttachmentRules());
    rules->where_ = where;
    auto fail = [&](std::size_t line, const std::string& why) {
        throw table::TableError(where + ":" + std::to_string(line) + ": " + why);
    };
    auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
    // Logical lines as readlline(3): '#' comments, blank lines, whitespace-led continuation lines.
    std::vector<std::pair<std::size_t, std::string>> lines;
    std::size_t number = 0, pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view l = text.substr(pos, end - pos);
        pos = end + 1;
        ++number;
        while (!l.empty() && is_space(l.back())) l.remove_suffix(1);
        std::string_view content = l;
        while (!content.empty() && is_space(content.front())) content.remove_prefix(1);
        if (content.empty() || content.front() == '#') continue;
        if (l.size() > 65536) fail(number, "line longer than 65536 bytes");
        if (is_space(l.front())) {
            if (lines.empty()) fail(number, "continuation line without a preceding rule");
            lines.back().second += ' ';
            lines.back().second += content;
            continue;
        }
        lines.emplace_back(number, std::string(l));
        if (lines.size() > 100000) fail(number, "more than 100000 rules");
    }
    for (const auto& [line, l] : lines) {
        Rule r;
        r.line = line;
        std::size_t i = 0;
        for (;;) {
            while (i < l.size() && is_space(l[i])) ++i;
            if (i >= l.size()) fail(line, "rule without an action");
            std::size_t e = i;
            while (e < l.size() && !is_space(l[e])) ++e;
            const std::string_view token(l.data() + i, e - i);
            const std::size_t eq = token.find('=');
            if (eq == std::string_view::npos) break;  // the action starts here
            const std::string key = lower(token.substr(0, eq));
            std::string_view value = token.substr(eq + 1);
            Condition c;
            if (key == "name") c.what = Cond::name;
            else if (key == "ext") c.what = Cond::ext;
            else if (key == "type") c.what = Cond::type;
            else if (key == "magic") c.what = Cond::magic;
            else if (key == "location") c.what = Cond::location;
            else if (key == "archive") c.what = Cond::archive;
            else fail(line, "unknown condition \"" + key + "\" (name, ext, type, magic, location, archive)");
            if (!value.empty() && value.front() == '!') {
                c.negate = true;
                value.remove_prefix(1);
            }
            if (value.empty()) fail(line, "condition " + key + "= without a value");
            if (c.what == Cond::name && value.front() == '/') {
                const std::size_t close = value.rfind('/');
                if (close == 0) fail(line, "no closing '/' in name=" + std::string(value));
                const std::string pattern(value.substr(1, close - 1));
                std::uint32_t options = PCRE2_CASELESS;
                for (char f : value.substr(close + 1)) {
                    if (f == 'i') options ^= PCRE2_CASELESS;
                    else fail(line, std::string("unknown regular expression flag \"") + f + "\" (only i)");
                }
                int err = 0;
                PCRE2_SIZE offset = 0;
                table::Pcre2Code code(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options,
                                                    &err, &offset, nullptr));
                if (!code) {
                    PCRE2_UCHAR msg[256];
                    pcre2_get_error_message(err, msg, sizeof msg);
                    fail(line, "error in regular expression \"" + pattern + "\" at offset " + std::to_string(offset) +
                                   ": " + reinterpret_cast<const char*>(msg));
                }
                c.regex = std::shared_ptr<pcre2_code>(code.release(), pcre2_code_free);
            } else {
                std::size_t p = 0;
                while (p <= value.size()) {
                    std::size_t comma = value.find(',', p);
                    if (comma == std::string_view::npos) comma = value.size();
                    std::string v = lower(value.substr(p, comma - p));
                    if (c.what == Cond::ext && !v.empty() && v.front() == '.') v.erase(0, 1);
                    if (v.empty() && c.what != Cond::ext) fail(line, "empty value in " + key + "=");
                    if (c.what == Cond::magic && !known_magic(v)) fail(line, "unknown magic type \"" + v + "\"");
                    if (c.what == Cond::location && v != "part" && v != "archive")
                        fail(line, "location= takes part or archive, not \"" + v + "\"");
                    if (c.what == Cond::archive && v != "bomb" && v != "encrypted" && v != "corrupt" && v != "limit" && v != "any")
                        fail(line, "archive= takes bomb, encrypted, corrupt, limit or any, not \"" + v + "\"");
                    c.values.push_back(std::move(v));
                    p = comma + 1;
                }
            }
            r.conditions.push_back(std::move(c));
            i = e;
        }
        if (r.conditions.empty()) fail(line, "rule without a condition (name=, ext=, type=, magic=, location=, archive=)");
        r.action = parse_action(std::string_view(l).substr(i));
        switch (r.action.kind) {
        case ActionKind::unknown:
        case ActionKind::invalid: fail(line, r.action.why + " \"" + std::string(std::string_view(l).substr(i)) + "\""); break;
        case ActionKind::replace:
        case ActionKind::ignore:
        case ActionKind::strip:
        case ActionKind::filter:
            fail(line, std::string(action_name(r.action.kind)) + " is not available in attachment rules");
            break;
        case ActionKind::prepend:
            if (!is_header_text(r.action.text)) fail(line, "PREPEND needs a header \"Name: value\"");
            break;
        default: break;
        }
        rules->rules_.push_back(std::move(r));
    }
    return rules;
}

namespace {

bool regex_match(const pcre2_code* re, std::string_view s) {
    table::Pcre2MatchData md(pcre2_match_data_create_from_pattern(re, nullptr));
    if (!md) return false;
    table::Pcre2MatchContext ctx(pcre2_match_context_create(nullptr));
    if (ctx) pcre2_set_match_limit(ctx.get(), 100000);
    return pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0, 0, md.get(), ctx.get()) >= 0;
}

bool glob(const std::string& pattern, const std::string& s) {
    return ::fnmatch(pattern.c_str(), s.c_str(), FNM_CASEFOLD) == 0;
}

bool holds(const Condition& c, const FileInfo& f) {
    const std::string lname = lower(f.name);
    bool any = false;
    switch (c.what) {
    case Cond::name:
        if (c.regex) any = regex_match(c.regex.get(), f.name);
        else
            for (const auto& v : c.values) any = any || (!f.name.empty() && glob(v, lname));
        break;
    case Cond::ext:
        for (const auto& v : c.values) any = any || (!f.name.empty() && has_extension(lname, v));
        break;
    case Cond::type:
        for (const auto& v : c.values) any = any || (!f.declared_type.empty() && glob(v, f.declared_type));
        break;
    case Cond::magic:
        for (const auto& v : c.values) {
            if (v == "unknown") any = any || f.sniffed.empty();
            else if (const auto& g = group(v); !g.empty())
                for (const auto& m : g) any = any || has(f.sniffed, m);
            else any = any || has(f.sniffed, v);
        }
        break;
    case Cond::location:
        for (const auto& v : c.values) any = any || (v == "archive" ? f.depth > 0 : f.depth == 0);
        break;
    case Cond::archive:
        for (const auto& v : c.values) {
            if (v == "any") any = any || f.problems != 0;
            for (ArchiveProblem p : {ArchiveProblem::bomb, ArchiveProblem::encrypted, ArchiveProblem::corrupt, ArchiveProblem::limit})
                if (v == archive_problem_name(p)) any = any || (f.problems & static_cast<unsigned>(p)) != 0;
        }
        break;
    }
    return c.negate ? !any : any;
}

}  // namespace

AttachmentMatch AttachmentRules::match(const FileInfo& file) const {
    for (const Rule& r : rules_) {
        bool all = true;
        for (const Condition& c : r.conditions)
            if (!holds(c, file)) {
                all = false;
                break;
            }
        if (all) return {true, r.line, r.action};
    }
    return {};
}

}  // namespace mailmoat::checks
