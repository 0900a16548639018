// tests/fuzz/fuzz_dns_answer.cpp - libFuzzer target: DNS reply decoding (dns::parse_answer) and its bounds.
#include <cstdint>
#include <cstdlib>

#include "common/dns/ldns_resolver.hpp"

using mailmoat::dns::Answer;
using mailmoat::dns::LdnsResolver;
using mailmoat::dns::RrType;
using mailmoat::dns::Status;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // The first byte picks the question type; the rest is the reply to "example.com".
    if (size < 1) return 0;
    static constexpr RrType types[] = {RrType::a,   RrType::aaaa, RrType::mx,  RrType::txt,
                                       RrType::ptr, RrType::ns,   RrType::cname, RrType::soa};
    const RrType type = types[data[0] % 8];
    const Answer a = mailmoat::dns::parse_answer(data + 1, size - 1, "example.com", type);
    const std::size_t records = a.addresses.size() + a.mx.size() + a.txt.size() + a.names.size();
    std::size_t txt_bytes = 0;
    for (const auto& t : a.txt) txt_bytes += t.size();
    if (records > LdnsResolver::max_records || txt_bytes > LdnsResolver::max_txt_bytes) std::abort();
    if (a.status == Status::ok && records == 0 && type != RrType::txt) std::abort();
    if (a.status != Status::ok && records != 0 && a.status != Status::tempfail) std::abort();
    if ((a.status == Status::tempfail) == a.error.empty()) std::abort();
    return 0;
}
