// policyd/spf/spf_policy.hpp - the mailmoat-spf policy handler: Postfix request -> SPF checks -> action.
#pragma once
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/dns/resolver.hpp"
#include "common/policy/server.hpp"
#include "common/spf/evaluator.hpp"
#include "common/spf/result_cache.hpp"
#include "common/table/table.hpp"
#include "common/util/clock.hpp"
#include "common/util/lock_guarded.hpp"
#include "policyd/spf/settings.hpp"

namespace mailmoat::spfd {

/// What the handler decided for one recipient, before it becomes a policy::Action (for tests and logs).
struct Decision {
    enum class Kind { skip, reject, defer, header, none };
    Kind kind = Kind::none;
    policy::Action action = policy::Action::dunno();
    std::string reason;  // skip reason / "helo fail" / "mailfrom permerror" ...
};

/// Per-message memory, keyed by Postfix's `instance` attribute: the results are computed once per
/// message and the result header is prepended once, whatever the number of recipients.
struct MessageState {
    std::optional<spf::Result> helo;
    std::optional<spf::Result> mail_from;
    bool whitelisted = false;
    std::string whitelist_reason;
    bool header_added = false;
    bool ar_added = false;
    std::chrono::steady_clock::time_point created;
};

class SpfPolicy final : public policy::Handler {
public:
    /// resolver must be thread-safe (dns::CachingResolver over LdnsResolver in the daemon).
    /// Throws table::TableError / config::ConfigError when per-recipient-table cannot be opened.
    SpfPolicy(std::shared_ptr<const Settings> settings, std::shared_ptr<dns::Resolver> resolver,
              const util::Clock& clock = util::SystemClock::instance());

    [[nodiscard]] policy::Action handle(const policy::Request& request, const policy::Peer& peer) const override;
    /// handle() without the logging side: the decision and its action.
    [[nodiscard]] Decision decide(const policy::Request& request) const;

    [[nodiscard]] std::size_t cache_entries() const { return cache_.size(); }
    [[nodiscard]] const Settings& settings() const noexcept { return *settings_; }

    /// Received-SPF field (RFC 7208 §9.1), without the trailing newline. Mail data is quoted/escaped.
    [[nodiscard]] std::string received_spf(const spf::Result& r, const util::IpAddress& ip, std::string_view sender,
                                           std::string_view helo) const;
    /// Authentication-Results field (RFC 8601 §2.7.2: spf with smtp.mailfrom / smtp.helo).
    [[nodiscard]] std::string authentication_results(const MessageState& m, std::string_view sender,
                                                     std::string_view helo) const;

private:
    spf::Result check(spf::Identity identity, const util::IpAddress& ip, std::string_view sender, std::string_view helo) const;
    MessageState evaluate(const policy::Request& request, const util::IpAddress& ip) const;
    Knobs knobs_for(const policy::Request& request) const;
    bool helo_confirmed(std::string_view helo, const util::IpAddress& ip) const;

    std::shared_ptr<const Settings> settings_;
    std::shared_ptr<dns::Resolver> resolver_;
    const util::Clock& clock_;
    spf::Evaluator evaluator_;
    std::shared_ptr<const table::Table> per_recipient_;
    mutable spf::ResultCache cache_;
    struct Messages {
        std::unordered_map<std::string, MessageState> map;
        std::deque<std::string> order;
    };
    mutable util::LockGuarded<Messages> messages_;
};

}  // namespace mailmoat::spfd
