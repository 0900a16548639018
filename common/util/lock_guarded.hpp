// common/util/lock_guarded.hpp - shared mutable data reachable only through its lock.
#pragma once
#include <mutex>
#include <utility>

namespace mailmoat::util {

/// LockGuarded<T> keeps a T and a mutex together; the T can only be touched inside with_lock().
template <class T>
class LockGuarded {
public:
    LockGuarded() = default;
    template <class... Args>
    explicit LockGuarded(std::in_place_t, Args&&... args) : value_(std::forward<Args>(args)...) {}

    /// Runs fn(T&) under the lock and returns what fn returns.
    template <class Fn>
    decltype(auto) with_lock(Fn&& fn) {
        std::lock_guard<std::mutex> guard(mutex_);
        return std::forward<Fn>(fn)(value_);
    }
    template <class Fn>
    decltype(auto) with_lock(Fn&& fn) const {
        std::lock_guard<std::mutex> guard(mutex_);
        return std::forward<Fn>(fn)(value_);
    }

private:
    mutable std::mutex mutex_;
    T value_{};
};

}  // namespace mailmoat::util
