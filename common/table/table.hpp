// common/table/table.hpp - Postfix-style lookup tables ("type:name") and access(5) lookup order helpers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/options.hpp"
#include "common/util/lock_guarded.hpp"

namespace mailmoat::table {

/// A table that cannot be opened or has a bad line. The message names "file:line: why". Derives from
/// config::ConfigError so that configuration loading reports it like any other bad setting (EX_CONFIG).
class TableError : public config::ConfigError {
public:
    using config::ConfigError::ConfigError;
};

/// Result of one table lookup. A file table never tempfails; a pattern match error (e.g. a PCRE2 match
/// limit) is reported as not_found with the reason in `value`, as Postfix's dict_pcre logs and skips it.
struct [[nodiscard]] Lookup {
    enum class Status { found, not_found, tempfail };
    Status status = Status::not_found;
    std::string value;  // the right-hand side when found (after $n substitution); a reason otherwise

    [[nodiscard]] bool found() const noexcept { return status == Status::found; }
    [[nodiscard]] static Lookup hit(std::string v) { return {Status::found, std::move(v)}; }
    [[nodiscard]] static Lookup miss(std::string why = {}) { return {Status::not_found, std::move(why)}; }
};

/// A lookup and the source line of the rule that decided it (0 when no rule line applies: a miss, or a
/// table without rules such as hash or static). Pattern tables report their if/endif-aware match.
struct [[nodiscard]] RuleLookup {
    Lookup lookup;
    std::size_t line = 0;
};

/// How a table takes keys. Postfix gives partial keys (parent domains, "user@", address prefixes) only to
/// tables with DICT_FLAG_FIXED; pattern tables (regexp, pcre, cidr) get only the whole string.
enum class KeyKind { fixed, pattern };

/// Bounds applied while loading a table; exceeding one is a TableError.
struct Limits {
    std::size_t max_file_bytes = 64U << 20;    // source file size
    std::size_t max_line_bytes = 64U << 10;    // one logical line (after joining continuations)
    std::size_t max_entries = 4U << 20;        // keys or rules
    std::size_t max_result_bytes = 64U << 10;  // one lookup result after $n substitution
    std::size_t max_if_depth = 64;             // nested if/endif
    std::uint32_t match_limit = 1000000;       // PCRE2 match limit per lookup (backtracking steps)
    std::uint32_t depth_limit = 100000;        // PCRE2 depth limit per lookup
    std::size_t prefilter_min_rules = 16;      // pcre/regexp tables this large get a Hyperscan prefilter
};

/// The lookup interface every list an administrator maintains goes through. Implementations are
/// immutable after construction and safe to share between threads.
class Table {
public:
    virtual ~Table() = default;
    Table(const Table&) = delete;
    Table& operator=(const Table&) = delete;

    /// Looks `key` up. The empty key never matches (Postfix skips zero-length keys).
    [[nodiscard]] virtual Lookup lookup(std::string_view key) const = 0;
    /// As lookup(), also naming the rule's line; tables without rule lines report line 0.
    [[nodiscard]] virtual RuleLookup lookup_rule(std::string_view key) const { return {lookup(key), 0}; }
    /// The file a rule table was read from ("" for inline and non-file tables), for "FILE:LINE" messages.
    [[nodiscard]] virtual std::string source_file() const { return {}; }
    /// "type:name" as opened, e.g. "cidr:/etc/postfix/clients.cidr".
    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    [[nodiscard]] KeyKind key_kind() const noexcept { return kind_; }

protected:
    Table(std::string name, KeyKind kind) : name_(std::move(name)), kind_(kind) {}

private:
    std::string name_;
    KeyKind kind_;
};

/// Opens a table from a Postfix-style spec:
///   texthash:/path, hash:/path, btree:/path, lmdb:/path, /path   postmap source text ("key value" lines)
///   inline:{ k=v, { key = text with spaces } }                   inline pairs (keys folded to lower case)
///   static:value, static:{text with spaces}                     every key gives value
///   cidr:/path, cidr:{ {rule}, ... }                           cidr_table(5)
///   regexp:/path, regexp:{ {rule}, ... }                       regexp_table(5) syntax, run with PCRE2
///   pcre:/path, pcre:{ {rule}, ... }                           pcre_table(5), PCRE2 with JIT
/// For the indexed types the postmap *source* file is read (the .db/.lmdb beside it is not used).
/// Throws TableError naming the file and line for unknown types, unreadable files, bad lines, bounds.
[[nodiscard]] std::shared_ptr<const Table> open_table(std::string_view spec, const Limits& limits = {});

// --- access(5) lookup order -------------------------------------------------------------------------

/// Which lookup found a value: the key that matched and its value.
struct [[nodiscard]] Match {
    Lookup::Status status = Lookup::Status::not_found;
    std::string key;  // the key that matched (or that tempfailed)
    std::string value;

