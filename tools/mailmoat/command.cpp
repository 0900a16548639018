// tools/mailmoat/command.cpp - the subcommand registry and top-level dispatch (help, version, errors).
#include "tools/mailmoat/command.hpp"

#include <algorithm>
#include <exception>
#include <ostream>

#include "common/config/options.hpp"
#include "tools/mailmoat/args.hpp"
#include "mailmoat/version.hpp"

namespace mailmoat::cli {

namespace {

std::vector<Command>& registry() {
    static std::vector<Command> all;
    return all;
}

void print_help(std::ostream& out) {
    out << "usage: mailmoat <command> [arguments]\n\n"
           "commands:\n";
    for (const auto& c : commands()) {
        out << "  " << c.name;
        for (auto i = c.name.size(); i < 16; ++i) out << ' ';
        out << c.summary << '\n';
    }
    out << "  help            this list\n"
           "  version         print the version\n\n"
           "`mailmoat <command> --help` describes a command; see mailmoat(1).\n";
}

}  // namespace

Registration::Registration(Command c) {
    auto& all = registry();
    all.push_back(c);
    std::sort(all.begin(), all.end(), [](const Command& a, const Command& b) { return a.name < b.name; });
}

const std::vector<Command>& commands() { return registry(); }

const Command* find_command(std::string_view name) {
    for (const auto& c : registry())
        if (c.name == name) return &c;
    return nullptr;
}

int run_main(const std::vector<std::string>& args, Io& io) {
    if (args.empty()) {
        print_help(io.err);
        return Exit::usage;
    }
    const auto& name = args.front();
    if (name == "help" || name == "--help" || name == "-h") {
        if (args.size() > 1) {
            if (const auto* c = find_command(args[1])) return c->run({"--help"}, io);
            io.err << "mailmoat: unknown command '" << args[1] << "'\n";
            return Exit::usage;
        }
        print_help(io.out);
        return Exit::ok;
    }
    if (name == "version" || name == "--version") {
        io.out << "mailmoat " << mailmoat::version << '\n';
        return Exit::ok;
    }
    const auto* c = find_command(name);
    if (!c) {
        io.err << "mailmoat: unknown command '" << name << "' (try: mailmoat help)\n";
        return Exit::usage;
    }
    try {
        return c->run(std::vector<std::string>(args.begin() + 1, args.end()), io);
    } catch (const UsageError& e) {
        io.err << "mailmoat " << name << ": " << e.what() << " (try: mailmoat " << name << " --help)\n";
        return Exit::usage;
    } catch (const config::ConfigError& e) {
        io.err << "mailmoat " << name << ": " << e.what() << '\n';
        return Exit::config;
    } catch (const std::exception& e) {
        io.err << "mailmoat " << name << ": " << e.what() << '\n';
        return Exit::software;
    }
}

}  // namespace mailmoat::cli
