// milters/dkim/main.cpp - mailmoat-dkim: settings, keys, resolver, milter runner, signals.
#include <exception>
#include <memory>

#include "common/daemon/daemon.hpp"
#include "common/dns/resolver_factory.hpp"
#include "common/log/logger.hpp"
#include "common/milter/runner.hpp"
#include "common/milter/settings.hpp"
#include "common/milter/serve.hpp"
#include "milters/dkim/dkim_session.hpp"
#include "milters/dkim/settings.hpp"

using namespace mailmoat;

namespace {


std::shared_ptr<const dkimd::Settings> load(const config::Values& values) {
    auto s = dkimd::build_settings(values);
    dkimd::load_keys(s, values);
    return std::make_shared<const dkimd::Settings>(std::move(s));
}

std::shared_ptr<const dkimd::Runtime> runtime(std::shared_ptr<const dkimd::Settings> s,
                                              std::shared_ptr<dkim::PublicKeyCache> cache) {
    auto rt = std::make_shared<dkimd::Runtime>();
    rt->resolver = dns::make_resolver(s->common.dns_server,
                                      std::chrono::duration_cast<std::chrono::milliseconds>(s->common.dns_timeout),
                                      s->common.dns_retries, s->dns_cache_size);
    rt->settings = std::move(s);
    rt->key_cache = std::move(cache);
    rt->clock = std::make_shared<util::SystemClock>();
    return rt;
}

milter::SessionFactory factory(std::shared_ptr<const dkimd::Runtime> rt) {
    return [rt] { return std::make_unique<dkimd::DkimSession>(rt); };
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const auto schema = dkimd::make_schema();
        auto start = daemon::start(schema, argc, argv, [](const config::Values& v) { (void)load(v); });
        if (start.exit_code) return *start.exit_code;

        daemon::SignalSet signals;  // before any thread starts
        // Keys are read here, before privileges are dropped (they are normally root-only files).
        auto key_cache = std::make_shared<dkim::PublicKeyCache>();
        auto rt = runtime(load(start.values), key_cache);
        auto options = dkimd::runner_options(start.common.socket);
        milter::apply_runner_settings(start.values, start.common, options);
        milter::Runner runner(options, factory(rt));
        return milter::serve(
            runner, start.common, signals,
            [&] {
                // After the privilege drop the key files must be readable by the daemon's user for
                // a reload to pick up new keys; otherwise the old configuration stays.
                rt = runtime(load(daemon::reload(schema, argc, argv)), key_cache);
                runner.set_factory(factory(rt));
                log::notice().kv("keys", rt->settings->keys.size()).msg("configuration reloaded");
            },
            std::string("mode=") + dkimd::mode_name(rt->settings->mode) + " keys=" + std::to_string(rt->settings->keys.size()));
    } catch (const std::exception& e) {
        log::error().kv("error", e.what()).msg("fatal");
        return 1;
    }
}
