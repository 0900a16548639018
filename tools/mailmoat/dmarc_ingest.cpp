// tools/mailmoat/dmarc_ingest.cpp - `mailmoat dmarc ingest`: aggregate reports that others send (a mail on
// standard input from a Postfix pipe transport or alias, files, Maildirs) into the store.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <istream>
#include <ostream>

#include "common/dmarc_report/report_reader.hpp"
#include "tools/mailmoat/args.hpp"
#include "tools/mailmoat/dmarc_commands.hpp"

namespace mailmoat::cli {
namespace {

namespace po = boost::program_options;
namespace fs = std::filesystem;
namespace dr = dmarc_report;

enum class Read { ok, too_large, failed };

Read read_bounded(std::istream& in, std::size_t limit, std::string& out) {
    char buf[65536];
    while (in) {
        in.read(buf, sizeof buf);
        const auto n = static_cast<std::size_t>(in.gcount());
        if (out.size() + n > limit) return Read::too_large;
        out.append(buf, n);
    }
    return in.bad() ? Read::failed : Read::ok;
}

std::string printable(std::string_view s, std::size_t max = 200) {
    std::string out;
    for (char c : s.substr(0, max)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
    return out;
}

struct Totals {
    int added = 0, duplicates = 0, rejected = 0, store_errors = 0;
};

void ingest_one(const std::string& name, std::string_view data, const dr::ReaderLimits& limits,
                store::DmarcReportStore& store, std::int64_t now, Io& io, Totals& t) {
    const auto rr = dr::read_reports(data, limits);
    if (rr.status != dr::ParseStatus::ok) {
        io.err << "rejected " << name << ": " << dr::parse_status_name(rr.status) << ": " << printable(rr.error) << '\n';
        ++t.rejected;
        return;
    }
    for (const auto& f : rr.reports) {
        if (f.status != dr::ParseStatus::ok) {
            io.err << "rejected " << name << " (" << printable(f.origin, 100) << "): " << dr::parse_status_name(f.status)
                   << ": " << printable(f.error) << '\n';
            ++t.rejected;
            continue;
        }
        const auto& m = f.report.metadata;
        const auto res = store.add_report(f.report, now);
        const char* what = store::ingest_outcome_name(res.outcome);
        if (res.outcome == store::IngestOutcome::tempfail) {
            io.err << "error " << name << ": store: " << printable(res.error) << '\n';
            ++t.store_errors;
            continue;
        }
        (res.outcome == store::IngestOutcome::added ? t.added : t.duplicates)++;
        io.out << what << " org=" << printable(m.org_name, 80) << " report_id=" << printable(m.report_id, 120)
               << " domain=" << printable(f.report.policy.domain, 100) << " format=" << dr::format_name(f.report.format)
               << " begin=" << m.begin << " end=" << m.end << " records=" << f.report.rows.size()
               << " messages=" << f.report.message_count() << '\n';
    }
}

}  // namespace

int run_dmarc_ingest(const std::vector<std::string>& args, Io& io) {
    po::options_description opts("options");
    opts.add_options()("help,h", "this text")(
        "store", po::value<std::string>()->default_value(""), "store URL (default: the `store` setting of --config)")(
        "config", po::value<std::string>()->default_value(default_dmarc_config), "mailmoat-dmarc configuration file")(
        "max-size", po::value<std::size_t>()->default_value(64), "largest message, file or unpacked report, MiB")(
        "input", po::value<std::vector<std::string>>()->default_value(std::vector<std::string>{}, ""), "files or Maildirs (default: standard input)");
    po::positional_options_description pos;
    pos.add("input", -1);
    const auto vm = parse_args(args, opts, &pos);
    if (vm.count("help")) {
        io.out << "usage: mailmoat dmarc ingest [options] [FILE|MAILDIR...]\n\n"
                  "Stores the aggregate reports in a report mail (standard input, e.g. from a Postfix pipe\n"
                  "transport), in .xml.gz/.zip/.xml files, in report mails saved as files, or in the cur/ and\n"
                  "new/ messages of a Maildir. A report already stored (same org_name and report_id) is ignored.\n"
                  "Exit 0: all stored or duplicates; 65: something was rejected; 75: store unavailable.\n\n"
               << opts;
        return Exit::ok;
    }
    dr::ReaderLimits limits;
    const std::size_t mib = vm["max-size"].as<std::size_t>();
    if (mib == 0 || mib > 4096) throw UsageError("--max-size out of range 1..4096");
    limits.max_input = limits.max_unpacked = limits.parse.max_bytes = limits.extract.max_attachment_bytes = mib << 20;
    auto store = open_dmarc_store(
        dmarc_store_url(vm["store"].as<std::string>(), vm["config"].as<std::string>(), !vm["config"].defaulted()));
    const auto now = static_cast<std::int64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
    Totals t;
    auto one_file = [&](const fs::path& p) {
        std::ifstream f(p, std::ios::binary);
        std::string data;
        const auto r = f ? read_bounded(f, limits.max_input, data) : Read::failed;
        if (r == Read::failed) {
            io.err << "rejected " << p.string() << ": cannot read\n";
            ++t.rejected;
        } else if (r == Read::too_large) {
            io.err << "rejected " << p.string() << ": hostile: over " << mib << " MiB\n";
            ++t.rejected;
        } else {
            ingest_one(p.string(), data, limits, *store, now, io, t);
        }
    };
    const auto inputs = vm["input"].as<std::vector<std::string>>();
    if (inputs.empty()) {
        std::string data;
        const auto r = read_bounded(io.in, limits.max_input, data);
        if (r != Read::ok) {
            io.err << "rejected stdin: " << (r == Read::too_large ? "hostile: message over the size limit" : "read error") << '\n';
            return Exit::data_error;
        }
        ingest_one("stdin", data, limits, *store, now, io, t);
    }
    for (const auto& in : inputs) {
        std::error_code ec;
        const fs::path p(in);
        if (fs::is_directory(p, ec)) {
            // A Maildir (cur/ and new/) or a plain directory of report files.
            std::vector<fs::path> files;
            const bool maildir = fs::is_directory(p / "cur", ec) || fs::is_directory(p / "new", ec);
            for (const auto& sub : maildir ? std::vector<fs::path>{p / "new", p / "cur"} : std::vector<fs::path>{p}) {
                if (!fs::is_directory(sub, ec)) continue;
                for (const auto& e : fs::directory_iterator(sub, ec))
                    if (e.is_regular_file(ec) && files.size() < 100000) files.push_back(e.path());
            }
            std::sort(files.begin(), files.end());
            for (const auto& f : files) one_file(f);
        } else if (fs::exists(p, ec)) {
            one_file(p);
        } else {
            io.err << "mailmoat dmarc ingest: " << in << ": no such file or directory\n";
            return Exit::no_input;
        }
    }
    io.out << "summary added=" << t.added << " duplicates=" << t.duplicates << " rejected=" << t.rejected
           << " store_errors=" << t.store_errors << '\n';
    if (t.store_errors) return Exit::temp_fail;
    if (t.rejected) return Exit::data_error;
    return Exit::ok;
}

}  // namespace mailmoat::cli
