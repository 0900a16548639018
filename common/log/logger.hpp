// common/log/logger.hpp - structured key=value logging to syslog (facility mail) or stderr.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace mailmoat::log {

enum class Level { error = 0, warning = 1, notice = 2, info = 3, debug = 4 };

/// "error", "warning", "notice", "info", "debug" (also "warn", "err"); nullopt otherwise.
[[nodiscard]] std::optional<Level> parse_level(std::string_view name);
[[nodiscard]] const char* level_name(Level level) noexcept;

/// Opens syslog with the program name as ident and facility mail, or writes to stderr when
/// to_stderr is set (foreground). Safe to call again (SIGHUP may change the level).
void init(std::string ident, bool to_stderr, Level level);
void set_level(Level level) noexcept;
[[nodiscard]] bool enabled(Level level) noexcept;

/// Test hook: when set, every emitted line goes here instead of syslog/stderr. Pass {} to reset.
void set_sink(std::function<void(Level, std::string_view)> sink);

/// Makes an untrusted value safe for a log line: bytes outside printable ASCII become \xNN,
/// backslash and quote are escaped, values with spaces or '=' or empty values are double-quoted,
/// and output longer than max_len is cut and marked with "...".
[[nodiscard]] std::string escape(std::string_view value, std::size_t max_len = 256);

/// One log line, emitted when destroyed:  "QUEUEID: key=value key=value ..." .
/// Keys are trusted identifiers; values go through escape().
class Line {
public:
    explicit Line(Level level) noexcept : level_(level), active_(enabled(level)) {}
    Line(const Line&) = delete;
    Line& operator=(const Line&) = delete;
    ~Line();

    /// Postfix queue id prefix; ignored when empty.
    Line& queue_id(std::string_view id);
    Line& kv(std::string_view key, std::string_view value);
    Line& kv(std::string_view key, const char* value) { return kv(key, std::string_view(value ? value : "")); }
    Line& kv(std::string_view key, const std::string& value) { return kv(key, std::string_view(value)); }
    Line& kv(std::string_view key, std::int64_t value);
    Line& kv(std::string_view key, int value) { return kv(key, static_cast<std::int64_t>(value)); }
    Line& kv(std::string_view key, unsigned value) { return kv(key, static_cast<std::int64_t>(value)); }
    Line& kv(std::string_view key, std::uint64_t value) { return kv(key, static_cast<std::int64_t>(value)); }
    Line& kv(std::string_view key, double value);
    Line& kv(std::string_view key, bool value) { return kv(key, std::string_view(value ? "yes" : "no")); }
    /// Free text from the program itself (not mail data); appended as-is.
    Line& msg(std::string_view text);

private:
    Level level_;
    bool active_;
    std::string prefix_;
    std::string body_;
};

inline Line error() noexcept { return Line(Level::error); }
inline Line warning() noexcept { return Line(Level::warning); }
inline Line notice() noexcept { return Line(Level::notice); }
inline Line info() noexcept { return Line(Level::info); }
inline Line debug() noexcept { return Line(Level::debug); }

}  // namespace mailmoat::log
