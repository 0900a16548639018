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

std::unique_ptr<store::SqliteDmarcStore> open_dmarc_store(const std::string& url) {
    std::string path = url;
    if (path.rfind("sqlite:", 0) == 0) {
        path = path.substr(7);
        if (path.rfind("//", 0) == 0) path = path.substr(2);
    } else if (path.find("://") != std::string::npos || path.rfind("redis:", 0) == 0) {
        throw UsageError("unsupported store '" + url + "' (the report commands read sqlite:PATH stores)");
    }
    if (path.empty()) throw UsageError("empty store path");
    store::SqliteOptions o;
    o.path = path;
    o.busy_timeout = std::chrono::milliseconds(10000);
    return std::make_unique<store::SqliteDmarcStore>(o);
}

}  // namespace mailmoat::cli
