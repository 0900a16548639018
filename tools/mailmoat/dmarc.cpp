// tools/mailmoat/dmarc.cpp - the `mailmoat dmarc` group: a table of subcommands, one line each.
#include <ostream>
#include <string_view>

#include "tools/mailmoat/dmarc.hpp"
#include "tools/mailmoat/dmarc_commands.hpp"

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
    {"report", "build and send aggregate reports from the recorded evaluations", run_dmarc_report},
    {"ingest", "store aggregate reports received from others", run_dmarc_ingest},
    {"summary", "per-source pass/fail of the received reports", run_dmarc_summary},
    {"html", "write the received reports as one HTML page", run_dmarc_html},
    {"import-records", "add evaluation records given as text lines (tests, migrations)", run_dmarc_import_records},
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

const Registration registration{{"dmarc", "DMARC policy lookups and aggregate reports (check, report, ingest, summary, html)", run}};

}  // namespace

}  // namespace mailmoat::cli
