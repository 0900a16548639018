// common/config/options.cpp - Schema, config-file reader with line numbers, Program_options command line.
#include "common/config/options.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/stat.h>

namespace po = boost::program_options;

namespace mailmoat::config {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

const char* type_hint(Type t) {
    switch (t) {
    case Type::string: return "string";
    case Type::uint: return "number";
    case Type::boolean: return "yes|no";
    case Type::list: return "list";
    case Type::duration: return "duration";
    }
    return "";
}

std::string wrap_comment(const std::string& text) {
    std::string out;
    std::istringstream words(text);
    std::string word;
    std::string line = "#";
    while (words >> word) {
        if (line.size() + word.size() + 1 > 96) {
            out += line + "\n";
            line = "#";
        }
        line += " " + word;
    }
    return out + line + "\n";
}

struct RawValue {
    std::string text;
    std::string source;
};

}  // namespace

bool parse_bool(std::string_view t, bool& out) noexcept {
    if (t == "yes" || t == "true" || t == "on" || t == "1") {
        out = true;
        return true;
    }
    if (t == "no" || t == "false" || t == "off" || t == "0") {
        out = false;
        return true;
    }
    return false;
}

bool parse_duration(std::string_view t, std::chrono::seconds& out) noexcept {
    if (t.empty()) return false;
    std::uint64_t mult = 1;
    switch (t.back()) {
    case 's': mult = 1; t.remove_suffix(1); break;
    case 'm': mult = 60; t.remove_suffix(1); break;
    case 'h': mult = 3600; t.remove_suffix(1); break;
    case 'd': mult = 86400; t.remove_suffix(1); break;
    case 'w': mult = 604800; t.remove_suffix(1); break;
    default: break;
    }
    std::uint64_t n = 0;
    const auto* end = t.data() + t.size();
    auto [p, ec] = std::from_chars(t.data(), end, n);
    if (t.empty() || ec != std::errc{} || p != end || n > (1ULL << 40) / mult) return false;
    out = std::chrono::seconds(static_cast<std::chrono::seconds::rep>(n * mult));
    return true;
}

