// milters/dmarc/main.cpp - mailmoat-dmarc: settings, resolver, PSL, override table, store, milter runner, signals.
#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>

#include "common/daemon/daemon.hpp"
#include "common/dns/resolver_factory.hpp"
#include "common/log/logger.hpp"
#include "common/milter/runner.hpp"
#include "common/milter/settings.hpp"
#include "common/milter/serve.hpp"
#include "common/store/dmarc_store_factory.hpp"
#include "milters/dmarc/dmarc_session.hpp"
#include "milters/dmarc/engine.hpp"
#include "milters/dmarc/settings.hpp"

using namespace mailmoat;

namespace {

/// Everything a configuration needs besides the settings: opened here so that --check-config and a
/// SIGHUP reload fail on an unreadable list, table or store the same way.
struct Loaded {
    std::shared_ptr<const dmarcd::Settings> settings;
    dmarc::Options options;
    std::shared_ptr<const table::Table> overrides;
};

Loaded load(const config::Values& values) {
    Loaded l;
    auto s = dmarcd::build_settings(values);
    l.options.discovery = s.discovery;
    if (s.discovery == dmarc::Discovery::psl) {
        try {
            l.options.psl = dmarcd::load_public_suffix_list(s.public_suffix_list);
        } catch (const std::runtime_error& e) {
            throw values.error("public-suffix-list", e.what());
        }
    }
    if (!s.override_table.empty()) l.overrides = table::open_table(s.override_table);
    l.settings = std::make_shared<const dmarcd::Settings>(std::move(s));
    return l;
}

// The store is kept across reloads while its settings do not change (connections stay open).
struct OpenedStore {
    std::string key;  // store URL and tuning it was opened with
    std::shared_ptr<store::DmarcStore> store;
};

OpenedStore open_store(const dmarcd::Settings& s, const OpenedStore& current) {
    const auto key = s.store + " " + std::to_string(s.store_timeout.count()) + " " + std::to_string(s.store_ttl.count());
    if (current.store && current.key == key) return current;
    const auto spec = store::parse_dmarc_store_url(s.store);  // validated by build_settings
    if (!spec) throw config::ConfigError("store: bad URL");
    store::DmarcStoreTuning t;
    t.timeout = s.store_timeout;
    t.ttl = s.store_ttl;
    return {key, store::open_dmarc_store(*spec, t)};
}

// The record writer (store-write background) lives as long as its store: kept across reloads with it;
// a reload that changes the store or selects before-reply drops the old writer, which writes its queue
// once the sessions still using the old runtime let go of it.
std::shared_ptr<dmarcd::RecordWriter> open_writer(const dmarcd::Settings& s, const std::shared_ptr<store::DmarcStore>& store,
                                                  const std::shared_ptr<dmarcd::Counters>& counters,
                                                  std::shared_ptr<dmarcd::RecordWriter> current) {
    if (!store || !s.store_write_background) return nullptr;
    if (current && &current->store() == store.get()) return current;
    return std::make_shared<dmarcd::RecordWriter>(
        store, std::shared_ptr<std::atomic<std::uint64_t>>(counters, &counters->store_failures));
}

std::shared_ptr<const dmarcd::Runtime> runtime(Loaded l, std::shared_ptr<dkim::PublicKeyCache> cache,
                                               std::shared_ptr<dmarcd::Counters> counters,
                                               std::shared_ptr<store::DmarcStore> store,
                                               std::shared_ptr<dmarcd::RecordWriter> writer,
                                               std::shared_ptr<dmarcd::FailureReporter> reporter) {
    auto rt = std::make_shared<dmarcd::Runtime>();
    const auto& s = *l.settings;
    rt->resolver = dns::make_resolver(s.common.dns_server,
                                      std::chrono::duration_cast<std::chrono::milliseconds>(s.common.dns_timeout),
                                      s.common.dns_retries, s.dns_cache_size);
    rt->settings = std::move(l.settings);
    rt->options = std::move(l.options);
    rt->overrides = std::move(l.overrides);
    rt->store = std::move(store);
    rt->writer = std::move(writer);
    rt->key_cache = std::move(cache);
    rt->clock = std::make_shared<util::SystemClock>();
    rt->counters = std::move(counters);
    rt->engine = dmarcd::default_engine();
    rt->failure_reporter = std::move(reporter);
    return rt;
}

milter::SessionFactory factory(std::shared_ptr<const dmarcd::Runtime> rt) {
    return [rt] { return std::make_unique<dmarcd::DmarcSession>(rt); };
}

std::string describe(const dmarcd::Runtime& rt) {
    const auto& s = *rt.settings;
    return std::string("discovery=") + (s.discovery == dmarc::Discovery::psl ? "psl" : "treewalk") +
           " spf-source=" + dmarcd::source_name(s.spf_source) + " dkim-source=" + dmarcd::source_name(s.dkim_source) +
           " store=" + (rt.store ? rt.store->describe() : std::string("none")) +
           (rt.store ? (rt.writer ? " store-write=background" : " store-write=before-reply") : "") +
           " failure-reports=" + (s.failure_reports.enabled ? "yes" : "no");
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const auto schema = dmarcd::make_schema();
        auto start = daemon::start(schema, argc, argv, [](const config::Values& v) { (void)load(v); });
        if (start.exit_code) return *start.exit_code;

        daemon::SignalSet signals;  // before any thread starts
        auto key_cache = std::make_shared<dkim::PublicKeyCache>();
        auto counters = std::make_shared<dmarcd::Counters>();
        auto loaded = load(start.values);
        // The store is opened before privileges are dropped: its directory must be writable by the
        // daemon's user for new WAL files, which the packaging arranges (/var/lib/mailmoat).
        auto store = open_store(*loaded.settings, {});
        auto writer = open_writer(*loaded.settings, store.store, counters, nullptr);
        // Failure reports: one worker for the daemon's life (it is idle unless failure-reports is on), started
        // after the signal mask is set so that it never takes a signal meant for the main loop.
        auto reporter = std::make_shared<dmarcd::FailureReporter>();
        auto rt = runtime(std::move(loaded), key_cache, counters, store.store, writer, reporter);
        writer.reset();  // owned by the runtime from here: released (and drained) with it
        auto options = dmarcd::runner_options(start.common.socket);
        milter::apply_runner_settings(start.values, start.common, options);
        milter::Runner runner(options, factory(rt));
        return milter::serve(
            runner, start.common, signals,
            [&] {
                auto l = load(daemon::reload(schema, argc, argv));
                auto st = open_store(*l.settings, store);
                auto w = open_writer(*l.settings, st.store, counters, rt->writer);
                rt = runtime(std::move(l), key_cache, counters, st.store, w, reporter);
                store = std::move(st);
                runner.set_factory(factory(rt));
                log::notice().kv("store_failures", counters->store_failures.load()).kv("evaluations", counters->evaluations.load())
                    .msg("configuration reloaded");
            },
            describe(*rt));
    } catch (const std::exception& e) {
        log::error().kv("error", e.what()).msg("fatal");
        return 1;
    }
}
