// common/config/options.hpp - every setting defined once (name, type, default, help); parsed from
// the command line (Boost.Program_options) and a "key = value" config file, command line winning.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace mailmoat::config {

/// A configuration problem: the message names the file, line and key (or "command line").
/// Programs exit with EX_CONFIG (78) on it.
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

inline constexpr int exit_config_error = 78;  // EX_CONFIG

enum class Type { string, uint, boolean, list, duration };

struct OptionDef {
    std::string name;
    Type type = Type::string;
    std::string default_text;  // as it would be written in the config file
    std::string help;
    std::uint64_t min = 0;
    std::uint64_t max = UINT64_MAX;
    bool cli_only = false;  // --config, --check-config, ... are not config-file keys
};

/// The set of settings one program accepts, with defaults and help.
class Schema {
public:
    Schema(std::string program, std::string summary);

    Schema& add_string(std::string name, std::string def, std::string help);
    Schema& add_uint(std::string name, std::uint64_t def, std::uint64_t min, std::uint64_t max, std::string help);
    Schema& add_bool(std::string name, bool def, std::string help);
    /// A list: comma- or space-separated, and the key may be repeated (values accumulate).
    Schema& add_list(std::string name, std::vector<std::string> def, std::string help);
    /// A duration: integer with optional unit s, m, h, d, w (default seconds).
    Schema& add_duration(std::string name, std::chrono::seconds def, std::string help);

    /// Adds the options every mailmoat daemon shares: config, foreground, check-config,
    /// dump-defaults, version, help, socket, dns-server, user, group, log-level, pid-file.
    Schema& add_common_daemon_options(std::string default_socket, std::string default_config_file);

    [[nodiscard]] const std::string& program() const noexcept { return program_; }
    [[nodiscard]] const std::string& summary() const noexcept { return summary_; }
    [[nodiscard]] const std::vector<OptionDef>& options() const noexcept { return options_; }
    [[nodiscard]] const OptionDef* find(std::string_view name) const noexcept;

    /// A commented config file with every key, its default and help (for --dump-defaults).
    [[nodiscard]] std::string dump_defaults() const;
    /// Usage text for --help.
    [[nodiscard]] std::string help_text() const;

private:
    Schema& add(OptionDef def);
    std::string program_;
    std::string summary_;
    std::vector<OptionDef> options_;
};

/// Parsed and validated values. Accessors throw std::logic_error for a name the schema lacks or a
/// type mismatch (programming errors, not configuration errors).
class Values {
public:
    [[nodiscard]] const std::string& str(std::string_view name) const;
    [[nodiscard]] std::uint64_t uint(std::string_view name) const;
    [[nodiscard]] bool flag(std::string_view name) const;
    [[nodiscard]] const std::vector<std::string>& list(std::string_view name) const;
    [[nodiscard]] std::chrono::seconds duration(std::string_view name) const;
    /// Where a value came from: "FILE:LINE", "command line" or "default".
    [[nodiscard]] std::string source(std::string_view name) const;
    /// A ConfigError naming the option's source, for validation in a program's settings.cpp.
    [[nodiscard]] ConfigError error(std::string_view name, std::string_view problem) const;
    /// The effective configuration as "key = value  # source" lines (for --check-config).
    [[nodiscard]] std::string render() const;

private:
    friend Values parse(const Schema&, const std::vector<std::string>&);
    struct Entry {
        OptionDef def;  // a copy: Values outlive the Schema they came from
        std::string text;  // as written (lists joined by ", ")
        std::string source = "default";
        std::uint64_t number = 0;
        bool boolean = false;
        std::vector<std::string> items;
    };
    const Entry& entry(std::string_view name, Type type) const;
    std::map<std::string, Entry, std::less<>> entries_;
    std::vector<std::string> order_;
};

/// Parses args (without argv[0]) and, unless --config is empty, the config file it names (default
/// from the schema; a missing default file is not an error, a missing named file is).
/// Throws ConfigError for unknown keys, bad values, duplicate scalar keys, unreadable files.
[[nodiscard]] Values parse(const Schema& schema, const std::vector<std::string>& args);

/// Helpers shared with other parsers.
[[nodiscard]] bool parse_bool(std::string_view text, bool& out) noexcept;
[[nodiscard]] bool parse_duration(std::string_view text, std::chrono::seconds& out) noexcept;
[[nodiscard]] std::vector<std::string> split_list(std::string_view text);

}  // namespace mailmoat::config
