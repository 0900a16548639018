// tools/mailmoat/dmarc_store_open.cpp - finding and opening the DMARC store for the report subcommands.
#include <fstream>

#include "tools/mailmoat/args.hpp"
#include "tools/mailmoat/dmarc_commands.hpp"

namespace mailmoat::cli {
namespace {

std::string trim(std::string s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return {};
    const auto e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

}  // namespace

std::string dmarc_store_url(const std::string& url, const std::string& config_file, bool config_explicit) {
    if (!url.empty()) return url;
    std::ifstream f(config_file);
    if (!f) {
        if (config_explicit) throw UsageError("cannot read " + config_file);
        return default_dmarc_store;
    }
    std::string line;
    for (int n = 0; n < 10000 && std::getline(f, line); ++n) {
        line = trim(line);
        if (line.empty() || line[0] == '#') continue;
        const auto eq = line.find('=');
        if (eq == std::string::npos) continue;
        if (trim(line.substr(0, eq)) == "store") {
            const auto v = trim(line.substr(eq + 1));
            if (!v.empty()) return v;
        }
    }
    return default_dmarc_store;
}

std::shared_ptr<store::DmarcFullStore> open_dmarc_store(const std::string& url) {
    const auto spec = store::parse_dmarc_store_url(url, true);
    if (!spec || spec->kind == store::DmarcStoreSpec::Kind::none)
        throw UsageError("unsupported store '" + url +
                         "' (sqlite:PATH, redis://[:PASSWORD@]HOST[:PORT][/DB] or unix:/PATH[?db=N])");
    store::DmarcStoreTuning t;
    t.busy_timeout = std::chrono::milliseconds(10000);
    t.timeout = std::chrono::milliseconds(5000);  // a report run may wait longer than the milter
    return store::open_dmarc_store(*spec, t);
}

}  // namespace mailmoat::cli
