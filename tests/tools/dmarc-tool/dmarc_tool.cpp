// tests/tools/dmarc-tool/dmarc_tool.cpp - runs dmarc::evaluate() for cases read from stdin so that the
// oracle test can compare it with another DMARC implementation over the same DNS server.
//
// Usage: mailmoat_dmarc_tool DNS_SERVER [psl PSL_FILE]
// Input lines: FROM_DOMAIN MAIL_FROM_DOMAIN|- SPF_RESULT [DKIM_DOMAIN:RESULT ...]
// Output lines: RESULT DISPOSITION POLICY_DOMAIN|- ORG_DOMAIN|- SPF_ALIGNED DKIM_ALIGNED
#include <chrono>
#include <iostream>
#include <sstream>
#include <string>

#include "common/dmarc/evaluator.hpp"
#include "common/dns/resolver_factory.hpp"

using namespace mailmoat;

int main(int argc, char** argv) {
    if (argc != 2 && argc != 4) {
        std::cerr << "usage: mailmoat_dmarc_tool DNS_SERVER [psl PSL_FILE]\n";
        return 64;
    }
    dmarc::Options options;
    if (argc == 4) {
        options.discovery = dmarc::Discovery::psl;
        options.psl = dmarc::PublicSuffixList::load(argv[3]);
    }
    const auto resolver = dns::make_resolver(argv[1], std::chrono::seconds(3), 1, 0);
    std::string line;
    while (std::getline(std::cin, line)) {
        std::istringstream in(line);
        dmarc::Inputs inputs;
        std::string mail_from;
        if (!(in >> inputs.from_domain >> mail_from >> inputs.spf_result)) continue;
        if (mail_from != "-") inputs.mail_from_domain = mail_from;
        std::string sig;
        while (in >> sig) {
            dmarc::DkimOutcome o;
            o.selector = "s";
            o.result = "pass";
            const auto colon = sig.find(':');
            if (colon == std::string::npos) {
                o.domain = sig;
            } else {
                o.domain.assign(sig, 0, colon);
                o.result.assign(sig, colon + 1, std::string::npos);
            }
            inputs.dkim.push_back(std::move(o));
        }
        const auto e = dmarc::evaluate(inputs, *resolver, options, 0);
        auto dash = [](const std::string& s) { return s.empty() ? "-" : s.c_str(); };
        std::cout << dmarc::result_name(e.result) << ' ' << dmarc::disposition_name(e.disposition) << ' '
                  << dash(e.lookup.policy.domain) << ' ' << dash(e.lookup.organizational_domain) << ' '
                  << (e.spf_aligned ? "pass" : "fail") << ' ' << (e.dkim_aligned ? "pass" : "fail") << std::endl;
    }
    return 0;
}
