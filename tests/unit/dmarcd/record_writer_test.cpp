// tests/unit/dmarcd/record_writer_test.cpp - the background record writer: everything submitted is stored
// (also what is still queued when it stops), failures and a full queue are counted, batches form.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "milters/dmarc/record_writer.hpp"

using namespace mailmoat;

namespace {

/// A store that records what it gets and can be held (to let records pile up) or made to fail.
class GateStore : public store::DmarcStore {
public:
    std::mutex m;
    std::condition_variable cv;
    bool open = true;
    bool fail = false;
    int entered = 0;  // add_batch calls begun
    std::vector<std::int64_t> times;
    std::vector<std::size_t> batches;
    store::RecordResult add(const dmarc::ReportRecord& r) override { return add_batch({&r}).front(); }
    std::vector<store::RecordResult> add_batch(const std::vector<const dmarc::ReportRecord*>& rs) override {
        std::unique_lock l(m);
        ++entered;
        cv.notify_all();
        cv.wait(l, [&] { return open; });
        batches.push_back(rs.size());
        std::vector<store::RecordResult> out;
        for (const auto* r : rs) {
            if (fail) {
                out.push_back({store::Status::tempfail, "disk full"});
                continue;
            }
            times.push_back(r->time);
            out.push_back({});
        }
        return out;
    }
    store::RecordsResult records(const std::string&, std::int64_t, std::int64_t, std::size_t) override { return {}; }
    std::string describe() const override { return "gate:"; }
    void set_open(bool o) {
        {
            std::lock_guard l(m);
            open = o;
        }
        cv.notify_all();
    }
};

dmarc::ReportRecord rec(std::int64_t t) {
    dmarc::ReportRecord r;
    r.time = t;
    r.header_from = "example.org";
    return r;
}

}  // namespace

TEST_CASE("record writer: every submitted record is stored, in order, also those queued at stop") {
    auto store = std::make_shared<GateStore>();
    auto failures = std::make_shared<std::atomic<std::uint64_t>>(0);
    {
        dmarcd::RecordWriter w(store, failures);
        store->set_open(false);  // the first batch waits in the store; the rest piles up
        for (int i = 0; i < 200; ++i) REQUIRE(w.submit(rec(i), "Q" + std::to_string(i)));
        store->set_open(true);
    }  // the destructor writes what is still queued
    REQUIRE(store->times.size() == 200);
    for (std::size_t i = 0; i < 200; ++i) CHECK(store->times[i] == static_cast<std::int64_t>(i));
    CHECK(failures->load() == 0);
    // Records that waited behind a write went to the store together.
    CHECK(store->batches.size() < 200);
}

TEST_CASE("record writer: store failures and a full queue are counted, never block the caller") {
    auto store = std::make_shared<GateStore>();
    auto failures = std::make_shared<std::atomic<std::uint64_t>>(0);
    {
        dmarcd::RecordWriter w(store, failures, 4);
        store->set_open(false);
        REQUIRE(w.submit(rec(0), "A"));
        {
            // Until the writer holds record 0 inside the store: the queue is empty again.
            std::unique_lock l(store->m);
            REQUIRE(store->cv.wait_for(l, std::chrono::seconds(10), [&] { return store->entered == 1; }));
            store->fail = true;
        }
        int accepted = 0;
        for (int i = 1; i <= 10; ++i) accepted += w.submit(rec(i), "B") ? 1 : 0;
        CHECK(accepted == 4);
        CHECK(failures->load() == 6);
        store->set_open(true);
    }
    // Record 0 and the four queued ones reached the failing store: counted too.
    CHECK(store->times.empty());
    CHECK(failures->load() == 11);
}
