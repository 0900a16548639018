// tools/mailmoat/dmarc_summary.cpp - `mailmoat dmarc summary`: per sending source, how much mail passed and
// failed SPF, DKIM and DMARC alignment according to the received reports, failing sources first.
#include <cstdio>
#include <ostream>

#include "common/dmarc_report/summary.hpp"
#include "tools/mailmoat/args.hpp"
#include "tools/mailmoat/dmarc_commands.hpp"

namespace mailmoat::cli {
namespace {

namespace po = boost::program_options;
namespace dr = dmarc_report;

std::string pad(std::string s, std::size_t w) {
    if (s.size() < w) s.append(w - s.size(), ' ');
    return s;
}

std::string num(std::uint64_t v, std::size_t w) {
    std::string s = std::to_string(v);
    return s.size() < w ? std::string(w - s.size(), ' ') + s : s;
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
    return out;
}

}  // namespace

/// Loads the ingested reports for the summary and the HTML page; throws UsageError on bad options.
dr::Summary load_summary(const po::variables_map& vm, std::string& described) {
    const auto since_text = vm["since"].as<std::string>();
    std::int64_t since = 0;
    if (!since_text.empty() && (since = dr::parse_date(since_text)) < 0) throw UsageError("bad --since '" + since_text + "'");
    auto store = open_dmarc_store(
        dmarc_store_url(vm["store"].as<std::string>(), vm["config"].as<std::string>(), !vm["config"].defaulted()));
    described = store->describe();
    const auto rs = store->reports(vm["domain"].as<std::string>(), since, 1000000);
    if (rs.status != store::Status::ok) throw store::StoreError("store: " + rs.error);
    return dr::summarize(rs.reports);
}

void add_summary_options(po::options_description& opts) {
    opts.add_options()("help,h", "this text")(
        "store", po::value<std::string>()->default_value(""), "store URL (default: the `store` setting of --config)")(
        "config", po::value<std::string>()->default_value(default_dmarc_config), "mailmoat-dmarc configuration file")(
        "domain", po::value<std::string>()->default_value(""), "only reports about this policy domain")(
        "since", po::value<std::string>()->default_value(""), "only reports ending after DATE (YYYY-MM-DD or Unix seconds)");
}

int run_dmarc_summary(const std::vector<std::string>& args, Io& io) {
    po::options_description opts("options");
    add_summary_options(opts);
    const auto vm = parse_args(args, opts);
    if (vm.count("help")) {
        io.out << "usage: mailmoat dmarc summary [--domain D] [--since DATE]\n\n"
                  "Per sending source (from the reports stored by `mailmoat dmarc ingest`): messages, aligned\n"
                  "SPF and DKIM passes and failures, DMARC pass/fail; then the sources that send in the\n"
                  "domain's name without authenticating.\n\n"
               << opts;
        return Exit::ok;
    }
    std::string described;
    dr::Summary s;
    try {
        s = load_summary(vm, described);
    } catch (const store::StoreError& e) {
        io.err << "mailmoat dmarc summary: " << e.what() << '\n';
        return Exit::unavailable;
    }
    io.out << "reports: " << s.reports << "  messages: " << s.messages << "  DMARC pass: " << s.dmarc_pass
           << "  fail: " << (s.messages - s.dmarc_pass) << "  domains: " << (s.domains.empty() ? "-" : join(s.domains))
           << '\n';
    if (s.sources.empty()) {
        io.out << "no reports stored in " << described << '\n';
        return Exit::ok;
    }
    io.out << '\n'
           << pad("SOURCE", 40) << "  MESSAGES  SPF-PASS  SPF-FAIL DKIM-PASS DKIM-FAIL DMARC-PASS DMARC-FAIL  HEADER-FROM\n";
    for (const auto& src : s.sources)
        io.out << pad(src.source_ip, 40) << num(src.messages, 10) << num(src.spf_pass, 10) << num(src.spf_fail(), 10)
               << num(src.dkim_pass, 10) << num(src.dkim_fail(), 10) << num(src.dmarc_pass, 11) << num(src.dmarc_fail(), 11)
               << "  " << join(src.header_from) << '\n';
    io.out << "\nsources sending without authenticating (neither SPF nor DKIM aligned):\n";
    int n = 0;
    for (const auto& src : s.sources) {
        if (src.dmarc_fail() == 0) continue;
        ++n;
        io.out << "  " << src.source_ip << "  " << src.dmarc_fail() << " of " << src.messages << " messages, as "
               << join(src.header_from) << " (reported by " << join(src.reporters) << ")\n";
    }
    if (n == 0) io.out << "  none\n";
    return Exit::ok;
}

}  // namespace mailmoat::cli
