// policyd/grey/grey_policy.hpp - the mailmoat-grey policy handler: Postfix request -> greylisting engine -> action.
#pragma once
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

#include "common/dns/resolver.hpp"
#include "common/grey/greylister.hpp"
#include "common/policy/server.hpp"
#include "common/spf/evaluator.hpp"
#include "common/spf/result_cache.hpp"
#include "common/store/grey_store.hpp"
#include "common/util/clock.hpp"
#include "common/util/lock_guarded.hpp"
#include "policyd/grey/settings.hpp"

namespace mailmoat::greyd {

/// What the handler decided for one recipient (for tests and the log line).
struct Decision {
    grey::Result result;
    policy::Action action = policy::Action::dunno();
    std::string skipped;  // non-empty when the engine was not asked: "protocol-state", "no-client-address"
};

class GreyPolicy final : public policy::Handler {
public:
    /// store and resolver are shared with the next handler after a reload. resolver may be null (no
    /// SPF keying). Throws config::ConfigError when a whitelist or the privacy key cannot be loaded.
    GreyPolicy(std::shared_ptr<const Settings> settings, std::shared_ptr<store::GreyStore> store,
               std::shared_ptr<dns::Resolver> resolver, const util::Clock& clock = util::SystemClock::instance());

    [[nodiscard]] policy::Action handle(const policy::Request& request, const policy::Peer& peer) const override;
    /// handle() without the log line.
    [[nodiscard]] Decision decide(const policy::Request& request) const;

    /// Deletes entries older than max-age; logs how many.
    void sweep() const;
    /// Re-reads the manual whitelist (`mailmoat grey whitelist`) from the store; logs when it changed
    /// or cannot be read (then the last one read stays in force).
    void refresh_manual() const;

    [[nodiscard]] const Settings& settings() const noexcept { return *settings_; }

private:
    /// True the first time it is called for this message (Postfix's `instance`), false after.
    bool first_header_for(const std::string& instance) const;

    std::shared_ptr<const Settings> settings_;
    std::shared_ptr<store::GreyStore> store_;
    std::shared_ptr<dns::Resolver> resolver_;
    const util::Clock& clock_;
    std::unique_ptr<spf::Evaluator> evaluator_;
    std::unique_ptr<spf::ResultCache> cache_;
    std::unique_ptr<grey::Greylister> engine_;
    struct Messages {
        std::unordered_map<std::string, std::chrono::steady_clock::time_point> map;
        std::deque<std::string> order;
    };
    mutable util::LockGuarded<Messages> messages_;
    mutable util::LockGuarded<std::size_t> manual_size_{std::in_place, static_cast<std::size_t>(-1)};
};

}  // namespace mailmoat::greyd
