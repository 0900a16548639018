// tests/fuzz/fuzz_dkim_verifier.cpp - libFuzzer target: a whole message through the DKIM verifier
// (key lookups answered from memory), checking that every signature gets exactly one result.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/dkim/verifier.hpp"

namespace {

using namespace mailmoat;

class FixedResolver final : public dns::Resolver {
public:
    dns::Answer query(std::string_view name, dns::RrType) override {
        dns::Answer a;
        if (name.find("temp") != std::string_view::npos) return a;  // tempfail
        a.status = dns::Status::ok;
        a.txt = {name.find("rsa") != std::string_view::npos
                     ? "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQi"
                       "Y/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2E"
                       "eC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"
                     : "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="};
        return a;
    }
};

class FixedClock final : public util::Clock {
public:
    std::chrono::system_clock::time_point now() const override {
        return std::chrono::system_clock::time_point(std::chrono::seconds(1767225600));
    }
    std::chrono::steady_clock::time_point steady_now() const override { return {}; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view msg(reinterpret_cast<const char*>(data), size);
    FixedResolver dns;
    FixedClock clock;
    dkim::VerifierConfig cfg;
    cfg.max_headers = 200;
    dkim::Verifier v(dns, clock, cfg);
    std::size_t pos = 0;
    while (pos < msg.size()) {
        std::size_t end = msg.find('\n', pos);
        while (end != std::string_view::npos && end + 1 < msg.size() && (msg[end + 1] == ' ' || msg[end + 1] == '\t'))
            end = msg.find('\n', end + 1);
        const std::string_view line = msg.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        pos = end == std::string_view::npos ? msg.size() : end + 1;
        if (line.empty() || line == "\r") break;
        const auto colon = line.find(':');
        v.add_header(line.substr(0, colon), colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1));
    }
    v.end_of_headers();
    const std::string_view body = msg.substr(std::min(pos, msg.size()));
    v.add_body(body.substr(0, body.size() / 2));
    v.add_body(body.substr(body.size() / 2));
    const auto results = v.finish();
    if (results.size() != std::min<std::size_t>(v.signatures_seen(), cfg.max_reported)) std::abort();
    return 0;
}
