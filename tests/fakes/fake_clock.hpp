// tests/fakes/fake_clock.hpp - a util::Clock that only moves when a test says so.
#pragma once
#include <chrono>
#include <mutex>

#include "common/util/clock.hpp"

namespace mailmoat::test {

/// Wall and monotonic time start at fixed points (wall: 2024-01-01T00:00:00Z) and move together on
/// advance(). set() moves only the wall clock. Thread-safe, so engines under test may read it from
/// several threads while the test advances it.
class FakeClock final : public util::Clock {
public:
    using SysTime = std::chrono::system_clock::time_point;
    using SteadyTime = std::chrono::steady_clock::time_point;

    FakeClock() = default;
    explicit FakeClock(SysTime wall) : wall_(wall) {}

    [[nodiscard]] SysTime now() const override {
        std::lock_guard<std::mutex> lock(mutex_);
        return wall_;
    }
    [[nodiscard]] SteadyTime steady_now() const override {
        std::lock_guard<std::mutex> lock(mutex_);
        return steady_;
    }
    /// Sets the wall clock (the monotonic clock never goes back).
    void set(SysTime wall) {
        std::lock_guard<std::mutex> lock(mutex_);
        wall_ = wall;
    }
    /// Sets the wall clock to seconds since the epoch.
    void set_unix(long long seconds) { set(SysTime{std::chrono::seconds(seconds)}); }
    /// Moves both clocks forward by d (negative d is ignored for the monotonic clock).
    void advance(std::chrono::steady_clock::duration d) {
        std::lock_guard<std::mutex> lock(mutex_);
        wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
        if (d > d.zero()) steady_ += d;
    }

private:
    mutable std::mutex mutex_;
    SysTime wall_{std::chrono::seconds(1704067200)};
    SteadyTime steady_{std::chrono::hours(1000)};
};

}  // namespace mailmoat::test
