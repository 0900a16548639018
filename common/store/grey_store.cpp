// common/store/grey_store.cpp - names of store statuses.
#include "common/store/grey_store.hpp"

namespace mailmoat::store {

const char* status_name(Status s) noexcept {
    switch (s) {
        case Status::ok:
            return "ok";
        case Status::not_found:
            return "not_found";
        case Status::tempfail:
            return "tempfail";
    }
    return "tempfail";
}

}  // namespace mailmoat::store
