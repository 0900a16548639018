// common/log/logger.cpp - syslog/stderr backends, level filter, value escaping.
#include "common/log/logger.hpp"

#include <syslog.h>

#include <atomic>
#include <cstdio>
#include <mutex>

namespace mailmoat::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::info)};
std::atomic<bool> g_stderr{true};
std::mutex g_mutex;  // guards g_ident, g_sink and stderr writes
std::string g_ident = "mailmoat";
std::function<void(Level, std::string_view)> g_sink;
std::atomic<bool> g_has_sink{false};  // g_sink is set: only then (and for stderr) emit() takes g_mutex

int syslog_priority(Level level) {
    switch (level) {
    case Level::error: return LOG_ERR;
    case Level::warning: return LOG_WARNING;
    case Level::notice: return LOG_NOTICE;
    case Level::info: return LOG_INFO;
    case Level::debug: return LOG_DEBUG;
    }
    return LOG_INFO;
}

void emit(Level level, const std::string& line) {
    // syslog(3) serialises itself (one send on its datagram socket); connection threads logging
    // decisions do not also queue on our mutex.
    if (!g_has_sink.load(std::memory_order_acquire) && !g_stderr.load(std::memory_order_relaxed)) {
        syslog(syslog_priority(level), "%s", line.c_str());
        return;
    }
    std::lock_guard<std::mutex> guard(g_mutex);
    if (g_sink) {
        g_sink(level, line);
        return;
    }
    if (g_stderr.load()) {
        std::fprintf(stderr, "%s: %s: %s\n", g_ident.c_str(), level_name(level), line.c_str());
        return;
    }
    syslog(syslog_priority(level), "%s", line.c_str());
}

}  // namespace

std::optional<Level> parse_level(std::string_view name) {
    if (name == "error" || name == "err") return Level::error;
    if (name == "warning" || name == "warn") return Level::warning;
    if (name == "notice") return Level::notice;
    if (name == "info") return Level::info;
    if (name == "debug") return Level::debug;
    return std::nullopt;
}

const char* level_name(Level level) noexcept {
    switch (level) {
    case Level::error: return "error";
    case Level::warning: return "warning";
    case Level::notice: return "notice";
    case Level::info: return "info";
    case Level::debug: return "debug";
    }
    return "info";
}

void init(std::string ident, bool to_stderr, Level level) {
    {
        std::lock_guard<std::mutex> guard(g_mutex);
        g_ident = std::move(ident);
        if (!to_stderr) openlog(g_ident.c_str(), LOG_PID | LOG_NDELAY, LOG_MAIL);
    }
    g_stderr.store(to_stderr);
    set_level(level);
}

void set_level(Level level) noexcept { g_level.store(static_cast<int>(level)); }

bool enabled(Level level) noexcept { return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed); }

void set_sink(std::function<void(Level, std::string_view)> sink) {
    std::lock_guard<std::mutex> guard(g_mutex);
    g_sink = std::move(sink);
    g_has_sink.store(static_cast<bool>(g_sink), std::memory_order_release);
}

std::string escape(std::string_view value, std::size_t max_len) {
    static constexpr char hex[] = "0123456789abcdef";
    bool quote = value.empty();
    std::string out;
    out.reserve(value.size() + 2);
    bool truncated = false;
    for (const char ch : value) {
        if (out.size() >= max_len) {
            truncated = true;
            break;
        }
        const auto c = static_cast<unsigned char>(ch);
        if (c == ' ' || c == '=') quote = true;
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20 || c >= 0x7f) {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xf];
        } else {
            out += ch;
        }
    }
    if (truncated) out += "...";
    if (quote) return "\"" + out + "\"";
    return out;
}

Line::~Line() {
    if (!active_) return;
    try {
        emit(level_, prefix_ + body_);
    } catch (...) {  // logging must never take a daemon down
    }
}

Line& Line::queue_id(std::string_view id) {
    if (active_ && !id.empty()) prefix_ = escape(id, 32) + ": ";
    return *this;
}

Line& Line::kv(std::string_view key, std::string_view value) {
    if (!active_) return *this;
    if (!body_.empty()) body_ += ' ';
    body_.append(key);
    body_ += '=';
    body_ += escape(value);
    return *this;
}

Line& Line::kv(std::string_view key, std::int64_t value) {
    if (!active_) return *this;
    if (!body_.empty()) body_ += ' ';
    body_.append(key);
    body_ += '=';
    body_ += std::to_string(value);
    return *this;
}

Line& Line::kv(std::string_view key, double value) {
    if (!active_) return *this;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", value);
    if (!body_.empty()) body_ += ' ';
    body_.append(key);
    body_ += '=';
    body_ += buf;
    return *this;
}

Line& Line::msg(std::string_view text) {
    if (!active_) return *this;
    if (!body_.empty()) body_ += ' ';
    body_.append(text);
    return *this;
}

}  // namespace mailmoat::log
