// common/util/clock.hpp - injectable wall and monotonic clocks (engines never call now() directly).
#pragma once
#include <chrono>

namespace mailmoat::util {

class Clock {
public:
    virtual ~Clock() = default;
    /// Wall-clock time (for expiry stamps, report periods, DKIM t=/x=).
    [[nodiscard]] virtual std::chrono::system_clock::time_point now() const = 0;
    /// Monotonic time (for timeouts, TTL ageing).
    [[nodiscard]] virtual std::chrono::steady_clock::time_point steady_now() const = 0;
};

class SystemClock final : public Clock {
public:
    [[nodiscard]] std::chrono::system_clock::time_point now() const override {
        return std::chrono::system_clock::now();
    }
    [[nodiscard]] std::chrono::steady_clock::time_point steady_now() const override {
        return std::chrono::steady_clock::now();
    }
    /// The process-wide system clock.
    static const SystemClock& instance() {
        static const SystemClock clock;
        return clock;
    }
};

}  // namespace mailmoat::util
