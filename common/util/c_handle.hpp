// common/util/c_handle.hpp - unique_ptr aliases with stateless deleters for C library handles.
#pragma once
#include <memory>

namespace mailmoat::util {

/// Deleter calling a C free function; stateless so the unique_ptr stays pointer-sized.
template <auto FreeFn>
struct FnDeleter {
    template <class T>
    void operator()(T* p) const noexcept {
        if (p != nullptr) FreeFn(p);
    }
};

/// CHandle<ldns_pkt, ldns_pkt_free> owns an ldns_pkt*; every C handle in the suite is one of these,
/// declared in the one header per library (crypto/ssl_handles.hpp, dns/ldns_handles.hpp, ...).
template <class T, auto FreeFn>
using CHandle = std::unique_ptr<T, FnDeleter<FreeFn>>;

}  // namespace mailmoat::util
