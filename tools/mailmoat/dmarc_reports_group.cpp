// tools/mailmoat/dmarc_reports_group.cpp - temporary command group `dmarc-reports` for the DMARC report
// subcommands until they join the `dmarc` group's table.
#include <ostream>

#include "tools/mailmoat/dmarc_commands.hpp"

namespace mailmoat::cli {
namespace {

struct Sub {
    const char* name;
    const char* summary;
    int (*run)(const std::vector<std::string>&, Io&);
};

const Sub subs[] = {
    {"report", "build and send aggregate reports from the recorded evaluations", run_dmarc_report},
    {"ingest", "store aggregate reports received from others", run_dmarc_ingest},
    {"summary", "per-source pass/fail of the received reports", run_dmarc_summary},
    {"html", "write the received reports as one HTML page", run_dmarc_html},
    {"import-records", "add evaluation records given as text lines (tests, migrations)", run_dmarc_import_records},
};

int run(const std::vector<std::string>& args, Io& io) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
        auto& out = args.empty() ? io.err : io.out;
        out << "usage: mailmoat dmarc-reports <subcommand> [options]\n\nsubcommands:\n";
        for (const auto& s : subs) out << "  " << s.name << std::string(16 - std::string(s.name).size(), ' ') << s.summary << '\n';
        return args.empty() ? Exit::usage : Exit::ok;
    }
    for (const auto& s : subs)
        if (args[0] == s.name) return s.run(std::vector<std::string>(args.begin() + 1, args.end()), io);
    io.err << "mailmoat dmarc-reports: unknown subcommand '" << args[0] << "'\n";
    return Exit::usage;
}

const Registration reg{{"dmarc-reports", "DMARC aggregate reports: report, ingest, summary, html", run}};

}  // namespace
}  // namespace mailmoat::cli
