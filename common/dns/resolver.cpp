// common/dns/resolver.cpp - names for dns::Status and dns::RrType (for logs and results).
#include "common/dns/resolver.hpp"

namespace mailmoat::dns {

const char* status_name(Status s) noexcept {
    switch (s) {
    case Status::ok: return "ok";
    case Status::nxdomain: return "nxdomain";
    case Status::nodata: return "nodata";
    case Status::tempfail: return "tempfail";
    }
    return "tempfail";
}

const char* type_name(RrType t) noexcept {
    switch (t) {
    case RrType::a: return "A";
    case RrType::ns: return "NS";
    case RrType::cname: return "CNAME";
    case RrType::soa: return "SOA";
    case RrType::ptr: return "PTR";
    case RrType::mx: return "MX";
    case RrType::txt: return "TXT";
    case RrType::aaaa: return "AAAA";
    }
    return "?";
}

}  // namespace mailmoat::dns
