// tools/mailmoat/dmarc_check.cpp - `mailmoat dmarc check DOMAIN`: runs RFC 9989 policy discovery (or the
// RFC 7489 PSL lookup) and shows each DNS query, the record, the organisational domain and the policy.
#include <chrono>
#include <ostream>
#include <stdexcept>
#include <string>

#include "common/dmarc/evaluator.hpp"
#include "common/dns/resolver_factory.hpp"
#include "common/log/logger.hpp"
#include "tools/mailmoat/args.hpp"
#include "tools/mailmoat/dmarc.hpp"

namespace mailmoat::cli {

namespace {

namespace po = boost::program_options;

constexpr const char* default_psl = "/usr/share/publicsuffix/public_suffix_list.dat";

void key(std::ostream& out, const std::string& k) {
    out << k << ':';
    for (auto i = k.size() + 1; i < 23; ++i) out << ' ';
    out << ' ';
}

std::string or_dash(const std::string& v) { return v.empty() ? std::string("-") : v; }

void print_usage(std::ostream& out, const po::options_description& options) {
    out << "usage: mailmoat dmarc check DOMAIN [--dns-server IP:PORT] [--discovery treewalk|psl] [--psl FILE]\n\n"
           "Finds the DMARC policy that applies to mail from DOMAIN as a receiver would (RFC 9989 DNS tree\n"
           "walk, or RFC 7489 with the Public Suffix List) and shows every DNS query, the record found,\n"
           "the organisational domain and the effective policy.\n\n"
        << options
        << "\nexit status: 0 policy found, 1 no policy or an invalid record, 64 usage, 65 bad domain,\n"
           "66 unreadable PSL, 75 DNS temporary failure.\n";
}

}  // namespace

int dmarc_check(const std::vector<std::string>& args, Io& io) {
    po::options_description options("options");
    options.add_options()
        ("help,h", "this help")
        ("dns-server", po::value<std::string>()->default_value(""),
         "recursive server HOST[:PORT] (default: the nameservers of /etc/resolv.conf)")
        ("discovery", po::value<std::string>()->default_value("treewalk"),
         "treewalk (RFC 9989) or psl (RFC 7489 with the Public Suffix List)")
        ("psl", po::value<std::string>()->default_value(default_psl), "Public Suffix List file (psl mode)")
        ("timeout", po::value<unsigned>()->default_value(5), "seconds allowed for each DNS query");
    po::options_description hidden;
    hidden.add_options()("domain", po::value<std::string>());
    po::options_description all;
    all.add(options).add(hidden);
    po::positional_options_description positional;
    positional.add("domain", 1);
    const auto vm = parse_args(args, all, &positional);
    if (vm.count("help") != 0U) {
        print_usage(io.out, options);
        return Exit::ok;
    }
    if (vm.count("domain") == 0U) {
        print_usage(io.err, options);
        return Exit::usage;
    }
    const std::string domain = vm["domain"].as<std::string>();

    dmarc::Options opts;
    const std::string discovery = vm["discovery"].as<std::string>();
    if (discovery == "psl") {
        opts.discovery = dmarc::Discovery::psl;
        const std::string path = vm["psl"].as<std::string>();
        try {
            opts.psl = dmarc::PublicSuffixList::load(path);
        } catch (const std::runtime_error& e) {
            io.err << "mailmoat dmarc check: " << e.what() << '\n';
            return Exit::no_input;
        }
    } else if (discovery != "treewalk") {
        throw UsageError("--discovery must be treewalk or psl, not '" + discovery + "'");
    }
    const unsigned timeout = vm["timeout"].as<unsigned>();
    if (timeout == 0 || timeout > 60) throw UsageError("--timeout must be 1-60 seconds");
    std::shared_ptr<dns::Resolver> resolver;
    try {
        resolver = dns::make_resolver(vm["dns-server"].as<std::string>(), std::chrono::seconds(timeout), 1, 0);
    } catch (const std::invalid_argument& e) {
        throw UsageError(std::string("--dns-server: ") + e.what());
    }

    return dmarc_check_print(domain, *resolver, opts, io.out);
}

int dmarc_check_print(const std::string& domain, dns::Resolver& resolver, const dmarc::Options& opts,
                      std::ostream& out) {
    const dmarc::PolicyLookup l = dmarc::discover(domain, resolver, opts);
    key(out, "domain");
    out << log::escape(domain) << '\n';
    key(out, "discovery");
    out << (opts.discovery == dmarc::Discovery::psl ? "psl (RFC 7489, Public Suffix List)" : "treewalk (RFC 9989)")
        << '\n';
    if (l.status == dmarc::Result::permerror && l.trace.empty()) {
        out << "result:                 not a valid domain name\n";
        return Exit::data_error;
    }
    int n = 0;
    for (const auto& q : l.trace) {
        key(out, "query " + std::to_string(++n));
        const bool existence = q.name.rfind("_dmarc.", 0) != 0;
        out << q.name << (existence ? " A" : " TXT") << " -> " << log::escape(q.outcome, 128);
        if (existence) out << (q.outcome == "nxdomain" ? " (the domain does not exist)" : " (the domain exists)");
        out << '\n';
    }
    if (!l.policy.domain.empty()) {
        std::string text;
        for (const auto& q : l.trace)
            if (q.name == "_dmarc." + l.policy.domain) text = q.record;
        key(out, "record");
        out << "_dmarc." << l.policy.domain << ' ' << log::escape(text, 1024) << '\n';
        const auto& p = l.policy;
        std::string rua;
        for (const auto& u : p.rua) rua += (rua.empty() ? "" : ",") + u;
        key(out, "tags");
        out << "p=" << or_dash(p.p) << " sp=" << or_dash(p.sp) << " np=" << or_dash(p.np) << " adkim=" << p.adkim
            << " aspf=" << p.aspf << " t=" << p.testing << " psd=" << p.psd
            << " pct=" << (p.pct < 0 ? std::string("-") : std::to_string(p.pct)) << " fo=" << or_dash(p.fo)
            << " rua=" << log::escape(or_dash(rua), 512) << '\n';
    }
    key(out, "organizational domain");
    out << or_dash(l.organizational_domain) << '\n';
    for (const auto& note : l.notes) {
        key(out, "note");
        out << log::escape(note, 512) << '\n';
    }
    switch (l.status) {
        case dmarc::Result::pass: {
            key(out, "effective policy");
            out << l.effective_policy << " (" << l.applied_policy << "= of the record at " << l.policy.domain;
            if (l.applied_policy == "np") out << "; the domain does not exist";
            else if (l.applied_policy == "sp") out << "; the domain is a subdomain of it";
            out << ')';
            if (l.policy.testing == "y" && l.effective_policy != "none")
                out << ", testing (t=y): failing mail gets "
                    << (l.effective_policy == "reject" ? "quarantine" : "none");
            out << '\n';
            key(out, "result");
            out << "policy found\n";
            return Exit::ok;
        }
        case dmarc::Result::none:
            key(out, "result");
            out << "no DMARC policy: DMARC does not apply to mail from " << log::escape(domain) << '\n';
            return Exit::failed;
        case dmarc::Result::permerror:
            key(out, "result");
            out << "invalid DMARC record (no valid p= and no valid rua=): no policy applies\n";
            return Exit::failed;
        default:
            key(out, "result");
            out << "DNS temporary failure: the policy cannot be determined now\n";
            return Exit::temp_fail;
    }
}

}  // namespace mailmoat::cli
