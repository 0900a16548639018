// common/checks/attachment.hpp - attachment rules: file name, extension, declared Content-Type and the type
// sniffed from magic bytes, also for the files inside zip archives (bounded: entries, depth, sizes, ratio).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/checks/action.hpp"

namespace mailmoat::checks {

/// The types recognised from the first bytes of a file (and, for zip and OLE2 files, from their contents).
/// Names as written in rules: exe (DOS/PE "MZ"), elf, macho, script ("#!"), ole (OLE2 compound file),
/// office-macro (OLE2 with a VBA project, or an OOXML zip with vbaProject.bin), zip, rar, 7z, gzip, bzip2,
/// xz, cab, tar, pdf. Groups: executable = exe elf macho; archive = zip rar 7z gzip bzip2 xz cab tar.
/// Returns the tags found in `head` (empty for an unknown type); never throws except std::bad_alloc.
[[nodiscard]] std::vector<std::string> sniff_types(std::string_view head);

/// Problems met while opening an archive; rules match them with archive=NAME.
/// bomb: an entry declares or inflates beyond the size limit or the expansion ratio;
/// encrypted: an entry is encrypted (its name is still checked, its content is not);
/// corrupt: the archive or an entry cannot be read;
/// limit: more entries, deeper nesting or a larger archive than the limits allow (the rest is not inspected).
enum class ArchiveProblem : unsigned { bomb = 1, encrypted = 2, corrupt = 4, limit = 8 };
[[nodiscard]] const char* archive_problem_name(ArchiveProblem p) noexcept;

/// One file to judge: a MIME part, or an entry of an archive in a part.
struct FileInfo {
    std::string name;                  // file name ("" when the part has none); for entries the path in the archive
    std::string declared_type;         // lower-case Content-Type of the part ("" for archive entries)
    std::vector<std::string> sniffed;  // sniff_types() tags
    std::size_t depth = 0;             // 0: a MIME part; 1: inside an archive; 2: inside an archive in an archive ...
    std::string container;             // for entries: the name of the part that holds the archive
    unsigned problems = 0;             // ArchiveProblem bits (on the archive itself)
    std::uint64_t size = 0;            // bytes (for entries: the declared uncompressed size)
    std::string why;                   // what the problems were, for the log
};

/// Bounds for opening archives.
struct ArchiveLimits {
    std::size_t max_entries = 1000;                  // entries read per archive
    std::size_t max_depth = 3;                       // archives inside archives
    std::uint64_t max_uncompressed = 64ULL << 20;    // per archive: sum of inflated (and declared) sizes
    std::uint64_t max_ratio = 200;                   // an entry above 1 MiB inflating more than this is a bomb
    std::size_t sniff_bytes = 65536;                 // bytes read of each entry to sniff its type
};

/// The files of an attachment whose decoded content is `data`: the part itself, then (for a zip) each
/// entry, depth first, within `limits`. `complete` false means `data` is only the start of the part (it
/// was larger than the size limit): the part is then sniffed but an archive in it gets the limit problem.
/// Never throws except std::bad_alloc; problems are reported in the FileInfo of the archive.
[[nodiscard]] std::vector<FileInfo> inspect_attachment(FileInfo part, std::string_view data, bool complete,
                                                       const ArchiveLimits& limits = {});

/// A rule that matched a file.
struct AttachmentMatch {
    bool matched = false;
    std::size_t line = 0;  // rule line in the rules file
    Action action;
};

/// An attachment rules file (see mailmoat-checks.conf(5) ATTACHMENT RULES): one rule per logical line,
/// `CONDITION... ACTION [text]`, conditions name=, ext=, type=, magic=, location=, archive= (all must
/// hold; comma-separated values of one condition are alternatives; a value list starting with '!' is
/// negated), the first matching rule decides for a file. Immutable after loading; thread-safe.
class AttachmentRules {
public:
    /// Loads a rules file. Throws table::TableError naming FILE:LINE for a bad line (unknown condition,
    /// bad glob or regex, missing condition, an action attachment rules cannot do), or an unreadable file.
    [[nodiscard]] static std::shared_ptr<const AttachmentRules> load(const std::string& path);
    /// Parses rules from text; `where` names them in errors. Throws table::TableError as load().
    [[nodiscard]] static std::shared_ptr<const AttachmentRules> parse(std::string_view text, const std::string& where);

    /// The first rule matching `file`, or matched=false.
    [[nodiscard]] AttachmentMatch match(const FileInfo& file) const;
    [[nodiscard]] const std::string& source() const noexcept { return where_; }
    [[nodiscard]] std::size_t size() const noexcept;

    ~AttachmentRules();
    AttachmentRules(const AttachmentRules&) = delete;
    AttachmentRules& operator=(const AttachmentRules&) = delete;

    struct Rule;

private:
    AttachmentRules();
    std::string where_;
    std::vector<Rule> rules_;
};

/// A one-line description of a file for logs and `mailmoat checks test`: name, type, magic, location.
[[nodiscard]] std::string describe(const FileInfo& f);

}  // namespace mailmoat::checks
