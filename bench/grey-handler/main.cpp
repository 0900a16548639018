// bench/grey-handler/main.cpp - mailmoat-grey-handler-bench: what one request costs mailmoat-grey in user space
// (parse, decide on the embedded store's memory front, answer), without sockets or threads, next to a
// do-nothing handler on the same parser. The requests are those of mailmoat-policy-load (256 variants).
//
// Usage: mailmoat-grey-handler-bench [--known] [--grey-only] [--iterations N]
//   default: "unseen" triplets (delay 1 h: after the first pass every request is an early retry);
//   --known: delay 1 s and two passes 1.1 s apart first, so that every triplet has passed;
//   --grey-only: skip the do-nothing handler (to count instructions of the grey passes alone).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <unistd.h>

#include "common/config/options.hpp"
#include "common/log/logger.hpp"
#include "common/policy/request.hpp"
#include "common/store/cached_grey_store.hpp"
#include "common/store/sqlite_grey_store.hpp"
#include "policyd/grey/grey_policy.hpp"
#include "policyd/grey/settings.hpp"

namespace mm = mailmoat;

namespace {

// The same RCPT-stage requests as bench/policy-load.
std::vector<std::string> make_requests(std::size_t count) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < count; ++i) {
        const std::string n = std::to_string(i);
        const std::string ip = "198.51." + std::to_string(100 + i % 100) + "." + std::to_string(1 + i % 250);
        const std::string host = "mail" + n + ".sender" + std::to_string(i % 37) + ".example";
        std::string r;
        r += "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n";
        r += "client_address=" + ip + "\n";
        r += "client_name=" + host + "\n";
        r += "client_port=" + std::to_string(30000 + i) + "\n";
        r += "reverse_client_name=" + host + "\n";
        r += "server_address=192.0.2.25\nserver_port=25\n";
        r += "helo_name=" + host + "\n";
        r += "sender=newsletter+" + n + "@sender" + std::to_string(i % 37) + ".example\n";
        r += "recipient=user" + std::to_string(i % 113) + "@example.net\n";
        r += "recipient_count=0\nqueue_id=\n";
        r += "instance=" + std::to_string(4000 + i) + ".656e0a1b.a3f2c.0\n";
        r += "size=" + std::to_string(2000 + 37 * i) + "\n";
        r += "etrn_domain=\nstress=\nsasl_method=\nsasl_username=\nsasl_sender=\n";
        r += "ccert_subject=\nccert_issuer=\nccert_fingerprint=\nccert_pubkey_fingerprint=\n";
        r += "encryption_protocol=TLSv1.3\nencryption_cipher=TLS_AES_256_GCM_SHA384\nencryption_keysize=256\n";
        r += "policy_context=\n\n";
        out.push_back(std::move(r));
    }
    return out;
}

class NullHandler final : public mm::policy::Handler {
public:
    mm::policy::Action handle(const mm::policy::Request&, const mm::policy::Peer&) const override { return answer_; }

private:
    const mm::policy::Action answer_ = mm::policy::Action::dunno();
};

// Parses, answers and formats every request `passes` times; returns nanoseconds per request.
double run(const mm::policy::Handler& h, const std::vector<std::string>& requests, std::size_t passes) {
    mm::policy::RequestParser parser;
    mm::policy::Peer peer;
    std::size_t bytes = 0;
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t p = 0; p < passes; ++p) {
        for (const auto& text : requests) {
            parser.feed(text);
            auto r = parser.next();
            if (r.status != mm::policy::ParseResult::Status::complete) {
                std::fprintf(stderr, "request did not parse\n");
                std::exit(1);
            }
            const auto action = h.handle(r.request, peer);
            bytes += action.wire().size();
            parser.recycle(std::move(r.request));
        }
    }
    const auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    if (bytes == 0) std::exit(1);
    return ns / static_cast<double>(passes * requests.size());
}

}  // namespace

int main(int argc, char** argv) {
    bool known = false;
    bool grey_only = false;  // for `perf stat -e instructions:u`: no do-nothing passes
    std::size_t iterations = 400000;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--known") {
            known = true;
        } else if (a == "--grey-only") {
            grey_only = true;
        } else if (a == "--iterations" && i + 1 < argc) {
            iterations = std::strtoull(argv[++i], nullptr, 10);
        } else {
            std::fprintf(stderr, "usage: mailmoat-grey-handler-bench [--known] [--grey-only] [--iterations N]\n");
            return 64;
        }
    }
    mm::log::set_level(mm::log::Level::warning);
    char tmpl[] = "/tmp/grey-handler-bench.XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return 1;
    const std::filesystem::path dir(tmpl);
    int rc = 0;
    try {
        const std::vector<std::string> args{"--config",        "",      "--spf-keying", "no",
                                            "--delay",         known ? "1s" : "3600s",
                                            "--auto-whitelist-clients", "0"};
        auto settings =
            std::make_shared<mm::greyd::Settings>(mm::greyd::build_settings(mm::config::parse(mm::greyd::make_schema(), args)));
        mm::store::SqliteOptions so;
        so.path = (dir / "grey.db").string();
        auto store = std::make_shared<mm::store::CachedGreyStore>(std::make_unique<mm::store::SqliteGreyStore>(so));
        auto grey = std::make_shared<mm::greyd::GreyPolicy>(settings, store, nullptr);
        const auto requests = make_requests(256);
        (void)run(*grey, requests, 1);  // creates the entries
        if (known) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1100));
            (void)run(*grey, requests, 1);  // the first retries pass
        }
        const std::size_t passes = std::max<std::size_t>(1, iterations / requests.size());
        NullHandler null;
        if (!grey_only) (void)run(null, requests, passes / 10 + 1);
        const double n = grey_only ? 0.0 : run(null, requests, passes);
        const double g = run(*grey, requests, passes);
        std::printf("triplets=%s requests=%zu null_ns_per_request=%.0f grey_ns_per_request=%.0f grey_extra_ns=%.0f\n",
                    known ? "known" : "unseen", passes * requests.size(), n, g, g - n);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        rc = 1;
    }
    std::filesystem::remove_all(dir);
    return rc;
}
