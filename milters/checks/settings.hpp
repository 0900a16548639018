// milters/checks/settings.hpp - mailmoat-checks settings: the table files and limits of header/body checks.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/checks/scanner.hpp"
#include "common/config/options.hpp"
#include "common/daemon/daemon.hpp"
#include "common/milter/runner.hpp"

namespace mailmoat::checksd {

struct Settings {
    daemon::CommonSettings common;
    std::vector<std::string> header_checks, mime_header_checks, nested_header_checks, body_checks,
        decoded_body_checks;
    std::string attachment_rules;  // the attachment rules file ("" none)
    std::string blocklist_table;   // "pcre:/path" of the managed blocklist ("" none)
    std::shared_ptr<const checks::RuleSet> rules;  // the compiled tables
    std::size_t body_buffer_limit = 64U << 20;     // body kept for body edits (REPLACE/PREPEND/IGNORE)
    std::size_t max_recipients = 1000;
};

/// The schema of mailmoat-checks (common daemon options plus the table and limit keys).
[[nodiscard]] config::Schema make_schema();

/// Builds Settings and compiles every table. Throws config::ConfigError naming the key, or
/// table::TableError (a ConfigError) naming FILE:LINE of the first bad rule.
[[nodiscard]] Settings build_settings(const config::Values& values);

/// The table spec of a blocklist-table value: a bare path becomes "pcre:path"; "" stays "".
[[nodiscard]] std::string blocklist_spec(const std::string& value);
/// The file of a table spec ("pcre:/x" gives "/x").
[[nodiscard]] std::string blocklist_path(const std::string& spec);

/// The milter registration: stages, the modifications used, the "i" macro at end of message.
[[nodiscard]] milter::RunnerOptions runner_options(const util::SocketSpec& socket);

}  // namespace mailmoat::checksd
