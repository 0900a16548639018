// common/store/grey_store.hpp - the greylist store interface: triplet entries and auto-whitelist counters.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailmoat::store {

using TimePoint = std::chrono::system_clock::time_point;

/// Outcome of every store operation. tempfail means the store could not answer (locked past the busy
/// timeout, I/O error, connection down): callers must treat it as "unknown", never as not_found.
enum class Status { ok, not_found, tempfail };

[[nodiscard]] const char* status_name(Status s) noexcept;

/// One greylist entry. The key is opaque to the store (the engine builds it, possibly hashed).
struct Entry {
    std::string key;
    TimePoint first_seen{};
    TimePoint last_seen{};
    std::uint64_t count = 0;  // attempts seen, the first included
    bool passed = false;      // a retry was accepted at least once
};

struct [[nodiscard]] EntryResult {
    Status status = Status::tempfail;
    Entry entry;           // ok only
    bool created = false;  // ok only: this call inserted the entry (first seen)
    std::string error;     // tempfail only: why, for the log
};

/// Per-client auto-whitelist counter (postgrey's --auto-whitelist-clients).
struct ClientEntry {
    std::string client;
    TimePoint last_seen{};
    std::uint64_t count = 0;  // successful retries
};

struct [[nodiscard]] ClientResult {
    Status status = Status::tempfail;
    ClientEntry client;
    std::string error;
};

struct [[nodiscard]] CountResult {
    Status status = Status::tempfail;
    std::uint64_t count = 0;
    std::string error;
};

/// A whitelist entry added by hand (`mailmoat grey whitelist`): kind "client" (an address or CIDR
/// network) or "sender" (an address, or a domain matching every sender of it). Kept in clear even in
/// privacy mode: the administrator wrote it.
struct ManualEntry {
    std::string kind;
    std::string value;
    TimePoint added{};
};

struct [[nodiscard]] ManualResult {
    Status status = Status::tempfail;
    std::vector<ManualEntry> entries;
    std::string error;
};

/// Whole seconds since the epoch, as every store keeps times (shared by the SQLite and Redis rows).
[[nodiscard]] inline std::int64_t to_unix(TimePoint t) noexcept {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
[[nodiscard]] inline TimePoint from_unix(std::int64_t s) noexcept {
    return TimePoint{std::chrono::seconds(s)};
}

struct [[nodiscard]] ListResult {
    Status status = Status::tempfail;
    std::vector<Entry> entries;
    std::vector<ClientEntry> clients;
    std::string error;
};

/// A greylist store. Implementations are thread-safe: one object serves every connection thread.
/// Every method returns tempfail instead of throwing when the backing store fails.
class GreyStore {
public:
    GreyStore() = default;
    GreyStore(const GreyStore&) = delete;
    GreyStore& operator=(const GreyStore&) = delete;
    virtual ~GreyStore() = default;

    /// Atomically: when no entry has `key`, inserts {first_seen = last_seen = now, count = 1} and
    /// returns it with created = true; otherwise records this attempt (last_seen = now, count += 1)
    /// and returns the entry as it was before (created = false), so one round trip serves the common
    /// cases. Two concurrent callers with one new key: exactly one sees created = true. An entry
    /// whose last_seen is older than now - max_age counts as absent and is replaced.
    virtual EntryResult seen(std::string_view key, TimePoint now, std::chrono::seconds max_age) = 0;

    /// Marks an entry as passed (its retry was accepted). not_found when it vanished meanwhile.
    virtual EntryResult set_passed(std::string_view key) = 0;

    /// Records another attempt: last_seen = now, count += 1, passed |= passed. not_found when the
    /// entry vanished (expired and swept) meanwhile.
    virtual EntryResult touch(std::string_view key, TimePoint now, bool passed) = 0;

    /// Restarts an entry whose retry window ran out: first_seen = last_seen = now, count = 1, not passed.
    virtual EntryResult restart(std::string_view key, TimePoint now) = 0;

    /// Auto-whitelist: the client's counter, not_found when it has none or it is older than max_age.
    virtual ClientResult client(std::string_view client, TimePoint now, std::chrono::seconds max_age) = 0;
    /// Adds one successful retry (or sets it to at least `at_least`, for a manual whitelist) and
    /// refreshes last_seen; returns the new counter.
    virtual ClientResult add_client_pass(std::string_view client, TimePoint now, std::uint64_t at_least = 0) = 0;

    /// Deletes entries and client counters last seen before `cutoff`. Returns how many went.
    virtual CountResult expire(TimePoint cutoff) = 0;

    /// Entries whose key contains `substring` (all when empty), at most `limit`, oldest first; and
    /// the client counters matching likewise.
    virtual ListResult list(std::string_view substring, std::size_t limit) = 0;
    /// Deletes one entry (or client counter when client is true). not_found when absent.
    virtual CountResult remove(std::string_view key, bool client) = 0;

    /// Manual whitelist: adds (or re-dates) one entry; ok with count 1. Removes one; not_found when absent.
    virtual CountResult add_manual(std::string_view kind, std::string_view value, TimePoint now) = 0;
    virtual CountResult remove_manual(std::string_view kind, std::string_view value) = 0;
    /// Every manual whitelist entry.
    virtual ManualResult manual() = 0;

    /// What the store is, for logs: "sqlite:/var/lib/mailmoat/grey.db".
    [[nodiscard]] virtual std::string describe() const = 0;
};

}  // namespace mailmoat::store
