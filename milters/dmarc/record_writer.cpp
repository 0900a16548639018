// milters/dmarc/record_writer.cpp - the evaluation-record queue of mailmoat-dmarc and its writer thread.
#include "milters/dmarc/record_writer.hpp"

#include <exception>

#include "common/log/logger.hpp"

namespace mailmoat::dmarcd {

RecordWriter::RecordWriter(std::shared_ptr<store::DmarcStore> store, std::shared_ptr<std::atomic<std::uint64_t>> failures,
                           std::size_t max_queued)
    : store_(std::move(store)),
      failures_(failures ? std::move(failures) : std::make_shared<std::atomic<std::uint64_t>>(0)),
      max_queued_(max_queued == 0 ? 1 : max_queued),
      thread_([this] { run(); }) {}

RecordWriter::~RecordWriter() {
    {
        std::lock_guard l(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
}

bool RecordWriter::submit(dmarc::ReportRecord record, std::string queue_id) {
    bool was_empty = false;
    {
        std::lock_guard l(mutex_);
        if (queue_.size() >= max_queued_) {
            failures_->fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        was_empty = queue_.empty();
        queue_.push_back(Item{std::move(record), std::move(queue_id)});
    }
    // The thread sleeps only on an empty queue; while it writes, later records just pile up for the
    // next batch and need no wake-up.
    if (was_empty) wake_.notify_one();
    return true;
}

void RecordWriter::run() noexcept {
    std::vector<Item> batch;
    std::vector<const dmarc::ReportRecord*> records;
    std::unique_lock l(mutex_);
    for (;;) {
        wake_.wait(l, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and everything written
        batch.clear();
        batch.swap(queue_);
        l.unlock();
        records.clear();
        for (const auto& i : batch) records.push_back(&i.record);
        std::vector<store::RecordResult> results;
        try {
            results = store_->add_batch(records);
        } catch (const std::exception& e) {
            results.assign(batch.size(), store::RecordResult{store::Status::tempfail, e.what()});
        } catch (...) {
            results.assign(batch.size(), store::RecordResult{store::Status::tempfail, "unexpected error"});
        }
        results.resize(batch.size(), store::RecordResult{store::Status::tempfail, "no result from the store"});
        written_.fetch_add(batch.size(), std::memory_order_relaxed);
        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (results[i].status == store::Status::ok) continue;
            const auto n = failures_->fetch_add(1, std::memory_order_relaxed) + 1;
            try {
                log::warning().queue_id(batch[i].queue_id).kv("store", store_->describe()).kv("error", results[i].error)
                    .kv("store_failures", n).msg("evaluation not recorded");
            } catch (...) {
            }
        }
        l.lock();
    }
}

}  // namespace mailmoat::dmarcd
