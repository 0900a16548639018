// tools/mailmoat/args.hpp - argument parsing shared by the subcommands (Boost.Program_options).
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace mailmoat::cli {

/// Bad arguments: run_main prints the message and returns Exit::usage.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Parses `args` against `options` (and positional names, if given). Throws UsageError for unknown
/// options, missing values and surplus positional arguments; never exits.
[[nodiscard]] boost::program_options::variables_map parse_args(
    const std::vector<std::string>& args, const boost::program_options::options_description& options,
    const boost::program_options::positional_options_description* positional = nullptr);

}  // namespace mailmoat::cli
