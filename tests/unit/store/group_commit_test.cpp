// tests/unit/store/group_commit_test.cpp - the group commit shared by the DMARC stores: concurrent callers
// are written in shared batches, every entry is settled even when the writer fails, bounds hold.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "common/store/group_commit.hpp"

namespace ms = mailmoat::store;
using Entry = ms::GroupCommit::Entry;

TEST_CASE("concurrent callers share batches and each gets its own result", "[store][group_commit]") {
    ms::GroupCommit gc;
    constexpr int kThreads = 8;
    constexpr int kEach = 200;
    std::vector<mailmoat::dmarc::ReportRecord> records(kThreads);
    std::mutex seen_mutex;
    std::multiset<const mailmoat::dmarc::ReportRecord*> seen;
    std::atomic<int> batches{0};
    std::atomic<int> in_writer{0};
    std::atomic<bool> overlapped{false};
    const ms::GroupCommit::Writer write = [&](const std::vector<Entry*>& batch) {
        if (in_writer.fetch_add(1) != 0) overlapped = true;
        ++batches;
        std::this_thread::sleep_for(std::chrono::microseconds(200));  // lets others queue behind it
        {
            std::lock_guard<std::mutex> lock(seen_mutex);
            for (auto* e : batch) seen.insert(e->record);
        }
        for (auto* e : batch)  // the records of odd threads fail
            if ((e->record - records.data()) % 2 == 1) e->result = {ms::Status::tempfail, "odd"};
        in_writer.fetch_sub(1);
    };
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {  // no Catch macros off the main thread
            for (int i = 0; i < kEach; ++i) {
                std::vector<Entry> mine(1);
                mine[0].record = &records[static_cast<std::size_t>(t)];
                std::size_t waiting = 0;
                if (!gc.commit(mine, write, waiting) || !mine[0].done) ++wrong;
                const auto expect = t % 2 == 1 ? ms::Status::tempfail : ms::Status::ok;
                if (mine[0].result.status != expect) ++wrong;
            }
        });
    }
    for (auto& t : threads) t.join();
    CHECK(wrong.load() == 0);
    CHECK_FALSE(overlapped.load());  // one writer at a time
    CHECK(seen.size() == kThreads * kEach);  // every entry written exactly once
    for (int t = 0; t < kThreads; ++t) CHECK(seen.count(&records[static_cast<std::size_t>(t)]) == kEach);
    CHECK(batches.load() < kThreads * kEach);  // and some were written together
}

TEST_CASE("a writer that throws fails its whole batch, and the next call writes again", "[store][group_commit]") {
    ms::GroupCommit gc;
    mailmoat::dmarc::ReportRecord r;
    std::vector<Entry> mine(3);
    for (auto& e : mine) e.record = &r;
    std::size_t waiting = 0;
    REQUIRE(gc.commit(mine, [](const std::vector<Entry*>&) { throw std::runtime_error("disk on fire"); }, waiting));
    for (const auto& e : mine) {
        CHECK(e.done);
        CHECK(e.result.status == ms::Status::tempfail);
        CHECK(e.result.error == "disk on fire");
    }
    std::vector<Entry> next(1);
    next[0].record = &r;
    REQUIRE(gc.commit(next, [](const std::vector<Entry*>&) {}, waiting));
    CHECK(next[0].result.status == ms::Status::ok);
}

TEST_CASE("an entry without a record is refused; batches keep to max_batch; max_pending refuses", "[store][group_commit]") {
    mailmoat::dmarc::ReportRecord r;
    {
        ms::GroupCommit gc(2);
        std::vector<Entry> mine(5);
        for (auto& e : mine) e.record = &r;
        mine[2].record = nullptr;
        std::vector<std::size_t> sizes;
        std::size_t waiting = 0;
        REQUIRE(gc.commit(mine, [&](const std::vector<Entry*>& batch) { sizes.push_back(batch.size()); }, waiting));
        CHECK(sizes == std::vector<std::size_t>{2, 2});
        CHECK(mine[2].result.status == ms::Status::tempfail);
        CHECK(mine[2].result.error == "no record");
        CHECK(mine[0].result.status == ms::Status::ok);
    }
    {
        ms::GroupCommit gc(0);  // a batch of none would never finish: taken as one
        std::vector<Entry> mine(2);
        for (auto& e : mine) e.record = &r;
        std::vector<std::size_t> sizes;
        std::size_t waiting = 0;
        REQUIRE(gc.commit(mine, [&](const std::vector<Entry*>& batch) { sizes.push_back(batch.size()); }, waiting));
        CHECK(sizes == std::vector<std::size_t>{1, 1});
    }
    {
        ms::GroupCommit gc(1, 1);
        std::atomic<bool> entered{false};
        std::atomic<bool> release{false};
        // A writer held inside its write, and one entry queued behind it: the queue is at max_pending.
        std::thread first([&] {
            std::vector<Entry> mine(1);
            mine[0].record = &r;
            std::size_t w = 0;
            (void)gc.commit(mine, [&](const std::vector<Entry*>&) {
                entered = true;
                while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }, w);
        });
        while (!entered.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        std::thread second([&] {
            std::vector<Entry> mine(1);
            mine[0].record = &r;
            std::size_t w = 0;
            (void)gc.commit(mine, [](const std::vector<Entry*>&) {}, w);
        });
        for (int i = 0; i < 10000 && gc.pending() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        const bool queued = gc.pending() == 1;
        std::vector<Entry> third(1);
        third[0].record = &r;
        std::size_t waiting = 0;
        // Only tried once the queue is full: otherwise it would wait behind the held writer.
        const bool refused = queued && !gc.commit(third, [](const std::vector<Entry*>&) {}, waiting);
        release = true;
        first.join();
        second.join();
        REQUIRE(queued);
        CHECK(refused);
        CHECK(waiting == 1);
        CHECK_FALSE(third[0].done);  // nothing was queued
    }
}
