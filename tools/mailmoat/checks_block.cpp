// tools/mailmoat/checks_block.cpp - `mailmoat checks block|unblock|list`: the managed blocklist table of
// mailmoat-checks. Entries are appended as PCRE-quoted rules with a comment (id, UTC time, kind, value,
// reason); the whole table is compiled as the daemon compiles it before it atomically replaces the old
// one, then the daemon is sent SIGHUP.
#include "tools/mailmoat/checks_block.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>

#include "common/checks/action.hpp"
#include "common/checks/blocklist.hpp"
#include "common/checks/scanner.hpp"
#include "common/log/logger.hpp"
#include "milters/checks/settings.hpp"
#include "tools/mailmoat/args.hpp"
#include "tools/mailmoat/command.hpp"

namespace mailmoat::cli {
namespace {

namespace po = boost::program_options;

constexpr std::size_t max_message_bytes = 64U << 20;
constexpr std::size_t max_table_bytes = 64U << 20;
constexpr const char* default_action = "REJECT 5.7.1 Message rejected by local blocklist";

void block_usage(std::ostream& out) {
    out << "usage: mailmoat checks block --by KIND [--value V] [--reason TEXT] [--action ACTION] [COMMON] [MESSAGE | -]\n"
           "       mailmoat checks unblock [--by KIND] [COMMON] ID|VALUE\n"
           "       mailmoat checks list [--config FILE] [--table T]\n"
           "COMMON: [--config FILE] [--table T] [--pid-file F] [--no-reload]\n"
           "\n"
           "KIND is sender, from-domain, subject, client-ip or message-id-domain. block reads the message (a file,\n"
           "or - / nothing for standard input), takes the value (--value gives it directly), and appends a rule\n"
           "with a comment (id, UTC time, reason) to the managed table: blocklist-table of mailmoat-checks.conf\n"
           "(--config, default /etc/mailmoat/mailmoat-checks.conf) or --table. The whole table is compiled as\n"
           "mailmoat-checks compiles it, written atomically (mode and owner kept), and the daemon is sent SIGHUP\n"
           "(pid-file of the configuration, or --pid-file) unless --no-reload. unblock removes entries by id or\n"
           "value; list shows them. The default action is \"" << default_action << "\".\n"
           "Exit status: 0 done, 1 already blocked / not found, 64 bad arguments, 65 the message does not give\n"
           "the value, 66 unreadable message, 69 table written but the daemon not reloaded, 73 table not\n"
           "writable, 78 the table (or the configuration) is broken: FILE:LINE named, nothing written.\n";
}

void common_options(po::options_description& o) {
    o.add_options()("help", "")("config", po::value<std::string>(), "")("table", po::value<std::string>(), "")(
        "pid-file", po::value<std::string>(), "")("no-reload", "");
}

/// Where the managed table is, how the daemon compiles it, and whom to reload.
struct Target {
    std::string spec;        // "pcre:/etc/mailmoat/blocklist"
    std::string path;        // "/etc/mailmoat/blocklist"
    std::string pid_file;    // "" when none
    table::Limits limits;    // as the daemon's build_settings() sets them
};

Target target(const po::variables_map& vm) {
    std::vector<std::string> args;
    if (vm.count("config")) args = {"--config", vm["config"].as<std::string>()};
    const config::Values v = config::parse(checksd::make_schema(), args);
    Target t;
    t.spec = checksd::blocklist_spec(vm.count("table") ? vm["table"].as<std::string>() : v.str("blocklist-table"));
    if (t.spec.empty())
        throw UsageError("no blocklist table: set blocklist-table in mailmoat-checks.conf or give --table");
    if (t.spec.rfind("pcre:", 0) != 0) throw UsageError("the managed blocklist must be a pcre: table, not " + t.spec);
    t.path = checksd::blocklist_path(t.spec);
    t.pid_file = vm.count("pid-file") ? vm["pid-file"].as<std::string>() : v.str("pid-file");
    t.limits.match_limit = static_cast<std::uint32_t>(v.uint("pcre-match-limit"));
    return t;
}

std::string read_stream(std::istream& in, std::size_t limit, const char* what) {
    std::string data;
    char buf[65536];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        data.append(buf, static_cast<std::size_t>(in.gcount()));
        if (data.size() > limit) throw UsageError(std::string(what) + " larger than " + std::to_string(limit >> 20) + " MiB");
    }
    return data;
}

/// The table file's text; "" when it does not exist yet. Throws on other errors.
std::string read_table(const std::string& path, bool& exists) {
    std::ifstream f(path, std::ios::binary);
    exists = static_cast<bool>(f);
    if (!f) {
        if (errno == ENOENT) return {};
        throw std::runtime_error(path + ": " + std::strerror(errno));
    }
    return read_stream(f, max_table_bytes, "the table");
}

std::string utc_now() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (std::size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size()) s.replace(p, from.size(), to);
    return s;
}