    [[nodiscard]] bool found() const noexcept { return status == Lookup::Status::found; }
};

/// parent_domain_matches_subdomains: does "example.com" match sub.example.com (Postfix default for
/// smtpd_access_maps), or only ".example.com"?
enum class ParentStyle { parent, dot };

struct AddressOptions {
    std::string recipient_delimiter = "+";  // any of these characters starts an extension; empty: none
    ParentStyle parent_style = ParentStyle::parent;
    std::string null_sender_key = "<>";  // smtpd_null_access_lookup_key
};

/// access(5) EMAIL ADDRESS PATTERNS, in smtpd_check.c's order: user+ext@domain, user@domain, domain and
/// its parents (see lookup_domain), user+ext@, user@. Pattern tables get the whole address only. An
/// empty address is looked up as options.null_sender_key. The first tempfail stops the search.
[[nodiscard]] Match lookup_address(const Table& table, std::string_view address, const AddressOptions& options = {});

/// access(5) DOMAIN NAME PATTERNS: the name, then each parent including the top-level domain, as
/// "parent" (ParentStyle::parent) or ".parent" (ParentStyle::dot). A trailing dot is dropped and the
/// name lower-cased; numerical names (addresses) get no parent lookups. Pattern tables: whole name only.
[[nodiscard]] Match lookup_domain(const Table& table, std::string_view domain, ParentStyle style = ParentStyle::parent);

/// access(5) HOST NAME/ADDRESS PATTERNS for an address: the full address, then for fixed tables the
/// prefixes "1.2.3", "1.2", "1" (IPv6: split at ':' the same way). The address is put in canonical form
/// first when it parses (IPv4-mapped IPv6 becomes IPv4); unparseable text is looked up as given.
[[nodiscard]] Match lookup_client(const Table& table, std::string_view ip);

// --- reload ------------------------------------------------------------------------------------------

/// Keeps opened tables by spec and reopens them all on SIGHUP. Thread-safe.
class TableSet {
public:
    explicit TableSet(Limits limits = {}) : limits_(limits) {}

    /// Opens (or returns the already-open) table for spec. Throws TableError as open_table does.
    [[nodiscard]] std::shared_ptr<const Table> get(std::string_view spec);

    struct [[nodiscard]] ReloadResult {
        enum class Status { reloaded, failed, empty };
        Status status = Status::empty;
        std::string error;  // the first failure, when failed (all old tables are kept then)
    };
    /// Reopens every table. All-or-nothing: if any fails, every old table stays in place.
    ReloadResult reload();

    /// The current table for spec, or nullptr if it was never opened through get().
    [[nodiscard]] std::shared_ptr<const Table> current(std::string_view spec) const;
    [[nodiscard]] std::size_t size() const;

private:
    Limits limits_;
    util::LockGuarded<std::map<std::string, std::shared_ptr<const Table>, std::less<>>> tables_;
};

}  // namespace mailmoat::table
