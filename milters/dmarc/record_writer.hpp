// milters/dmarc/record_writer.hpp - writes mailmoat-dmarc's evaluation records to the store on a thread of
// its own, so that a message's reply never waits for the store (group commit off the mail path).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/dmarc/report_record.hpp"
#include "common/store/dmarc_store.hpp"

namespace mailmoat::dmarcd {

/// A bounded queue of evaluation records and the one thread that drains it: everything queued since
/// the last write goes to the store in one DmarcStore::add_batch() (one SQLite transaction). A record
/// the store refuses is logged (warning, with its queue id) and counted in `failures`; so is a record
/// refused because the queue is full (submit() returns false: the caller logs it).
///
/// Durability: a record is in the store a few milliseconds after submit(). Stopping (the destructor,
/// run on SIGTERM and when a reload changes the store) writes everything still queued first, so a
/// stop or restart loses nothing; a crash of the process can lose the records of the messages answered
/// in the last moment (store-write before-reply keeps the reply waiting for the commit instead).
class RecordWriter {
public:
    /// `failures` is incremented for every record not stored (it may be shared with other counters).
    RecordWriter(std::shared_ptr<store::DmarcStore> store, std::shared_ptr<std::atomic<std::uint64_t>> failures,
                 std::size_t max_queued = 10000);
    RecordWriter(const RecordWriter&) = delete;
    RecordWriter& operator=(const RecordWriter&) = delete;
    /// Writes what is queued, then stops the thread.
    ~RecordWriter();

    /// Queues one record; false (nothing queued, counted in failures) when max_queued records wait already.
    [[nodiscard]] bool submit(dmarc::ReportRecord record, std::string queue_id);

    [[nodiscard]] const store::DmarcStore& store() const noexcept { return *store_; }
    /// Records handed to the store so far (stored or failed), for tests and status lines.
    [[nodiscard]] std::uint64_t written() const noexcept { return written_.load(); }

private:
    struct Item {
        dmarc::ReportRecord record;
        std::string queue_id;
    };
    void run() noexcept;

    std::shared_ptr<store::DmarcStore> store_;
    std::shared_ptr<std::atomic<std::uint64_t>> failures_;
    const std::size_t max_queued_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<Item> queue_;  // under mutex_
    bool stopping_ = false;    // under mutex_
    std::atomic<std::uint64_t> written_{0};
    std::thread thread_;       // last: started once everything above exists
};

}  // namespace mailmoat::dmarcd
