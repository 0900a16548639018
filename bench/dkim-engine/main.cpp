// bench/dkim-engine/main.cpp - measures the DKIM engine's CPU time per message: signing and
// verifying 4 KiB and 64 KiB messages with rsa-sha256 (2048) and ed25519-sha256, relaxed/relaxed,
// keys from an in-memory resolver (with and without the parsed-key cache). Single thread; CPU time.
//   bench-dkim-engine [iterations]
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "common/dkim/signer.hpp"
#include "common/dkim/verifier.hpp"

namespace {

using namespace mailmoat;

/// Process CPU time: the machine may be shared, wall time would measure the neighbours.
std::chrono::nanoseconds cpu_now() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

class OneKeyResolver final : public dns::Resolver {
public:
    std::string name, record;
    dns::Answer query(std::string_view n, dns::RrType) override {
        dns::Answer a;
        a.status = n == name ? dns::Status::ok : dns::Status::nxdomain;
        if (a.ok()) a.txt = {record};
        return a;
    }
};

std::string make_body(std::size_t size) {
    std::string b;
    int i = 0;
    while (b.size() < size) b += "Line " + std::to_string(i++) + " of the message body, with some  text\tand words.\r\n";
    return b;
}

const std::vector<std::pair<std::string, std::string>> headers = {
    {"Received", " from client.example.net by mx.example.org; Mon, 30 Nov 2026 12:00:00 +0000"},
    {"From", " Alice <alice@example.org>"},
    {"To", " Bob <bob@example.net>"},
    {"Subject", " benchmark message"},
    {"Date", " Mon, 30 Nov 2026 12:00:00 +0000"},
    {"Message-ID", " <bench@example.org>"},
    {"MIME-Version", " 1.0"},
    {"Content-Type", " text/plain; charset=us-ascii"},
};

}  // namespace

int main(int argc, char** argv) {
    const int iterations = argc > 1 ? std::atoi(argv[1]) : 2000;
    const util::SystemClock& clock = util::SystemClock::instance();
    std::printf("%-8s %-15s %-6s %-14s %10s %12s\n", "size", "algorithm", "op", "key-parse", "cpu-us/msg", "msgs/s");
    for (const std::size_t size : {std::size_t{4096}, std::size_t{65536}}) {
        const std::string body = make_body(size);
        for (const auto type : {crypto::KeyType::rsa, crypto::KeyType::ed25519}) {
            const auto key = crypto::SigningKey::generate(type, 2048);
            dkim::SignerConfig cfg;
            cfg.domain = "example.org";
            cfg.selector = "bench";
            std::string value;
            auto t0 = cpu_now();
            for (int i = 0; i < iterations; ++i) {
                dkim::Signer s(cfg, key, clock);
                for (const auto& [n, v] : headers) s.add_header(n, v);
                s.add_body(body);
                auto r = s.finish();
                if (r.status != dkim::SignStatus::ok) return 1;
                value = std::move(r.value);
            }
            double us = std::chrono::duration<double, std::micro>(cpu_now() - t0).count() / iterations;
            std::printf("%-8zu %-15s %-6s %-14s %10.1f %12.0f\n", size, key->algorithm(), "sign", "-", us, 1e6 / us);

            OneKeyResolver dns;
            dns.name = "bench._domainkey.example.org";
            dns.record = std::string("v=DKIM1; k=") + crypto::key_type_name(type) + "; p=" + key->public_key_base64();
            for (const bool cached : {false, true}) {
                dkim::VerifierConfig vc;
                if (cached) vc.key_cache = std::make_shared<dkim::PublicKeyCache>();
                t0 = cpu_now();
                for (int i = 0; i < iterations; ++i) {
                    dkim::Verifier v(dns, clock, vc);
                    v.add_header("DKIM-Signature", value);
                    for (const auto& [n, val] : headers) v.add_header(n, val);
                    v.add_body(body);
                    const auto r = v.finish();
                    if (r.size() != 1 || r[0].result != dkim::Result::pass) return 1;
                }
                us = std::chrono::duration<double, std::micro>(cpu_now() - t0).count() / iterations;
                std::printf("%-8zu %-15s %-6s %-14s %10.1f %12.0f\n", size, key->algorithm(), "verify",
                            cached ? "cached" : "every-message", us, 1e6 / us);
            }
        }
    }
    return 0;
}