enum class WriteResult { written, invalid, cant_write };

/// Writes text beside path in a temporary file (mode and owner of the old file, else 0644), compiles it
/// as the daemon would, and renames it over path. On a bad table nothing changes and `error` names
/// path:line.
WriteResult write_validated(const Target& t, const std::string& text, std::string& error) {
    const std::string tmp_template = t.path + ".tmp.XXXXXX";
    std::vector<char> name(tmp_template.begin(), tmp_template.end());
    name.push_back('\0');
    const int fd = ::mkstemp(name.data());
    if (fd < 0) {
        error = t.path + ": cannot create a temporary file beside it: " + std::strerror(errno);
        return WriteResult::cant_write;
    }
    const std::string tmp(name.data());
    auto fail = [&](WriteResult r, std::string why) {
        ::close(fd);
        ::unlink(tmp.c_str());
        error = std::move(why);
        return r;
    };
    struct stat st {};
    mode_t mode = 0644;
    if (::stat(t.path.c_str(), &st) == 0) {
        mode = st.st_mode & 07777;
        if (::geteuid() == 0 && ::fchown(fd, st.st_uid, st.st_gid) != 0)
            return fail(WriteResult::cant_write, tmp + ": cannot set the owner: " + std::strerror(errno));
    }
    if (::fchmod(fd, mode) != 0) return fail(WriteResult::cant_write, tmp + ": cannot set the mode: " + std::strerror(errno));
    std::size_t off = 0;
    while (off < text.size()) {
        const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail(WriteResult::cant_write, tmp + ": write failed: " + std::strerror(errno));
        }
        off += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) return fail(WriteResult::cant_write, tmp + ": fsync failed: " + std::strerror(errno));
    try {
        (void)checks::open_tables({"pcre:" + tmp}, t.limits);
    } catch (const table::TableError& e) {
        return fail(WriteResult::invalid, replace_all(e.what(), tmp, t.path));
    }
    ::close(fd);
    if (::rename(tmp.c_str(), t.path.c_str()) != 0) {
        const std::string why = std::strerror(errno);
        ::unlink(tmp.c_str());
        error = t.path + ": cannot replace: " + why;
        return WriteResult::cant_write;
    }
    return WriteResult::written;
}

/// Sends SIGHUP to the daemon named by the pid file. Returns "" or why it could not.
std::string reload(const Target& t) {
    if (t.pid_file.empty()) return "no pid-file in the configuration (give --pid-file, or --no-reload)";
    std::ifstream f(t.pid_file);
    long pid = 0;
    if (!(f >> pid) || pid <= 1) return "cannot read a pid from " + t.pid_file;
    if (::kill(static_cast<pid_t>(pid), SIGHUP) != 0)
        return "cannot signal pid " + std::to_string(pid) + " (" + t.pid_file + "): " + std::strerror(errno);
    return {};
}

