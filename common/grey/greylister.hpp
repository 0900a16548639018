// common/grey/greylister.hpp - the greylisting decision engine: triplets, delay, retry window, whitelists, SPF keys.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/grey/key_hasher.hpp"
#include "common/grey/sender.hpp"
#include "common/grey/whitelist.hpp"
#include "common/spf/evaluator.hpp"
#include "common/spf/result_cache.hpp"
#include "common/store/grey_store.hpp"
#include "common/util/clock.hpp"
#include "common/util/ip_address.hpp"
#include "common/util/lock_guarded.hpp"

namespace mailmoat::grey {

struct Config {
    std::chrono::seconds delay{300};
    std::chrono::seconds retry_window{2 * 24 * 3600};
    std::chrono::seconds max_age{35 * 24 * 3600};
    unsigned auto_whitelist_clients = 5;  // successful retries before a client skips greylisting; 0: off
    unsigned ipv4_prefix = 24;            // 32: exact address
    unsigned ipv6_prefix = 64;            // 128: exact address
    SenderRules sender_rules;
    bool spf_keying = true;
    std::vector<std::string> skip_domains;           // SPF-authenticated sender domains never greylisted
    std::vector<util::IpNetwork> no_auto_whitelist;  // clients never auto-whitelisted
    std::vector<std::string> no_auto_whitelist_senders;  // senders never auto-whitelisted (see sender_matches)
    std::vector<std::string> trusted_ccerts;         // ccert_fingerprint values that skip greylisting
    bool skip_sasl = true;
};

/// What the engine needs to know about one recipient of one delivery attempt. The texts are views
/// (of the policy request, mostly): they must outlive the decide() call, and nothing is copied per request.
struct Query {
    util::IpAddress client;
    std::string_view client_name = "unknown";  // Postfix client_name: verified, or "unknown"
    std::string_view helo;
    std::string_view sender;  // envelope sender, "" for the null sender
    std::string_view recipient;
    std::string_view sasl_username;
    std::string_view ccert_fingerprint;
};

/// The typed outcome.
struct [[nodiscard]] Result {
    enum class Kind { pass, greylisted, whitelisted, tempfail };
    Kind kind = Kind::tempfail;
    /// pass: "retry" (first accepted retry), "known" (triplet passed before), "sasl", "ccert";
    /// whitelisted: "whitelist-clients:ENTRY", "whitelist-recipients:ENTRY", "auto-whitelist",
    /// "spf-skip-domain:DOMAIN"; greylisted: "new", "early-retry", "retry-window-expired";
    /// tempfail: the store's error.
    std::string reason;
    std::chrono::seconds remaining{0};  // greylisted: seconds until a retry passes
    std::chrono::seconds delayed{0};    // pass "retry": seconds between the first attempt and this one
    std::string key_kind;               // "network", "exact" or "spf" (empty when no key was made)
    std::string key_client;             // "192.0.2.0/24", "2001:db8::1", or the SPF domain
    std::string key;                    // the store key (hashed in privacy mode)
};

[[nodiscard]] const char* kind_name(Result::Kind k) noexcept;

/// True when the envelope sender matches a sender pattern: "user@domain" (that address), "@domain" or
/// "domain" (every sender of that domain or its subdomains). Case-insensitive; the null sender and
/// an empty pattern match nothing.
[[nodiscard]] bool sender_matches(std::string_view sender, std::string_view pattern);

/// Whitelist entries made by hand (`mailmoat grey whitelist`), read from the store.
struct ManualWhitelist {
    std::vector<std::pair<util::IpNetwork, std::string>> clients;  // network, as written
    std::vector<std::string> senders;                              // sender patterns (sender_matches)
    /// Builds it from store entries; entries that do not parse are skipped and named in `bad`.
    [[nodiscard]] static ManualWhitelist from(const std::vector<store::ManualEntry>& entries,
                                              std::vector<std::string>* bad = nullptr);
};

/// The client's group for the triplet: the address masked to the prefix ("192.0.2.0/24"), or the
/// address itself when the prefix is the full length. IPv4-mapped IPv6 addresses are IPv4 already
/// (util::IpAddress::parse). Prefixes beyond the family's length are clamped.
[[nodiscard]] std::string client_group(const util::IpAddress& ip, unsigned ipv4_prefix, unsigned ipv6_prefix);

/// Decides one recipient at a time. Thread-safe when the store and the SPF cache are (both are).
class Greylister {
public:
    /// spf may be null (no SPF keying whatever the config says); cache may be null (no caching).
    /// hasher null: keys are stored in clear.
    Greylister(Config config, ClientWhitelist clients, RecipientWhitelist recipients, store::GreyStore& store,
               const util::Clock& clock, const spf::Evaluator* spf = nullptr, spf::ResultCache* cache = nullptr,
               std::shared_ptr<const KeyHasher> hasher = nullptr);

    /// The decision, in this order: SASL / trusted certificate skip, client whitelist, manual whitelist
    /// (client, sender), recipient whitelist, auto-whitelisted client (unless the client or the sender
    /// is on a no-auto-whitelist list), then the triplet in the store. A store failure is
    /// Kind::tempfail (never a pass or a greylisting by accident).
    Result decide(const Query& q) const;

    /// Replaces the manual whitelist (thread-safe against decide()).
    void set_manual(ManualWhitelist manual);

    /// Deletes entries unseen for max_age. Returns the store's answer.
    [[nodiscard]] store::CountResult sweep() const;

    [[nodiscard]] const Config& config() const noexcept { return config_; }

private:
    std::string store_key(std::string_view text) const;

    Config config_;
    ClientWhitelist clients_;
    RecipientWhitelist recipients_;
    store::GreyStore& store_;
    const util::Clock& clock_;
    const spf::Evaluator* spf_;
    spf::ResultCache* cache_;
    std::shared_ptr<const KeyHasher> hasher_;
    util::LockGuarded<std::shared_ptr<const ManualWhitelist>> manual_;
    std::atomic<bool> manual_empty_{true};  // the manual whitelist has no entry (decide() skips the lock)
};

}  // namespace mailmoat::grey
