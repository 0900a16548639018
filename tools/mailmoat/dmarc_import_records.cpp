// tools/mailmoat/dmarc_import_records.cpp - `mailmoat dmarc import-records`: evaluation records given as
// text lines go into the store exactly as mailmoat-dmarc writes them (for tests, demos and migrations).
#include <fstream>
#include <istream>
#include <ostream>
#include <sstream>

#include "common/dmarc/report_record.hpp"
#include "tools/mailmoat/args.hpp"
#include "tools/mailmoat/dmarc_commands.hpp"

namespace mailmoat::cli {
namespace {

namespace po = boost::program_options;

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    if (s.empty()) return out;
    std::size_t start = 0;
    for (;;) {
        const auto e = s.find(sep, start);
        out.push_back(s.substr(start, e == std::string::npos ? std::string::npos : e - start));
        if (e == std::string::npos) break;
        start = e + 1;
    }
    return out;
}

std::string at(const std::vector<std::string>& v, std::size_t i) { return i < v.size() ? v[i] : std::string(); }

/// One line "key=value ..." → a record and how many times to add it; throws UsageError naming the key.
std::pair<dmarc::ReportRecord, long> parse_line(const std::string& line) {
    dmarc::ReportRecord r;
    long count = 1;
    std::istringstream in(line);
    std::string word;
    while (in >> word) {
        const auto eq = word.find('=');
        if (eq == std::string::npos) throw UsageError("expected key=value, got '" + word + "'");
        const auto k = word.substr(0, eq);
        const auto v = word.substr(eq + 1);
        auto& p = r.policy;
        if (k == "time") r.time = std::stoll(v);
        else if (k == "count") count = std::stol(v);
        else if (k == "ip") r.source_ip = v;
        else if (k == "from") r.header_from = v;
        else if (k == "mfrom") r.envelope_from = v;
        else if (k == "to") r.envelope_to = v;
        else if (k == "org") r.organizational_domain = v;
        else if (k == "domain") p.domain = v;
        else if (k == "p") p.p = v;
        else if (k == "sp") p.sp = v;
        else if (k == "np") p.np = v;
        else if (k == "adkim") p.adkim = v;
        else if (k == "aspf") p.aspf = v;
        else if (k == "t") p.testing = v;
        else if (k == "pct") p.pct = std::stoi(v);
        else if (k == "fo") p.fo = v;
        else if (k == "psd") p.psd = v;
        else if (k == "discovery") p.discovery_method = v;
        else if (k == "rua") p.rua = split(v, ',');
        else if (k == "result") r.dmarc_result = v;
        else if (k == "disposition") r.disposition = v;
        else if (k == "dkim_aligned") r.dkim_aligned = v;
        else if (k == "spf_aligned") r.spf_aligned = v;
        else if (k == "dkim") {
            for (const auto& item : split(v, ',')) {
                const auto f = split(item, '/');
                r.dkim.push_back({at(f, 0), at(f, 1), at(f, 2), at(f, 3)});
            }
        } else if (k == "spf") {
            for (const auto& item : split(v, ',')) {
                const auto f = split(item, '/');
                r.spf.push_back({at(f, 0), at(f, 1).empty() ? "mfrom" : at(f, 1), at(f, 2)});
            }
        } else if (k == "override") {
            for (const auto& item : split(v, ',')) {
                const auto f = split(item, '/');
                r.overrides.push_back({at(f, 0), at(f, 1)});
            }
        } else {
            throw UsageError("unknown key '" + k + "'");
        }
    }
    if (r.source_ip.empty() || r.header_from.empty()) throw UsageError("a record needs ip= and from=");
    if (r.policy.domain.empty()) r.policy.domain = r.header_from;
    if (r.organizational_domain.empty()) r.organizational_domain = r.policy.domain;
    if (count < 1 || count > 1000000) throw UsageError("count out of range 1..1000000");
    return {r, count};
}

}  // namespace

int run_dmarc_import_records(const std::vector<std::string>& args, Io& io) {
    po::options_description opts("options");
    opts.add_options()("help,h", "this text")(
        "store", po::value<std::string>()->default_value(""), "store URL (default: the `store` setting of --config)")(
        "config", po::value<std::string>()->default_value(default_dmarc_config), "mailmoat-dmarc configuration file")(
        "file", po::value<std::string>()->default_value("-"), "input (default: standard input)");
    po::positional_options_description pos;
    pos.add("file", 1);
    const auto vm = parse_args(args, opts, &pos);
    if (vm.count("help")) {
        io.out << "usage: mailmoat dmarc import-records [options] [FILE]\n\n"
                  "One record per line, key=value words: time ip from mfrom to org domain p sp np adkim aspf\n"
                  "t pct fo psd discovery rua=URI,URI result disposition dkim_aligned spf_aligned\n"
                  "dkim=D/S/RESULT,... spf=D/SCOPE/RESULT override=TYPE/COMMENT count=N. '#' starts a comment.\n\n"
               << opts;
        return Exit::ok;
    }
    const auto file = vm["file"].as<std::string>();
    std::ifstream f;
    std::istream* in = &io.in;
    if (file != "-") {
        f.open(file);
        if (!f) {
            io.err << "mailmoat dmarc import-records: cannot read " << file << '\n';
            return Exit::no_input;
        }
        in = &f;
    }
    auto store = open_dmarc_store(
        dmarc_store_url(vm["store"].as<std::string>(), vm["config"].as<std::string>(), !vm["config"].defaulted()));
    std::string line;
    long added = 0;
    int lineno = 0;
    while (std::getline(*in, line)) {
        ++lineno;
        if (line.size() > 65536) throw UsageError("line " + std::to_string(lineno) + " too long");
        const auto b = line.find_first_not_of(" \t\r");
        if (b == std::string::npos || line[b] == '#') continue;
        std::pair<dmarc::ReportRecord, long> rec;
        try {
            rec = parse_line(line);
        } catch (const UsageError& e) {
            io.err << "mailmoat dmarc import-records: line " << lineno << ": " << e.what() << '\n';
            return Exit::data_error;
        } catch (const std::exception&) {
            io.err << "mailmoat dmarc import-records: line " << lineno << ": bad number\n";
            return Exit::data_error;
        }
        for (long i = 0; i < rec.second; ++i) {
            const auto res = store->add(rec.first);
            if (res.status != store::Status::ok) {
                io.err << "mailmoat dmarc import-records: store: " << res.error << '\n';
                return Exit::unavailable;
            }
            ++added;
        }
    }
    io.out << "imported " << added << " records into " << store->describe() << '\n';
    return Exit::ok;
}

}  // namespace mailmoat::cli
