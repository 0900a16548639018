// common/table/prefilter.hpp - a multi-pattern prefilter for pattern tables: one Hyperscan pass over a
// key names the rules that may match; PCRE2 then confirms them in table order, so first-match results
// are exactly those of trying every rule.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mailmoat::table {

/// Which rules may match a key. `all` when no prefilter ran (every rule must be tried).
struct [[nodiscard]] Candidates {
    enum class Status { some, all, error };
    Status status = Status::all;
    std::vector<std::uint32_t> rules;  // for `some`: indexes of rules that may match, ascending
};

/// Built from the PCRE2 pattern text and options of each rule. Patterns Hyperscan cannot take (even in
/// its prefilter mode) are always candidates. Immutable after construction, safe to share.
class Prefilter {
public:
    struct Pattern {
        std::string text;           // PCRE2 syntax
        std::uint32_t options = 0;  // PCRE2_CASELESS | PCRE2_DOTALL | PCRE2_MULTILINE | PCRE2_EXTENDED ...
        std::uint32_t id = 0;       // the rule index reported for it
    };
    /// Returns nullptr when the prefilter is not available (built without Hyperscan, or no pattern
    /// compiled); callers then try every rule.
    [[nodiscard]] static std::unique_ptr<Prefilter> build(const std::vector<Pattern>& patterns);
    ~Prefilter();
    Prefilter(const Prefilter&) = delete;
    Prefilter& operator=(const Prefilter&) = delete;

    /// The rules that may match key: every rule Hyperscan reports plus those it could not compile.
    /// A scan error gives status error (callers try every rule).
    [[nodiscard]] Candidates candidates(std::string_view key) const;
    /// Rules Hyperscan could not compile (always tried).
    [[nodiscard]] std::size_t unfiltered() const noexcept;

private:
    Prefilter();
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// True when this build has a prefilter engine (Hyperscan).
[[nodiscard]] bool prefilter_available() noexcept;

}  // namespace mailmoat::table