/// Writes, then reloads; the shared tail of block and unblock.
int commit(const po::variables_map& vm, const Target& t, const std::string& text, const std::string& done, Io& io) {
    std::string error;
    switch (write_validated(t, text, error)) {
    case WriteResult::invalid:
        io.err << "mailmoat checks: the blocklist table would not compile, nothing written:\n  " << error << '\n';
        return Exit::config;
    case WriteResult::cant_write: io.err << "mailmoat checks: " << error << '\n'; return Exit::cant_create;
    case WriteResult::written: break;
    }
    io.out << done << '\n';
    if (vm.count("no-reload")) return Exit::ok;
    const std::string why = reload(t);
    if (!why.empty()) {
        io.err << "mailmoat checks: " << t.path << " written, but mailmoat-checks was not reloaded: " << why << '\n';
        return Exit::unavailable;
    }
    io.out << "mailmoat-checks reloaded\n";
    return Exit::ok;
}

/// The value of --value in the form the daemon derives it.
std::optional<std::string> normalise(checks::BlockBy by, const std::string& v) {
    switch (by) {
    case checks::BlockBy::subject: {
        std::string s = checks::subject_value(v);
        return s.empty() ? std::nullopt : std::optional<std::string>(s);
    }
    case checks::BlockBy::from_domain:
    case checks::BlockBy::message_id_domain: {
        std::string d = v;
        if (const auto at = d.rfind('@'); at != std::string::npos) d.erase(0, at + 1);
        for (char& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (d.empty() || d.find_first_of(" \t<>") != std::string::npos) return std::nullopt;
        return d;
    }
    case checks::BlockBy::sender: return checks::sender_value(v);
    case checks::BlockBy::client_ip: return checks::client_ip_value(v);
    }
    return std::nullopt;
}

checks::BlockBy by_option(const po::variables_map& vm) {
    const std::string s = vm["by"].as<std::string>();
    const auto by = checks::parse_block_by(s);
    if (!by) throw UsageError("--by takes sender, from-domain, subject, client-ip or message-id-domain, not '" + s + "'");
    return *by;
}

}  // namespace

int checks_block(const std::vector<std::string>& args, Io& io) {
    po::options_description opts;
    common_options(opts);
    opts.add_options()("by", po::value<std::string>(), "")("value", po::value<std::string>(), "")(
        "reason", po::value<std::string>(), "")("action", po::value<std::string>(), "")(
        "message", po::value<std::string>(), "");
    po::positional_options_description pos;
    pos.add("message", 1);
    const auto vm = parse_args(args, opts, &pos);
    if (vm.count("help")) {
        block_usage(io.out);
        return Exit::ok;
    }
    if (!vm.count("by")) throw UsageError("--by is required (sender, from-domain, subject, client-ip, message-id-domain)");
    const checks::BlockBy by = by_option(vm);
    const std::string action = vm.count("action") ? vm["action"].as<std::string>() : default_action;
    const checks::Action a = checks::parse_action(action);
    if (a.kind == checks::ActionKind::unknown || a.kind == checks::ActionKind::invalid)
        throw UsageError("--action: " + a.why + " '" + action + "'");
    if (a.kind == checks::ActionKind::replace || a.kind == checks::ActionKind::ignore ||
        a.kind == checks::ActionKind::strip || a.kind == checks::ActionKind::filter ||
        action.find_first_of("\r\n") != std::string::npos)
        throw UsageError(std::string("--action: ") + checks::action_name(a.kind) + " cannot be a blocklist action");
    if (a.kind == checks::ActionKind::prepend && !checks::is_header_text(a.text))
        throw UsageError("--action: PREPEND needs a header \"Name: value\"");
    const std::string reason = vm.count("reason") ? vm["reason"].as<std::string>() : std::string();

    std::optional<std::string> value;
    if (vm.count("value")) {
        if (vm.count("message")) throw UsageError("give a message or --value, not both");
        value = normalise(by, vm["value"].as<std::string>());
        if (!value) throw UsageError("--value is not a valid " + std::string(checks::block_by_name(by)));
    } else {
        const std::string path = vm.count("message") ? vm["message"].as<std::string>() : "-";
        std::string data;
        if (path == "-") {
            data = read_stream(io.in, max_message_bytes, "the message");
        } else {
            std::ifstream f(path, std::ios::binary);
            if (!f) {
                io.err << "mailmoat checks: cannot read " << path << '\n';
                return Exit::no_input;
            }
            data = read_stream(f, max_message_bytes, "the message");
        }
        std::string why;
        value = checks::value_from_message(by, data, why);
        if (!value) {
            io.err << "mailmoat checks: cannot block by " << checks::block_by_name(by) << ": " << why << '\n';
            return Exit::data_error;
        }
    }

    const Target t = target(vm);
    bool exists = false;
    const checks::ManagedTable table = checks::parse_managed_table(read_table(t.path, exists));
    if (const checks::BlockEntry* e = checks::find_entry(table, by, *value)) {
        io.err << "mailmoat checks: " << checks::block_by_name(by) << ' ' << checks::quote_value(*value)
               << " is already blocked (entry " << e->id << ", added " << e->added << "); nothing changed\n";
        return Exit::failed;
    }
    std::size_t id = 0;
    const std::string text = checks::append_entry(table, by, *value, action, reason, utc_now(), id);
    return commit(vm, t, text,
                  "blocked " + std::string(checks::block_by_name(by)) + ' ' + checks::quote_value(*value) + " as entry " +
                      std::to_string(id) + " in " + t.path,
                  io);
}

