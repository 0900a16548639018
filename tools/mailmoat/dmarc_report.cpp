// tools/mailmoat/dmarc_report.cpp - `mailmoat dmarc report`: aggregate reports from the recorded
// evaluations, delivered through sendmail or SMTP, each (domain, period, destination) exactly once.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ostream>
#include <sstream>

#include "common/dmarc_report/report_run.hpp"
#include "common/dns/resolver_factory.hpp"
#include "mailmoat/version.hpp"
#include "tools/mailmoat/args.hpp"
#include "tools/mailmoat/dmarc_commands.hpp"

namespace mailmoat::cli {
namespace {

namespace po = boost::program_options;
namespace dr = dmarc_report;

std::vector<std::string> split_words(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    std::string w;
    while (in >> w) out.push_back(w);
    return out;
}

/// Stands in when no resolver can be built (no usable resolv.conf): every lookup is a temporary
/// failure, so external destinations wait for a later run instead of being refused.
class UnavailableResolver final : public dns::Resolver {
public:
    explicit UnavailableResolver(std::string why) : why_(std::move(why)) {}
    dns::Answer query(std::string_view, dns::RrType) override {
        dns::Answer a;
        a.status = dns::Status::tempfail;
        a.error = why_;
        return a;
    }

private:
    std::string why_;
};

std::string local_host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
    return buf;
}

}  // namespace

