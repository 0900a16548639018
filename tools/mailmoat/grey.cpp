// tools/mailmoat/grey.cpp - `mailmoat grey`: list, search and delete greylist entries, manual whitelist, statistics.
#include <algorithm>
#include <ctime>
#include <memory>
#include <ostream>

#include "common/config/options.hpp"
#include "common/grey/greylister.hpp"
#include "common/store/redis_grey_store.hpp"
#include "common/store/sqlite_grey_store.hpp"
#include "common/util/ip_address.hpp"
#include "policyd/grey/settings.hpp"
#include "tools/mailmoat/args.hpp"
#include "tools/mailmoat/command.hpp"
#include "tools/mailmoat/grey_keys.hpp"

namespace mailmoat::cli {
namespace {

namespace po = boost::program_options;

constexpr const char* usage_text =
    "usage: mailmoat grey [--config FILE | --store URL] ACTION [options]\n"
    "\n"
    "actions:\n"
    "  list       entries and auto-whitelist counters, oldest first; filters: --client, --sender,\n"
    "             --recipient, --domain, --key (all given must match), --limit N\n"
    "  delete     entries matching the filters (at least one), or --awl-client GROUP's counter\n"
    "  whitelist  --client ADDRESS[/PREFIX] or --sender ADDRESS|@DOMAIN|DOMAIN: never greylisted from now\n"
    "             (the running daemon picks it up within seconds); --remove takes it back; --list shows all\n"
    "  stats      entries (waiting, passed), attempts, auto-whitelist counters, manual whitelist entries\n"
    "\n"
    "The store is the one mailmoat-grey uses: the `store` key of its configuration file (--config, default\n"
    "/etc/mailmoat/mailmoat-grey.conf) or --store sqlite:/path/file.db | redis://[:PASSWORD@]host:port[/db] | unix:/path/redis.sock[?db=N].\n";

std::string when(store::TimePoint t) {
    const std::time_t s = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&s, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

struct Opened {
    std::unique_ptr<store::GreyStore> store;
    greyd::Settings settings;
};

/// The store named by --store, or by the daemon's configuration file.
Opened open_store(const po::variables_map& vm) {
    config::Schema schema = greyd::make_schema();
    // Without --config the daemon's default file is read when it exists (config::parse's rule).
    std::vector<std::string> args;
    if (vm.count("config")) args = {"--config", vm["config"].as<std::string>()};
    if (vm.count("store")) {
        args.push_back("--store");
        args.push_back(vm["store"].as<std::string>());
    }
    Opened o;
    o.settings = greyd::build_settings(config::parse(schema, args));
    const auto& spec = o.settings.store;
    if (spec.kind == greyd::StoreSpec::Kind::redis) {
        store::RedisOptions r;
        static_cast<store::RedisEndpoint&>(r) = spec.redis;
        r.ttl = o.settings.engine.max_age;
        o.store = std::make_unique<store::RedisGreyStore>(r);
    } else {
        store::SqliteOptions s;
        s.path = spec.path;
        o.store = std::make_unique<store::SqliteGreyStore>(s);
    }
    return o;
}

int store_failure(Io& io, const std::string& what, const std::string& error) {
    io.err << "mailmoat grey: " << what << ": " << error << '\n';
    return Exit::unavailable;
}

grey_keys::Filter filter_from(const po::variables_map& vm) {
    grey_keys::Filter f;
    if (vm.count("client")) f.client = vm["client"].as<std::string>();
    if (vm.count("sender")) f.sender = vm["sender"].as<std::string>();
    if (vm.count("recipient")) f.recipient = vm["recipient"].as<std::string>();
    if (vm.count("domain")) f.domain = vm["domain"].as<std::string>();
    if (vm.count("key")) f.key = vm["key"].as<std::string>();
    return f;
}

/// Every entry and counter (the filters are applied here: the store only filters by one substring).
store::ListResult everything(store::GreyStore& s) {
    return s.list("", static_cast<std::size_t>(100'000'000));
}

int do_list(store::GreyStore& s, const po::variables_map& vm, Io& io) {
    const auto f = filter_from(vm);
    const auto limit = vm["limit"].as<std::size_t>();
    auto all = everything(s);
    if (all.status == store::Status::tempfail) return store_failure(io, s.describe(), all.error);
    std::size_t shown = 0;
    io.out << "# key-kind\tclient\tsender\trecipient\tfirst-seen\tlast-seen\tattempts\tpassed\n";
    for (const auto& e : all.entries) {
        if (shown >= limit) break;
        const auto k = grey_keys::parse_entry_key(e.key);
        if (!grey_keys::matches(k, e.key, f)) continue;
        io.out << k.kind << '\t' << k.client << '\t' << (k.sender.empty() ? "<>" : k.sender) << '\t' << k.recipient
               << '\t' << when(e.first_seen) << '\t' << when(e.last_seen) << '\t' << e.count << '\t'
               << (e.passed ? "yes" : "no") << '\n';
        ++shown;
    }
    if (f.sender.empty() && f.recipient.empty() && f.domain.empty()) {
        io.out << "# auto-whitelist\tclient\tlast-seen\tretries\n";
        for (const auto& c : all.clients) {
            if (shown >= limit) break;
            const auto client = grey_keys::client_of_counter(c.client);
            if (!grey_keys::client_matches(client, f.client) ||
                (!f.key.empty() && c.client.find(f.key) == std::string::npos))
                continue;
            io.out << "awl\t" << client << '\t' << when(c.last_seen) << '\t' << c.count << '\n';
            ++shown;
        }
    }
    return Exit::ok;
}

int do_delete(store::GreyStore& s, const po::variables_map& vm, Io& io) {
    if (vm.count("awl-client")) {
        const auto group = vm["awl-client"].as<std::string>();
        auto r = s.remove("c:" + group, true);
        if (r.status == store::Status::tempfail) return store_failure(io, s.describe(), r.error);
        if (r.status == store::Status::not_found) {
            io.err << "mailmoat grey: no auto-whitelist counter for " << group << '\n';
            return Exit::failed;
        }
        io.out << "deleted auto-whitelist counter " << group << '\n';
        return Exit::ok;
    }
    const auto f = filter_from(vm);
    if (f.empty()) throw UsageError("delete needs a filter (--client, --sender, --recipient, --domain, --key)");
    auto all = everything(s);
    if (all.status == store::Status::tempfail) return store_failure(io, s.describe(), all.error);
    std::size_t deleted = 0;
    for (const auto& e : all.entries) {
        if (!grey_keys::matches(grey_keys::parse_entry_key(e.key), e.key, f)) continue;
        auto r = s.remove(e.key, false);
        if (r.status == store::Status::tempfail) return store_failure(io, s.describe(), r.error);
        if (r.status == store::Status::ok) ++deleted;
    }
    io.out << "deleted " << deleted << (deleted == 1 ? " entry\n" : " entries\n");
    return deleted > 0 ? Exit::ok : Exit::failed;
}

int do_whitelist(store::GreyStore& s, const po::variables_map& vm, Io& io) {
    if (vm.count("list")) {
        auto m = s.manual();
        if (m.status == store::Status::tempfail) return store_failure(io, s.describe(), m.error);
        for (const auto& e : m.entries) io.out << e.kind << '\t' << e.value << '\t' << when(e.added) << '\n';
        return Exit::ok;
    }
    std::string kind, value;
    if (vm.count("client") && !vm.count("sender")) {
        kind = "client";
        value = vm["client"].as<std::string>();
        const auto net = grey_keys::canonical_network(value);
        if (net.empty()) throw UsageError("--client: not an address or network: '" + value + "'");
        value = net;
    } else if (vm.count("sender") && !vm.count("client")) {
        kind = "sender";
        value = vm["sender"].as<std::string>();
        for (auto& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (value.empty() || value == "@" || value.find_first_of(" \t\r\n") != std::string::npos)
            throw UsageError("--sender: expected user@domain, @domain or domain");
    } else {
        throw UsageError("whitelist needs exactly one of --client or --sender (or --list)");
    }
    if (vm.count("remove")) {
        auto r = s.remove_manual(kind, value);
        if (r.status == store::Status::tempfail) return store_failure(io, s.describe(), r.error);
        if (r.status == store::Status::not_found) {
            io.err << "mailmoat grey: " << kind << ' ' << value << " is not whitelisted\n";
            return Exit::failed;
        }
        io.out << "removed " << kind << ' ' << value << '\n';
        return Exit::ok;
    }
    auto r = s.add_manual(kind, value, std::chrono::system_clock::now());
    if (r.status == store::Status::tempfail) return store_failure(io, s.describe(), r.error);
    io.out << "whitelisted " << kind << ' ' << value << '\n';
    return Exit::ok;
}

int do_stats(store::GreyStore& s, const greyd::Settings& settings, Io& io) {
    auto all = everything(s);
    if (all.status == store::Status::tempfail) return store_failure(io, s.describe(), all.error);
    auto m = s.manual();
    if (m.status == store::Status::tempfail) return store_failure(io, s.describe(), m.error);
    std::uint64_t passed = 0, attempts = 0, spf = 0, awl = 0;
    for (const auto& e : all.entries) {
        passed += e.passed ? 1 : 0;
        attempts += e.count;
        spf += e.key.rfind("s:", 0) == 0 ? 1 : 0;
    }
    const auto threshold = settings.engine.auto_whitelist_clients;
    for (const auto& c : all.clients) awl += threshold > 0 && c.count >= threshold ? 1 : 0;
    io.out << "store\t" << s.describe() << '\n'
           << "entries\t" << all.entries.size() << '\n'
           << "entries-waiting\t" << all.entries.size() - passed << '\n'
           << "entries-passed\t" << passed << '\n'
           << "entries-spf-keyed\t" << spf << '\n'
           << "attempts\t" << attempts << '\n'
           << "client-counters\t" << all.clients.size() << '\n'
           << "auto-whitelisted-clients\t" << awl << '\n'
           << "manual-whitelist\t" << m.entries.size() << '\n';
    return Exit::ok;
}

int run(const std::vector<std::string>& args, Io& io) {
    po::options_description opts;
    opts.add_options()("help,h", "")("config", po::value<std::string>(), "")("store", po::value<std::string>(), "")("action", po::value<std::string>(), "")(
        "client", po::value<std::string>(), "")("sender", po::value<std::string>(), "")(
        "recipient", po::value<std::string>(), "")("domain", po::value<std::string>(), "")(
        "key", po::value<std::string>(), "")("limit", po::value<std::size_t>()->default_value(1000), "")(
        "awl-client", po::value<std::string>(), "")("remove", "")("list", "");
    po::positional_options_description pos;
    pos.add("action", 1);
    const auto vm = parse_args(args, opts, &pos);
    if (args.empty() || vm.count("help")) {
        (args.empty() ? io.err : io.out) << usage_text;
        return args.empty() ? Exit::usage : Exit::ok;
    }
    if (!vm.count("action")) throw UsageError("no action (list, delete, whitelist, stats)");
    const auto action = vm["action"].as<std::string>();
    if (action != "list" && action != "delete" && action != "whitelist" && action != "stats")
        throw UsageError("unknown action '" + action + "' (list, delete, whitelist, stats)");
    Opened o;
    try {
        o = open_store(vm);
    } catch (const store::StoreError& e) {
        return store_failure(io, "cannot open the store", e.what());
    }
    if (action == "list") return do_list(*o.store, vm, io);
    if (action == "delete") return do_delete(*o.store, vm, io);
    if (action == "whitelist") return do_whitelist(*o.store, vm, io);
    return do_stats(*o.store, o.settings, io);
}

const Registration registration{{"grey", "greylist entries: list, search, delete, whitelist, stats", run}};

}  // namespace
}  // namespace mailmoat::cli
