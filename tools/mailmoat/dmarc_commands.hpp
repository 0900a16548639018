// tools/mailmoat/dmarc_commands.hpp - the DMARC report subcommands (`mailmoat dmarc report|ingest|summary|
// html|import-records`), each in its own file and listed in dmarc.cpp's table, and what they share:
// opening the DMARC store.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "common/dmarc_report/summary.hpp"
#include "common/store/dmarc_store_factory.hpp"
#include "tools/mailmoat/command.hpp"

namespace mailmoat::cli {

/// `dmarc report`: build and send aggregate reports (RFC 7489 §7.2, RFC 9990).
[[nodiscard]] int run_dmarc_report(const std::vector<std::string>& args, Io& io);
/// `dmarc ingest`: store aggregate reports others sent (message on stdin, files, Maildirs).
[[nodiscard]] int run_dmarc_ingest(const std::vector<std::string>& args, Io& io);
/// `dmarc summary`: per-source pass/fail of the ingested reports.
[[nodiscard]] int run_dmarc_summary(const std::vector<std::string>& args, Io& io);
/// `dmarc html`: one self-contained HTML page of the ingested reports.
[[nodiscard]] int run_dmarc_html(const std::vector<std::string>& args, Io& io);
/// `dmarc import-records`: evaluation records as text lines into the store (tests, migrations).
[[nodiscard]] int run_dmarc_import_records(const std::vector<std::string>& args, Io& io);

/// The milter's configuration file, where `store = URL` names the DMARC store by default.
inline constexpr const char* default_dmarc_config = "/etc/mailmoat/mailmoat-dmarc.conf";
inline constexpr const char* default_dmarc_store = "sqlite:/var/lib/mailmoat/dmarc.sqlite";

/// The store URL to use: `url` when given, else the `store` setting of `config_file` (when that file
/// exists), else default_dmarc_store. Throws UsageError when `config_file` was given explicitly and
/// cannot be read.
[[nodiscard]] std::string dmarc_store_url(const std::string& url, const std::string& config_file, bool config_explicit);

/// Opens "sqlite:PATH" (or a bare PATH) or a Redis URL (store::parse_dmarc_store_url). Throws UsageError
/// for another scheme or "none", store::StoreError when a SQLite database cannot be opened (an
/// unreachable Redis server shows as a store failure of the first call).
[[nodiscard]] std::shared_ptr<store::DmarcFullStore> open_dmarc_store(const std::string& url);

/// Options shared by `summary` and `html`: --store, --config, --domain, --since (and --help).
void add_summary_options(boost::program_options::options_description& opts);
/// The ingested reports selected by those options, added up; `described` names the store. Throws
/// UsageError for a bad --since, store::StoreError when the store cannot be read.
[[nodiscard]] dmarc_report::Summary load_summary(const boost::program_options::variables_map& vm, std::string& described);

}  // namespace mailmoat::cli
