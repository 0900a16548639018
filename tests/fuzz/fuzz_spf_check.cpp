// tests/fuzz/fuzz_spf_check.cpp - libFuzzer target: check_host() over a resolver that serves the
// fuzz input as every name's TXT record (so include/redirect recurse into it), with addresses, MX
// and PTR answers for every name. Checks bounds: queries capped, no crash, a valid result.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/spf/evaluator.hpp"
#include "common/spf/macro.hpp"

using namespace mailmoat;

namespace {

class EchoResolver final : public dns::Resolver {
public:
    std::string record;
    unsigned queries = 0;
    dns::Answer query(std::string_view name, dns::RrType type) override {
        ++queries;
        dns::Answer a;
        if (name.empty() || name.size() > 253 || name.front() == 'n') {  // "n...": NXDOMAIN
            a.status = dns::Status::nxdomain;
            return a;
        }
        if (name.front() == 't') {  // "t...": timeout
            a.status = dns::Status::tempfail;
            a.error = "timeout";
            return a;
        }
        a.status = dns::Status::ok;
        a.ttl = 60;
        switch (type) {
            case dns::RrType::txt:
                a.txt.push_back(record);
                break;
            case dns::RrType::a:
                a.addresses.push_back(*util::IpAddress::parse("192.0.2.1"));
                break;
            case dns::RrType::aaaa:
                a.addresses.push_back(*util::IpAddress::parse("2001:db8::1"));
                break;
            case dns::RrType::mx:
                for (int i = 0; i < 3; ++i)
                    a.mx.push_back({static_cast<std::uint16_t>(i), "mx" + std::to_string(i) + ".example.com"});
                break;
            case dns::RrType::ptr:
                a.names.push_back("mail.example.com");
                break;
            default:
                a.status = dns::Status::nodata;
                break;
        }
        return a;
    }
};

class StillClock final : public util::Clock {
public:
    std::chrono::system_clock::time_point now() const override { return {}; }
    std::chrono::steady_clock::time_point steady_now() const override { return {}; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    // First line: the sender's local-part (at most 64 octets); the rest: the record.
    const auto nl = in.find('\n');
    std::string local(in.substr(0, std::min<std::size_t>(nl == std::string_view::npos ? 0 : nl, 64)));
    EchoResolver resolver;
    resolver.record = std::string(nl == std::string_view::npos ? in : in.substr(nl + 1));
    StillClock clock;
    spf::Options opt;
    opt.default_explanation = "%{s} %{c}";
    spf::Evaluator ev(resolver, clock, opt);
    for (const char* client : {"192.0.2.1", "2001:db8::1"}) {
        const auto ip = *util::IpAddress::parse(client);
        const auto r =
            ev.check_mail_from(ip, (local.empty() ? std::string("x") : local) + "@example.com", "helo.example.org");
        if (r.queries > opt.max_queries || r.dns_terms > opt.max_dns_terms + 1) std::abort();
        if (r.code != spf::Code::fail && !r.explanation.empty()) std::abort();
        if (r.explanation.size() > spf::max_macro_output) std::abort();
        if (std::string_view(spf::code_name(r.code)).empty()) std::abort();
    }
    return 0;
}
