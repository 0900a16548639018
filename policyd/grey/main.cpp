// policyd/grey/main.cpp - mailmoat-grey: settings, store, resolver, policy server, signals, expiry sweeps.
#include <algorithm>
#include <exception>
#include <memory>

#include "common/daemon/daemon.hpp"
#include "common/dns/resolver_factory.hpp"
#include "common/log/logger.hpp"
#include "common/policy/server.hpp"
#include "common/store/cached_grey_store.hpp"
#include "common/store/redis_grey_store.hpp"
#include "common/store/sqlite_grey_store.hpp"
#include "mailmoat/version.hpp"
#include "policyd/grey/grey_policy.hpp"
#include "policyd/grey/settings.hpp"

namespace mm = mailmoat;

namespace {

std::shared_ptr<mm::dns::Resolver> resolver_for(const mm::greyd::Settings& s) {
    if (!s.engine.spf_keying) return nullptr;
    return mm::dns::make_resolver(s.common.dns_server,
                                  std::chrono::duration_cast<std::chrono::milliseconds>(s.common.dns_timeout),
                                  s.common.dns_retries, s.dns_cache_size);
}

/// Opens the store the settings name. Throws store::StoreError when SQLite cannot open the file (fatal
/// at start; a reload keeps the old store). A Redis store opens lazily: an absent server is a tempfail.
std::shared_ptr<mm::store::GreyStore> open_store(const mm::greyd::Settings& s) {
    if (s.store.kind == mm::greyd::StoreSpec::Kind::redis) {
        mm::store::RedisOptions o;
        static_cast<mm::store::RedisEndpoint&>(o) = s.store.redis;
        o.ttl = s.engine.max_age;
        return std::make_shared<mm::store::RedisGreyStore>(o);
    }
    mm::store::SqliteOptions o;
    o.path = s.store.path;
    o.synchronous_full = s.sqlite_synchronous_full;
    // Answers come from memory; the file is written in batches (see CachedGreyStore for what a crash may lose).
    mm::store::CacheOptions c;
    c.flush_interval = s.sqlite_flush_interval;
    return std::make_shared<mm::store::CachedGreyStore>(std::make_unique<mm::store::SqliteGreyStore>(o), c);
}

/// Placeholder handler between listen() and the store being open (never asked: start() comes later).
class StartingHandler final : public mm::policy::Handler {
public:
    explicit StartingHandler(std::string action) : action_(std::move(action)) {}
    [[nodiscard]] mm::policy::Action handle(const mm::policy::Request&, const mm::policy::Peer&) const override {
        return mm::policy::Action::raw(action_);
    }

private:
    std::string action_;
};

mm::policy::ServerOptions server_options(const mm::greyd::Settings& s) {
    mm::policy::ServerOptions o;
    o.socket = s.common.socket;
    o.socket_owner = s.common.socket_owner;
    o.socket_mode = s.common.socket_mode;
    o.max_connections = s.max_connections;
    o.idle_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(s.idle_timeout);
    // A request we cannot answer must let mail flow the way the admin chose for a store failure.
    o.tempfail_action = mm::policy::Action::raw(s.store_failure_action);
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    const auto schema = mm::greyd::make_schema();
    auto settings = std::make_shared<mm::greyd::Settings>();
    // --check-config loads the whitelists and the privacy key too; the store is opened only to run.
    auto start = mm::daemon::start(schema, argc, argv, [&](const mm::config::Values& v) {
        *settings = mm::greyd::build_settings(v);
        (void)mm::greyd::load_client_whitelist(*settings);
        (void)mm::greyd::load_recipient_whitelist(*settings);
        if (!settings->privacy_key_file.empty()) (void)mm::grey::KeyHasher::from_file(settings->privacy_key_file);
    });
    if (start.exit_code) return *start.exit_code;
    try {
        mm::daemon::SignalSet signals;
        std::shared_ptr<const mm::greyd::Settings> current = settings;
        // The socket is made as root; the store is opened after the privilege drop so that its
        // files (database, -wal, -shm) belong to the daemon's user. Until then no request is served.
        mm::policy::Server server(server_options(*current),
                                  std::make_shared<StartingHandler>(current->store_failure_action));
        server.listen();
        mm::daemon::write_pid_file(current->common.pid_file);
        mm::daemon::drop_privileges(current->common.user, current->common.group);
        auto store = open_store(*current);
        auto resolver = resolver_for(*current);
        auto policy = std::make_shared<mm::greyd::GreyPolicy>(current, store, resolver);
        server.set_handler(policy);
        server.start();
        mm::daemon::notify_ready();
        mm::log::notice()
            .kv("event", "started")
            .kv("socket", current->common.socket.to_postfix())
            .kv("store", store->describe())
            .kv("version", mm::version);
        policy->refresh_manual();
        policy->sweep();
        auto next_sweep = std::chrono::steady_clock::now() + current->sweep_interval;
        auto next_refresh = std::chrono::steady_clock::now() + current->manual_refresh;
        for (;;) {
            const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::min(next_sweep, next_refresh) - std::chrono::steady_clock::now());
            const auto event = signals.wait_for(std::max(wait, std::chrono::milliseconds(0)));
            if (!event) {
                const auto now = std::chrono::steady_clock::now();
                if (now >= next_refresh) {
                    policy->refresh_manual();
                    next_refresh = now + current->manual_refresh;
                }
                if (now >= next_sweep) {
                    policy->sweep();
                    next_sweep = std::chrono::steady_clock::now() + current->sweep_interval;
                }
                continue;
            }
            if (*event == mm::daemon::SignalSet::Event::stop) break;
            mm::daemon::notify_reloading();
            try {
                auto next = std::make_shared<mm::greyd::Settings>(
                    mm::greyd::build_settings(mm::daemon::reload(schema, argc, argv)));
                if (next->common.socket.to_postfix() != current->common.socket.to_postfix())
                    mm::log::warning().kv("event", "reload").kv("problem", "socket change needs a restart");
                auto next_store = next->store.to_string() == current->store.to_string() &&
                                          next->sqlite_synchronous_full == current->sqlite_synchronous_full &&
                                          next->sqlite_flush_interval == current->sqlite_flush_interval
                                      ? store
                                      : open_store(*next);
                auto next_resolver = resolver_for(*next);
                auto next_policy = std::make_shared<mm::greyd::GreyPolicy>(next, next_store, next_resolver);
                next_policy->refresh_manual();
                mm::log::set_level(next->common.log_level);
                server.set_handler(next_policy);
                store = next_store;
                resolver = next_resolver;
                policy = next_policy;
                current = next;
                next_sweep = std::chrono::steady_clock::now() + current->sweep_interval;
                mm::log::notice().kv("event", "reloaded").kv("store", store->describe());
            } catch (const std::exception& e) {
                mm::log::error().kv("event", "reload").kv("result", "kept-old-config").kv("problem", e.what());
            }
            mm::daemon::notify_ready();
        }
        mm::daemon::notify_stopping();
        server.stop();
        mm::daemon::remove_pid_file(current->common.pid_file);
        const auto c = server.counters();
        mm::log::notice().kv("event", "stopped").kv("requests", c.requests).kv("connections", c.connections_accepted)
            .kv("spins", c.spins).kv("spin_hits", c.spin_hits);
        return 0;
    } catch (const std::exception& e) {
        mm::log::error().kv("event", "fatal").kv("problem", e.what());
        return 1;
    }
}
