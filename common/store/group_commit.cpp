// common/store/group_commit.cpp - group commit of DMARC evaluation records (see the header).
#include "common/store/group_commit.hpp"

#include <algorithm>
#include <exception>
#include <string>

namespace mailmoat::store {

bool GroupCommit::commit(std::vector<Entry>& entries, const Writer& write, std::size_t& waiting) {
    std::unique_lock lock(mutex_);
    if (queue_.size() >= max_pending_) {
        waiting = queue_.size();
        return false;
    }
    for (auto& e : entries) {
        if (e.record == nullptr) {
            e.result = {Status::tempfail, "no record"};
            e.done = true;
        } else {
            queue_.push_back(&e);
        }
    }
    const auto all_settled = [&] { return std::all_of(entries.begin(), entries.end(), [](const Entry& e) { return e.done; }); };
    while (!all_settled()) {
        if (writing_) {
            settled_.wait(lock);
            continue;
        }
        writing_ = true;
        const auto n = static_cast<std::ptrdiff_t>(std::min(queue_.size(), max_batch_));
        std::vector<Entry*> batch(queue_.begin(), queue_.begin() + n);
        queue_.erase(queue_.begin(), queue_.begin() + n);
        lock.unlock();
        // Whatever happens, the batch is settled and writing_ cleared: a waiter must never hang.
        try {
            write(batch);
        } catch (const std::exception& e) {
            for (auto* p : batch) p->result = {Status::tempfail, e.what()};
        } catch (...) {
            for (auto* p : batch) p->result = {Status::tempfail, "unexpected error"};
        }
        lock.lock();
        for (auto* p : batch) p->done = true;
        writing_ = false;
        settled_.notify_all();
    }
    return true;
}

std::size_t GroupCommit::pending() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
}

}  // namespace mailmoat::store
