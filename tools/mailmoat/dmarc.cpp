// tools/mailmoat/dmarc.cpp - the `mailmoat dmarc` group: a table of subcommands, one line each.
#include <ostream>
#include <string_view>

#include "tools/mailmoat/dmarc.hpp"

namespace mailmoat::cli {

namespace {

struct Subcommand {
    std::string_view name;
    std::string_view summary;
    int (*run)(const std::vector<std::string>& args, Io& io);
};

// One line per subcommand; the function lives in dmarc_<name>.cpp and is declared in dmarc.hpp.
constexpr Subcommand subcommands[] = {
    {"check", "show the DNS queries, record, organisational domain and policy for a domain", dmarc_check},
};

void usage(std::ostream& out) {
    out << "usage: mailmoat dmarc <subcommand> [arguments]\n\nsubcommands:\n";
    for (const auto& s : subcommands) {
        out << "  " << s.name;
        for (auto i = s.name.size(); i < 10; ++i) out << ' ';
        out << s.summary << '\n';
    }
    out << "\n`mailmoat dmarc <subcommand> --help` describes a subcommand; see mailmoat(1).\n";
}

int run(const std::vector<std::string>& args, Io& io) {
    if (args.empty()) {
        usage(io.err);
        return Exit::usage;
    }
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        usage(io.out);
        return Exit::ok;
    }
    for (const auto& s : subcommands)
        if (s.name == args[0]) return s.run(std::vector<std::string>(args.begin() + 1, args.end()), io);
    io.err << "mailmoat dmarc: unknown subcommand '" << args[0] << "' (try: mailmoat dmarc --help)\n";
    return Exit::usage;
}

const Registration registration{{"dmarc", "DMARC policy lookups (check)", run}};

}  // namespace

}  // namespace mailmoat::cli