int checks_unblock(const std::vector<std::string>& args, Io& io) {
    po::options_description opts;
    common_options(opts);
    opts.add_options()("by", po::value<std::string>(), "")("what", po::value<std::string>(), "");
    po::positional_options_description pos;
    pos.add("what", 1);
    const auto vm = parse_args(args, opts, &pos);
    if (vm.count("help")) {
        block_usage(io.out);
        return Exit::ok;
    }
    if (!vm.count("what")) throw UsageError("unblock needs an entry id or a value");
    const std::string what = vm["what"].as<std::string>();
    std::optional<checks::BlockBy> by;
    if (vm.count("by")) by = by_option(vm);
    const Target t = target(vm);
    bool exists = false;
    const checks::ManagedTable table = checks::parse_managed_table(read_table(t.path, exists));
    std::vector<std::size_t> ids;
    const bool numeric = !what.empty() && what.size() < 12 && what.find_first_not_of("0123456789") == std::string::npos;
    for (const checks::BlockEntry& e : table.entries) {
        if (by && e.by != *by) continue;
        if (numeric && !by) {
            if (std::to_string(e.id) == what) ids.push_back(e.id);
            continue;
        }
        const auto norm = normalise(e.by, what);
        if (checks::find_entry(checks::ManagedTable{{}, {e}, 0}, e.by, what) ||
            (norm && checks::find_entry(checks::ManagedTable{{}, {e}, 0}, e.by, *norm)))
            ids.push_back(e.id);
    }
    if (ids.empty()) {
        io.err << "mailmoat checks: no blocklist entry " << (numeric && !by ? "with id " + what : checks::quote_value(what))
               << " in " << t.path << "; nothing changed\n";
        return Exit::failed;
    }
    std::string done = "removed entr" + std::string(ids.size() == 1 ? "y" : "ies");
    for (std::size_t id : ids) done += ' ' + std::to_string(id);
    return commit(vm, t, checks::remove_entries(table, ids), done + " from " + t.path, io);
}

int checks_list(const std::vector<std::string>& args, Io& io) {
    po::options_description opts;
    common_options(opts);
    const auto vm = parse_args(args, opts);
    if (vm.count("help")) {
        block_usage(io.out);
        return Exit::ok;
    }
    const Target t = target(vm);
    bool exists = false;
    const checks::ManagedTable table = checks::parse_managed_table(read_table(t.path, exists));
    if (!exists) {
        io.out << "# " << t.path << " does not exist yet: no entries\n";
        return Exit::ok;
    }
    for (const checks::BlockEntry& e : table.entries) {
        io.out << e.id << ' ' << e.added << ' ' << checks::block_by_name(e.by) << ' ' << checks::quote_value(e.value);
        if (!e.reason.empty()) io.out << " reason=" << checks::quote_value(e.reason);
        io.out << " line=" << e.rule_line << '\n';
    }
    io.out << "# " << table.entries.size() << " entr" << (table.entries.size() == 1 ? "y" : "ies") << " in " << t.path
           << '\n';
    return Exit::ok;
}

}  // namespace mailmoat::cli
