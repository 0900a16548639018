// tests/fuzz/fuzz_spf_record.cpp - libFuzzer target: SPF record parsing and macro expansion of every
// domain-spec it accepts.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/spf/macro.hpp"
#include "common/spf/record.hpp"

using namespace mailmoat;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto r = spf::parse_record(text);
    if (r.status == spf::ParseStatus::not_spf) {
        if (spf::has_spf_version(text)) std::abort();
        return 0;
    }
    if (r.status == spf::ParseStatus::syntax_error) {
        if (r.error.empty() || !r.record.mechanisms.empty()) std::abort();
        return 0;
    }
    spf::MacroEnv env;
    env.local_part = "strong-bad";
    env.sender_domain = "email.example.com";
    env.domain = "email.example.com";
    env.helo = "mx.example.org";
    env.ip = *util::IpAddress::parse("2001:db8::cb01");
    const auto check = [&](const std::string& spec) {
        if (spec.empty()) return;
        if (!spf::valid_domain_spec(spec)) std::abort();
        const auto e = spf::expand_macro_string(spec, spf::MacroContext::domain, env);
        if (e.status == spf::MacroStatus::syntax_error) std::abort();  // parse already validated it
        if (e.text.size() > spf::max_macro_output) std::abort();
        if (spf::truncate_domain(e.text).size() > spf::max_domain_length) std::abort();
    };
    for (const auto& m : r.record.mechanisms) {
        if (m.cidr4 > 32 || m.cidr6 > 128) std::abort();
        check(m.domain_spec);
    }
    if (r.record.redirect) check(*r.record.redirect);
    if (r.record.exp) check(*r.record.exp);
    return 0;
}
