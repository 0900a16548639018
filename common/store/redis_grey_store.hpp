// common/store/redis_grey_store.hpp - the shared greylist store on Redis: Lua-atomic first-seen, TTL expiry,
// reconnect with backoff.
#pragma once
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/store/grey_store.hpp"
#include "common/store/redis_connection.hpp"
#include "common/util/clock.hpp"
#include "common/util/lock_guarded.hpp"

namespace mailmoat::store {

/// Several MX hosts share one Redis: entries are hashes under PREFIX "e:" KEY, client counters under
/// PREFIX "c:" CLIENT, both with a TTL of max-age refreshed on every write. seen/touch/restart/
/// add_client_pass run as Lua scripts, so each is atomic on the server. A connection that fails is
/// dropped; while the server is down every call returns tempfail at once (no connection attempt
/// before the backoff has passed), so Postfix is never kept waiting longer than one timeout.
/// The constructor never fails: an unreachable server is a runtime condition.
class RedisGreyStore final : public GreyStore {
public:
    explicit RedisGreyStore(RedisOptions options, const util::Clock& clock = util::SystemClock::instance());
    ~RedisGreyStore() override;

    EntryResult seen(std::string_view key, TimePoint now, std::chrono::seconds max_age) override;
    EntryResult touch(std::string_view key, TimePoint now, bool passed) override;
    EntryResult set_passed(std::string_view key) override;
    EntryResult restart(std::string_view key, TimePoint now) override;
    ClientResult client(std::string_view client, TimePoint now, std::chrono::seconds max_age) override;
    ClientResult add_client_pass(std::string_view client, TimePoint now, std::uint64_t at_least) override;
    /// Redis expires entries by TTL itself: returns ok with count 0.
    CountResult expire(TimePoint cutoff) override;
    ListResult list(std::string_view substring, std::size_t limit) override;
    CountResult remove(std::string_view key, bool client) override;
    /// Manual whitelist entries: one hash, PREFIX "manual", field "KIND:VALUE" = added (no TTL).
    CountResult add_manual(std::string_view kind, std::string_view value, TimePoint now) override;
    CountResult remove_manual(std::string_view kind, std::string_view value) override;
    ManualResult manual() override;
    [[nodiscard]] std::string describe() const override;

private:
    RedisOptions options_;
    RedisPool pool_;
};

}  // namespace mailmoat::store
