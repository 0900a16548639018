// common/store/cached_grey_store.hpp - the embedded store's in-memory front: answers from memory, writes SQLite in batches.
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/store/grey_store.hpp"
#include "common/store/sqlite_grey_store.hpp"

namespace mailmoat::store {

struct CacheOptions {
    /// Updates of known entries (last seen, count, passed) and client counters are written at most this
    /// long after they happen, many rows per transaction.
    std::chrono::milliseconds flush_interval{20};
    /// A repeated attempt that changes nothing but an entry's last-seen time and attempt count (an early
    /// retry, a known triplet) is written at most this long after it happens: these fields only move
    /// expiry by seconds out of max-age and count attempts, so they need not cost a write every flush.
    std::chrono::milliseconds seen_flush_interval{5000};
    /// A flush starts early when this many rows wait.
    std::size_t flush_rows = 2048;
    /// How often edits by other processes (the CLI) are picked up from the store's change log.
    std::chrono::milliseconds poll_interval{500};
    /// Longest wait of a new entry for its commit; then the caller gets tempfail.
    std::chrono::milliseconds commit_timeout{2000};
};

/// Keeps every entry and client counter of a SqliteGreyStore in memory (loaded at construction) and
/// answers from there; one writer thread writes changed rows back in one transaction per flush.
///
/// Durability: seen() that creates an entry (a first attempt, answered "greylisted") returns only
/// after the transaction holding it has committed — concurrent creators share one commit (group
/// commit) — so a kill -9 never loses a triplet that was answered as stored. Every other change
/// (last seen, counts, the passed flag, a restarted entry, client counters, expiry) is written within
/// flush_interval; a crash loses at most that window of them. Each such loss only makes a sender wait
/// or retry again (a lost passed flag: the next retry is judged on first seen again and passes; a lost
/// counter: auto-whitelisting comes one retry later); none lets unseen mail through. A repeated attempt
/// that only moves an entry's last-seen time and attempt count is written within seen_flush_interval
/// (default 5 s) instead: a crash may leave those two fields that much behind, which moves the
/// entry's expiry by seconds out of max-age.
///
/// One daemon owns one database file. Other processes (mailmoat grey) edit it through SqliteGreyStore,
/// whose remove() and add_client_pass() log a Change; the writer thread applies those every
/// poll_interval. Thread-safe.
class CachedGreyStore final : public GreyStore {
public:
    /// Loads the store. Throws StoreError when it cannot be read.
    CachedGreyStore(std::unique_ptr<SqliteGreyStore> backing, CacheOptions options = {});
    /// Stops the writer after a last flush.
    ~CachedGreyStore() override;

    EntryResult seen(std::string_view key, TimePoint now, std::chrono::seconds max_age) override;
    EntryResult touch(std::string_view key, TimePoint now, bool passed) override;
    EntryResult set_passed(std::string_view key) override;
    EntryResult restart(std::string_view key, TimePoint now) override;
    ClientResult client(std::string_view client, TimePoint now, std::chrono::seconds max_age) override;
    ClientResult add_client_pass(std::string_view client, TimePoint now, std::uint64_t at_least) override;
    CountResult expire(TimePoint cutoff) override;
    ListResult list(std::string_view substring, std::size_t limit) override;
    CountResult remove(std::string_view key, bool client) override;
    CountResult add_manual(std::string_view kind, std::string_view value, TimePoint now) override;
    CountResult remove_manual(std::string_view kind, std::string_view value) override;
    ManualResult manual() override;
    [[nodiscard]] std::string describe() const override { return backing_->describe(); }

    /// Writes every pending change now and applies the change log (tests; the destructor). Returns the
    /// store's answer.
    CountResult flush();
    /// Rows waiting to be written.
    [[nodiscard]] std::size_t pending() const;

private:
    struct Row {
        std::int64_t first = 0;
        std::int64_t last = 0;
        std::uint64_t count = 0;
        bool passed = false;
    };
    struct ClientRow {
        std::int64_t last = 0;
        std::uint64_t count = 0;
    };
    static constexpr std::size_t shard_count = 16;
    // Looked up by string_view: a request's key is not copied into a std::string to find its row.
    struct KeyHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view k) const noexcept { return std::hash<std::string_view>{}(k); }
    };
    template <class V>
    using KeyMap = std::unordered_map<std::string, V, KeyHash, std::equal_to<>>;
    using KeySet = std::unordered_set<std::string, KeyHash, std::equal_to<>>;
    struct Shard {
        mutable std::mutex mutex;
        KeyMap<Row> entries;
        KeyMap<ClientRow> clients;
        KeySet dirty_entries;
        KeySet dirty_clients;
        KeySet seen_entries;  // only last-seen/count changed; not in dirty_entries
    };

    Shard& shard(std::string_view key);
    void mark(Shard& s, const std::string& key, bool client);  // with s.mutex held
    void mark_seen(Shard& s, std::string_view key);            // with s.mutex held
    void writer();
    CountResult flush_once(bool with_seen);
    void apply_changes();

    std::unique_ptr<SqliteGreyStore> backing_;
    CacheOptions options_;
    std::array<Shard, shard_count> shards_;
    std::int64_t last_change_ = 0;  // writer thread (and flush, under flush_mutex_)

    std::mutex flush_mutex_;  // one flush at a time
    mutable std::mutex wake_mutex_;
    std::condition_variable wake_;       // the writer: rows are waiting, a creator waits, or stop
    std::condition_variable committed_;  // creators: a flush finished
    std::atomic<std::size_t> pending_{0};
    std::uint64_t next_ticket_ = 1;   // under wake_mutex_: the flush generation a creator waits for
    std::uint64_t done_ticket_ = 0;   // under wake_mutex_: last generation flushed (successfully or not)
    std::uint64_t failed_ticket_ = 0; // under wake_mutex_: last generation whose flush failed
    std::string failure_;             // under wake_mutex_
    std::uint64_t want_ticket_ = 0;   // under wake_mutex_: the newest generation a creator waits for
    bool stop_ = false;               // under wake_mutex_
    std::thread thread_;
};

}  // namespace mailmoat::store
