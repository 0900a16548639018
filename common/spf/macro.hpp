// common/spf/macro.hpp - RFC 7208 §7 macro-string validation and bounded expansion.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/util/ip_address.hpp"

namespace mailmoat::spf {

/// Where a macro-string appears. Domain-specs (mechanism targets, redirect=, exp=) allow the letters
/// s l o d i p h v; explanation text (the TXT record exp= points to) also allows c r t (§7.1).
enum class MacroContext { domain, explanation };

/// Hard bounds on expansion. A record is at most a few KiB and each macro expands to a few hundred
/// octets at most, so these only stop hostile input; exceeding one is a clean error, never a crash.
inline constexpr std::size_t max_macro_input = 4096;   // octets of macro-string accepted
inline constexpr std::size_t max_macro_output = 8192;  // octets of expansion produced
inline constexpr unsigned max_macro_parts = 128;       // DIGIT transformer values saturate here
inline constexpr std::size_t max_domain_length = 253;  // §7.3 truncation target

enum class MacroStatus {
    ok,
    syntax_error,  // not a macro-string of the context (§7.1 ABNF): permerror for domain-specs
    too_long,      // input or output over the bounds above: treated like a syntax error by callers
};

[[nodiscard]] const char* macro_status_name(MacroStatus s) noexcept;

/// The values macros expand to (§7.3). sender is "local@domain" (local-part "postmaster" when the
/// sender had none), domain is the <domain> being evaluated (changes with include/redirect).
struct MacroEnv {
    std::string_view local_part;     // %{l}
    std::string_view sender_domain;  // %{o}
    std::string_view domain;         // %{d}
    std::string_view helo;           // %{h}
    std::string_view receiver;       // %{r} (exp only); "unknown" when empty
    util::IpAddress ip;              // %{i} %{c} %{v}
    std::int64_t timestamp = 0;      // %{t} (exp only): seconds since the epoch
    /// %{p}: the validated name of ip (§5.5), computed lazily because it costs DNS queries.
    /// Unset: "unknown".
    std::function<std::string()> validated_name;
};

struct MacroResult {
    MacroStatus status = MacroStatus::syntax_error;
    std::string text;   // the expansion (ok only)
    std::string error;  // what was wrong (not ok)
    /// True when %{s}, %{l} or %{h} was expanded: the text then depends on more than the client
    /// address and the domain (result caches key on that).
    bool sender_specific = false;
};

/// Checks that text is a macro-string valid in ctx (§7.1, §12 ABNF: macro-literal is %x21-24 / %x26-7E,
/// "%" only as "%{...}", "%%", "%_" or "%-", letters by context, DIGIT transformer non-zero).
/// Returns syntax_error/too_long with a reason in *error (when error is non-null) on bad input.
[[nodiscard]] MacroStatus validate_macro_string(std::string_view text, MacroContext ctx, std::string* error = nullptr);

/// Expands text in ctx (§7.3-7.4): transformers (rightmost N parts, r reversal), delimiters
/// (. - + , / _ =), upper-case letters URL-escaped, %% %_ %- literals. The explanation context allows
/// SP (explanation text is free text, §6.2). Returns syntax_error or too_long on invalid or
/// oversized input; never reads outside text, never produces more than max_macro_output octets.
[[nodiscard]] MacroResult expand_macro_string(std::string_view text, MacroContext ctx, const MacroEnv& env);

/// Applies §7.3 to an expanded domain: drops one trailing dot, then removes leading labels until the
/// name is at most 253 octets. A single label longer than that leaves an empty string.
[[nodiscard]] std::string truncate_domain(std::string_view expanded);

}  // namespace mailmoat::spf
