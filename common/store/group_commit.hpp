// common/store/group_commit.hpp - group commit of DMARC evaluation records: concurrent callers queue
// their records, one of them writes the queue in one batch, each returns once its own record is settled.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <limits>
#include <mutex>
#include <vector>

#include "common/store/dmarc_store.hpp"

namespace mailmoat::store {

class GroupCommit {
public:
    /// One record waiting to be written, and what became of it.
    struct Entry {
        const dmarc::ReportRecord* record = nullptr;
        RecordResult result;  // ok unless the writer set it (or threw)
        bool done = false;
    };
    /// Writes a batch as one unit (a transaction, a MULTI/EXEC) and sets the result of every entry it
    /// could not store. Throwing fails every entry of the batch with the exception's text.
    using Writer = std::function<void(const std::vector<Entry*>& batch)>;

    explicit GroupCommit(std::size_t max_batch = std::numeric_limits<std::size_t>::max(),
                         std::size_t max_pending = std::numeric_limits<std::size_t>::max())
        : max_batch_(max_batch == 0 ? 1 : max_batch), max_pending_(max_pending) {}
    GroupCommit(const GroupCommit&) = delete;
    GroupCommit& operator=(const GroupCommit&) = delete;

    /// Queues the entries (one without a record is settled at once as a tempfail) and returns when all
    /// are settled. Whichever caller finds no write in progress writes the queue, at most max_batch
    /// entries at a time (at least one), for itself and for the callers waiting; a crash therefore loses nothing that
    /// was answered as stored. Returns false, queueing nothing, when max_pending entries wait already;
    /// `waiting` then holds their number.
    bool commit(std::vector<Entry>& entries, const Writer& write, std::size_t& waiting);
    /// Entries queued now, not yet taken by a writer.
    [[nodiscard]] std::size_t pending() const;

private:
    const std::size_t max_batch_;
    const std::size_t max_pending_;
    mutable std::mutex mutex_;
    std::condition_variable settled_;
    std::vector<Entry*> queue_;  // under mutex_
    bool writing_ = false;       // under mutex_
};

}  // namespace mailmoat::store
