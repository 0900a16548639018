// tests/fuzz/fuzz_ip_address.cpp - libFuzzer target: IpAddress/IpNetwork parsing, formatting, masking.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/util/ip_address.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (const auto net = mailmoat::util::IpNetwork::parse(text)) {
        const auto& a = net->address;
        const auto back = mailmoat::util::IpAddress::parse(a.to_string());
        if (!back || !(*back == a)) std::abort();
        if (!a.in_network(a.masked(net->prefix_len), net->prefix_len)) std::abort();
        (void)a.reverse_name();
        (void)a.spf_macro_form();
    }
    return 0;
}
