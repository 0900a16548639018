// tools/mailmoat/dmarc.hpp - the subcommands of `mailmoat dmarc`, each in its own file (dmarc_<name>.cpp)
// and listed once in the table in dmarc.cpp.
#pragma once
#include <iosfwd>
#include <string>
#include <vector>

#include "common/dmarc/evaluator.hpp"
#include "common/dns/resolver.hpp"
#include "tools/mailmoat/command.hpp"

namespace mailmoat::cli {

/// `mailmoat dmarc check DOMAIN ...` (dmarc_check.cpp).
[[nodiscard]] int dmarc_check(const std::vector<std::string>& args, Io& io);
/// The work of `dmarc check` after argument parsing: discovery for `domain` through `resolver`, the
/// report on `out`; returns the Exit code (ok: policy found, failed: none or invalid record,
/// data_error: not a domain name, temp_fail: DNS temporary failure).
[[nodiscard]] int dmarc_check_print(const std::string& domain, dns::Resolver& resolver,
                                    const dmarc::Options& options, std::ostream& out);

}  // namespace mailmoat::cli