std::vector<std::string> split_list(std::string_view text) {
    std::vector<std::string> out;
    std::string cur;
    for (const char c : text) {
        if (c == ',' || c == ' ' || c == '\t') {
            if (!cur.empty()) out.push_back(std::move(cur));
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    return out;
}

Schema::Schema(std::string program, std::string summary) : program_(std::move(program)), summary_(std::move(summary)) {}

Schema& Schema::add(OptionDef def) {
    if (find(def.name) != nullptr) throw std::logic_error("duplicate option " + def.name);
    options_.push_back(std::move(def));
    return *this;
}

Schema& Schema::add_string(std::string name, std::string def, std::string help) {
    return add({std::move(name), Type::string, std::move(def), std::move(help)});
}

Schema& Schema::add_uint(std::string name, std::uint64_t def, std::uint64_t min, std::uint64_t max, std::string help) {
    return add({std::move(name), Type::uint, std::to_string(def), std::move(help), min, max});
}

Schema& Schema::add_bool(std::string name, bool def, std::string help) {
    return add({std::move(name), Type::boolean, def ? "yes" : "no", std::move(help)});
}

Schema& Schema::add_list(std::string name, std::vector<std::string> def, std::string help) {
    std::string text;
    for (const auto& d : def) text += (text.empty() ? "" : ", ") + d;
    return add({std::move(name), Type::list, std::move(text), std::move(help)});
}

Schema& Schema::add_duration(std::string name, std::chrono::seconds def, std::string help) {
    return add({std::move(name), Type::duration, std::to_string(def.count()) + "s", std::move(help)});
}

Schema& Schema::add_common_daemon_options(std::string default_socket, std::string default_config_file) {
    add({"config", Type::string, std::move(default_config_file), "Configuration file to read.", 0, 0, true});
    add({"foreground", Type::boolean, "no", "Stay in the foreground and log to stderr instead of syslog.", 0, 0, true});
    add({"check-config", Type::boolean, "no", "Validate the configuration, print the effective settings and exit (0 ok, 1 error).", 0, 0, true});
    add({"dump-defaults", Type::boolean, "no", "Print a commented configuration file with every key and its default, then exit.", 0, 0, true});
    add({"version", Type::boolean, "no", "Print the version and exit.", 0, 0, true});
    add({"help", Type::boolean, "no", "Print this help and exit.", 0, 0, true});
    add_string("socket", std::move(default_socket),
               "Where to listen: unix:/path, inet:host:port (Postfix spelling), inet:port@host or inet6:port@host (libmilter spelling).");
    add_string("socket-owner", "", "Owner of a UNIX socket (user[:group]); empty keeps the daemon's user.");
    add_string("socket-mode", "0660", "Permissions of a UNIX socket (octal).");
    add_string("dns-server", "", "DNS server as HOST[:PORT]; empty uses the nameservers of /etc/resolv.conf.");
    add_duration("dns-timeout", std::chrono::seconds(5), "Timeout of one DNS query attempt.");
    add_uint("dns-retries", 1, 0, 5, "Retries of a DNS query after a timeout.");
    add_string("user", "mailmoat", "Run as this user after opening sockets and reading keys (when started as root).");
    add_string("group", "mailmoat", "Run as this group after opening sockets and reading keys (when started as root).");
    add_string("log-level", "info", "Least severe level logged: error, warning, notice, info, debug.");
    add_string("pid-file", "", "Write the process id to this file; empty writes none.");
    return *this;
}

const OptionDef* Schema::find(std::string_view name) const noexcept {
    for (const auto& o : options_)
        if (o.name == name) return &o;
    return nullptr;
}

std::string Schema::dump_defaults() const {
    std::string out = "# " + program_ + " - " + summary_ + "\n# Every key with its default value.\n";
    for (const auto& o : options_) {
        if (o.cli_only) continue;
        out += "\n" + wrap_comment(o.help + " (" + type_hint(o.type) + ")");
        out += "#" + o.name + " = " + o.default_text + "\n";
    }
    return out;
}

std::string Schema::help_text() const {
    std::string out = "Usage: " + program_ + " [options]\n" + summary_ + "\n\nOptions (also valid as 'key = value' in the config file):\n";
    for (const auto& o : options_) {
        std::string head = "  --" + o.name;
        if (o.type != Type::boolean || !o.cli_only) head += std::string(" ") + (o.type == Type::boolean ? "[yes|no]" : "ARG");
        out += head;
        out += head.size() < 30 ? std::string(30 - head.size(), ' ') : std::string("\n") + std::string(30, ' ');
        out += o.help;
        if (!o.default_text.empty() && !o.cli_only) out += " [" + o.default_text + "]";
        out += "\n";
    }
    return out;
}

const Values::Entry& Values::entry(std::string_view name, Type type) const {
    const auto it = entries_.find(name);
    if (it == entries_.end()) throw std::logic_error("unknown option " + std::string(name));
    if (it->second.def.type != type) throw std::logic_error("option type mismatch for " + std::string(name));
    return it->second;
}

const std::string& Values::str(std::string_view name) const { return entry(name, Type::string).text; }
std::uint64_t Values::uint(std::string_view name) const { return entry(name, Type::uint).number; }
bool Values::flag(std::string_view name) const { return entry(name, Type::boolean).boolean; }
const std::vector<std::string>& Values::list(std::string_view name) const { return entry(name, Type::list).items; }
std::chrono::seconds Values::duration(std::string_view name) const {
    return std::chrono::seconds(static_cast<std::chrono::seconds::rep>(entry(name, Type::duration).number));
}

std::string Values::source(std::string_view name) const {
    const auto it = entries_.find(name);
    return it == entries_.end() ? "unknown" : it->second.source;
}

ConfigError Values::error(std::string_view name, std::string_view problem) const {
    return ConfigError(source(name) + ": " + std::string(name) + ": " + std::string(problem));
}

std::string Values::render() const {
    std::string out;
    for (const auto& name : order_) {
        const auto& e = entries_.at(name);
        if (e.def.cli_only) continue;
        out += name + " = " + e.text;
        if (e.source != "default") out += "    # " + e.source;
        out += "\n";
    }
    return out;
}

Values parse(const Schema& schema, const std::vector<std::string>& args) {
    // Command line through Program_options: every option takes a string; booleans may be given bare.
    po::options_description desc;
    for (const auto& o : schema.options()) {
        if (o.type == Type::boolean) {
            // "--flag" means yes; "--flag=no" gives a value. "--flag no" is refused (a stray
            // positional argument) rather than silently read as yes.
            desc.add_options()(o.name.c_str(), po::value<std::vector<std::string>>()->implicit_value({"yes"}, "yes")->composing());
        } else {
            desc.add_options()(o.name.c_str(), po::value<std::vector<std::string>>()->composing());
        }
    }
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(args).options(desc).style(po::command_line_style::default_style & ~po::command_line_style::allow_guessing).run(), vm);
    } catch (const po::error& e) {
        throw ConfigError(std::string("command line: ") + e.what());
    }

    std::map<std::string, std::vector<RawValue>, std::less<>> raw;
    for (const auto& o : schema.options()) {
        if (vm.count(o.name) == 0U) continue;
        for (const auto& v : vm[o.name].as<std::vector<std::string>>()) raw[o.name].push_back({v, "command line"});
    }

    // Config file: "key = value", '#' comments, blank lines; command-line keys take precedence.
    std::string config_path;
    bool explicit_config = false;
    if (const auto* def = schema.find("config")) {
        config_path = def->default_text;
        if (auto it = raw.find("config"); it != raw.end()) {
            config_path = it->second.back().text;
            explicit_config = true;
        }
    }
    if (!config_path.empty()) {
        std::ifstream in(config_path);
        struct stat st{};
        if (!in) {
            if (explicit_config || ::stat(config_path.c_str(), &st) == 0)
                throw ConfigError(config_path + ": cannot read configuration file");
        } else {
            std::map<std::string, std::vector<RawValue>, std::less<>> from_file;
            std::string line;
            unsigned lineno = 0;
            while (std::getline(in, line)) {
                ++lineno;
                if (line.size() > 8192) throw ConfigError(config_path + ":" + std::to_string(lineno) + ": line too long");
                auto view = trim(line);
                if (view.empty() || view.front() == '#') continue;
                const auto where = config_path + ":" + std::to_string(lineno);
                const auto eq = view.find('=');
                if (eq == std::string_view::npos) throw ConfigError(where + ": expected 'key = value'");
                const auto key = std::string(trim(view.substr(0, eq)));
                auto value = trim(view.substr(eq + 1));
                if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
                const auto* def = schema.find(key);
                if (def == nullptr || def->cli_only) throw ConfigError(where + ": unknown key '" + key + "'");
                auto& slot = from_file[key];
                if (!slot.empty() && def->type != Type::list)
                    throw ConfigError(where + ": " + key + ": given twice (first at " + slot.front().source + ")");
                slot.push_back({std::string(value), where});
            }
            for (auto& [key, values] : from_file)
                if (raw.find(key) == raw.end()) raw[key] = std::move(values);
        }
    }

    Values out;
    for (const auto& o : schema.options()) {
        Values::Entry e;
        e.def = o;
        std::vector<RawValue> given;
        if (auto it = raw.find(o.name); it != raw.end()) given = it->second;
        if (given.empty()) given.push_back({o.default_text, "default"});
        if (o.type != Type::list && given.size() > 1) given.erase(given.begin(), given.end() - 1);
        e.source = given.back().source;
        const auto bad = [&](const std::string& why) {
            return ConfigError(e.source + ": " + o.name + ": " + why);
        };
        const auto& text = given.back().text;
        switch (o.type) {
        case Type::string:
            e.text = text;
            break;
        case Type::boolean:
            if (!parse_bool(text, e.boolean)) throw bad("expected yes or no, got '" + text + "'");
            e.text = e.boolean ? "yes" : "no";
            break;
        case Type::uint: {
            const auto* end = text.data() + text.size();
            auto [p, ec] = std::from_chars(text.data(), end, e.number);
            if (text.empty() || ec != std::errc{} || p != end) throw bad("expected a number, got '" + text + "'");
            if (e.number < o.min || e.number > o.max)
                throw bad("value " + text + " out of range " + std::to_string(o.min) + ".." + std::to_string(o.max));
            e.text = text;
            break;
        }
        case Type::duration: {
            std::chrono::seconds d{};
            if (!parse_duration(text, d)) throw bad("expected a duration such as 300s, 5m, 2d; got '" + text + "'");
            e.number = static_cast<std::uint64_t>(d.count());
            e.text = text;
            break;
        }
        case Type::list:
            for (const auto& g : given)
                for (auto& item : split_list(g.text)) e.items.push_back(std::move(item));
            for (const auto& item : e.items) e.text += (e.text.empty() ? "" : ", ") + item;
            break;
        }
        out.order_.push_back(o.name);
        out.entries_.emplace(o.name, std::move(e));
    }
    return out;
}

}  // namespace mailmoat::config