int run_dmarc_report(const std::vector<std::string>& args, Io& io) {
    po::options_description opts("options");
    opts.add_options()
        ("help,h", "this text")
        ("store", po::value<std::string>()->default_value(""), "store URL (default: the `store` setting of --config)")
        ("config", po::value<std::string>()->default_value(default_dmarc_config), "mailmoat-dmarc configuration file")
        ("org-name", po::value<std::string>()->default_value(""), "report_metadata org_name (default: the receiver domain)")
        ("email", po::value<std::string>()->default_value(""), "report_metadata email and From of the report mail (default: noreply-dmarc@HOSTNAME)")
        ("extra-contact", po::value<std::string>()->default_value(""), "report_metadata extra_contact_info")
        ("receiver-domain", po::value<std::string>()->default_value(""), "domain in file names and Subject (default: the --email domain)")
        ("format", po::value<std::string>()->default_value("rfc9990"), "rfc9990 (default) or rfc7489 (Appendix C form)")
        ("until", po::value<std::string>()->default_value("midnight"), "report periods ending before: midnight (today's, UTC), now, YYYY-MM-DD or Unix seconds")
        ("dry-run", "write the reports as files into --output instead of sending; the store is not changed")
        ("output", po::value<std::string>()->default_value(""), "directory for --dry-run")
        ("sendmail", po::value<std::string>()->default_value("/usr/sbin/sendmail -i"), "sendmail command (words; no shell); \"-f FROM -- RCPT\" is appended")
        ("smtp", po::value<std::string>()->default_value(""), "deliver by SMTP to HOST:PORT instead of sendmail")
        ("helo", po::value<std::string>()->default_value(""), "EHLO name for --smtp (default: the host name)")
        ("dns-server", po::value<std::string>()->default_value(""), "DNS server for _report._dmarc checks (default: resolv.conf)")
        ("dns-timeout", po::value<unsigned>()->default_value(5), "DNS timeout, seconds")
        ("prune-days", po::value<unsigned>()->default_value(30), "delete reported evaluation records older than this many days (0: never)")
        ("send-failure-reports", "refused: failure (ruf) reports are not produced by this version");
    const auto vm = parse_args(args, opts);
    if (vm.count("help")) {
        io.out << "usage: mailmoat dmarc report [options]\n\nBuilds one aggregate report per policy domain and UTC day "
                  "from the recorded evaluations\nand mails it to each rua destination; each is marked sent only "
                  "after delivery.\n\n"
               << opts;
        return Exit::ok;
    }
    if (vm.count("send-failure-reports")) {
        io.err << "mailmoat dmarc report: failure (ruf) reports are not supported; none are ever sent\n";
        return Exit::usage;
    }
    const bool dry_run = vm.count("dry-run") > 0;
    const std::string output = vm["output"].as<std::string>();
    if (dry_run && output.empty()) throw UsageError("--dry-run needs --output DIR");
    if (!dry_run && !output.empty()) throw UsageError("--output is for --dry-run");
    if (dry_run) {
        struct stat st {};
        if (::stat(output.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
            io.err << "mailmoat dmarc report: " << output << " is not a directory\n";
            return Exit::cant_create;
        }
    }
    dr::RunOptions o;
    const auto now = static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                                   std::chrono::system_clock::now().time_since_epoch())
                                                   .count());
    o.now = now;
    const auto until = vm["until"].as<std::string>();
    if (until == "now")
        o.until = now + 1;  // records of this second included
    else if (until == "midnight")
        o.until = dr::utc_day_start(now);
    else if ((o.until = dr::parse_date(until)) < 0)
        throw UsageError("bad --until '" + until + "'");
    const auto format = vm["format"].as<std::string>();
    if (format == "rfc9990")
        o.reporter.format = dr::Format::rfc9990;
    else if (format == "rfc7489")
        o.reporter.format = dr::Format::rfc7489;
    else
        throw UsageError("bad --format '" + format + "' (rfc9990 or rfc7489)");
    const std::string host = local_host_name();
    o.reporter.email = vm["email"].as<std::string>();
    if (o.reporter.email.empty()) o.reporter.email = "noreply-dmarc@" + host;
    const auto at = o.reporter.email.rfind('@');
    if (at == std::string::npos) throw UsageError("--email needs an address");
    o.reporter.receiver_domain = vm["receiver-domain"].as<std::string>();
    if (o.reporter.receiver_domain.empty()) o.reporter.receiver_domain = o.reporter.email.substr(at + 1);
    o.reporter.org_name = vm["org-name"].as<std::string>();
    if (o.reporter.org_name.empty()) o.reporter.org_name = o.reporter.receiver_domain;
    o.reporter.extra_contact_info = vm["extra-contact"].as<std::string>();
    o.reporter.generator = std::string("mailmoat ") + std::string(mailmoat::version);
    o.dry_run = dry_run;
    o.output_dir = output;
    if (const auto days = vm["prune-days"].as<unsigned>(); days > 0) o.prune_before = now - static_cast<std::int64_t>(days) * 86400;

    const auto url = dmarc_store_url(vm["store"].as<std::string>(), vm["config"].as<std::string>(),
                                     !vm["config"].defaulted());
    auto store = open_dmarc_store(url);

    std::shared_ptr<dns::Resolver> resolver;
    if (!dry_run) {
        const auto server = vm["dns-server"].as<std::string>();
        try {
            resolver = dns::make_resolver(server, std::chrono::seconds(vm["dns-timeout"].as<unsigned>()), 1, 0);
        } catch (const std::exception& e) {
            if (!server.empty()) throw UsageError("bad --dns-server '" + server + "': " + e.what());
            io.err << "mailmoat dmarc report: no DNS resolver (" << e.what()
                   << "); reports to external destinations wait for a later run\n";
            resolver = std::make_shared<UnavailableResolver>(e.what());
        }
        o.resolver = resolver.get();
        const auto smtp = vm["smtp"].as<std::string>();
        if (!smtp.empty()) {
            const auto colon = smtp.rfind(':');
            if (colon == std::string::npos) throw UsageError("--smtp needs HOST:PORT");
            std::string h = smtp.substr(0, colon);
            if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
            const int port = std::atoi(smtp.substr(colon + 1).c_str());
            if (port <= 0 || port > 65535) throw UsageError("bad port in --smtp '" + smtp + "'");
            std::string helo = vm["helo"].as<std::string>();
            if (helo.empty()) helo = host;
            o.send = [h, port, helo](const std::string& from, const std::string& to, const std::string& msg) {
                return dr::deliver_smtp(h, static_cast<std::uint16_t>(port), helo, from, to, msg);
            };
        } else {
            const auto argv = split_words(vm["sendmail"].as<std::string>());
            if (argv.empty()) throw UsageError("empty --sendmail");
            o.send = [argv](const std::string& from, const std::string& to, const std::string& msg) {
                return dr::deliver_sendmail(argv, from, to, msg);
            };
        }
    }
    // Test hook: MAILMOAT_DMARC_REPORT_CRASH_AT=built|delivered kills the run at that point, as a crash
    // or power cut would, so the tests can show that a rerun neither loses nor duplicates a report.
    if (const char* crash = std::getenv("MAILMOAT_DMARC_REPORT_CRASH_AT"); crash != nullptr && *crash != '\0') {
        const std::string at_stage = crash;
        o.hook = [at_stage, &io](const char* stage) {
            if (at_stage == stage) {
                io.out.flush();
                ::raise(SIGKILL);
            }
        };
    }
    const auto sum = dr::run_reports(*store, *store, o, io.out);
    io.out << "summary reports=" << sum.periods << " messages=" << sum.messages << " delivered=" << sum.delivered
           << " refused=" << sum.refused << " deferred=" << sum.failed << " files=" << sum.files
           << " pruned=" << sum.pruned << " busy=" << sum.busy << " store=" << store->describe() << '\n';
    if (sum.store_error) return Exit::unavailable;
    if (sum.failed > 0) return Exit::temp_fail;
    return Exit::ok;
}

}  // namespace mailmoat::cli
