// tools/mailmoat/command.hpp - the CLI's subcommand registry: each group (dkim, grey, dmarc, checks,
// postfix-config, ...) registers one entry point from its own file; main.cpp dispatches by name.
#pragma once
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace mailmoat::cli {

/// Exit codes shared by every subcommand (sysexits.h where one fits).
enum Exit : int {
    ok = 0,
    failed = 1,        // the command ran and found a problem (bad key, failing check, ...)
    usage = 64,        // EX_USAGE: bad arguments
    data_error = 65,   // EX_DATAERR: input that cannot be used
    no_input = 66,     // EX_NOINPUT: a named file cannot be read
    unavailable = 69,  // EX_UNAVAILABLE: a needed service (store, DNS) cannot be reached
    software = 70,     // EX_SOFTWARE: unexpected internal error
    cant_create = 73,  // EX_CANTCREAT: an output file cannot be written
    temp_fail = 75,    // EX_TEMPFAIL: try again later
    config = 78,       // EX_CONFIG: a configuration file is wrong
};

/// Where a command writes: standard output for results, standard error for diagnostics. Tests pass
/// string streams.
struct Io {
    std::istream& in;
    std::ostream& out;
    std::ostream& err;
};

/// One subcommand group: `mailmoat <name> <args...>`. `run` receives the arguments after the group name
/// and returns an Exit code; it prints its own usage for `--help` or an empty argument list.
struct Command {
    std::string_view name;
    std::string_view summary;  // one line for `mailmoat help`
    int (*run)(const std::vector<std::string>& args, Io& io);
};

/// Every registered group, sorted by name.
[[nodiscard]] const std::vector<Command>& commands();
/// The group named `name`, or nullptr.
[[nodiscard]] const Command* find_command(std::string_view name);
/// Runs `mailmoat <args...>` (args without argv[0]): dispatches, catches every exception (reported on
/// io.err, Exit::software or Exit::config), and returns the exit code.
[[nodiscard]] int run_main(const std::vector<std::string>& args, Io& io);

/// Registers a group at static-initialisation time: `static const Registration reg{{"dkim", "...", run}};`
struct Registration {
    explicit Registration(Command c);
};

}  // namespace mailmoat::cli
