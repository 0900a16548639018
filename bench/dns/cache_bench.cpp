// bench/dns/cache_bench.cpp - CachingResolver hit and miss throughput under 1..N threads.
//
// Usage: bench_dns_cache [SECONDS_PER_RUN=1] [NAMES=1000] [MAX_THREADS=8]
// The upstream is an in-memory stub, so the figures are the cache's own cost (lookup, copy of the
// Answer, locks), not the network's. Prints one line per run: mode threads queries/s.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/dns/caching_resolver.hpp"
#include "common/util/clock.hpp"

namespace {

using mailmoat::dns::Answer;
using mailmoat::dns::CachingResolver;
using mailmoat::dns::RrType;
using mailmoat::dns::Status;

/// Answers every name with one TXT record of SPF size, like a typical SPF/DMARC lookup.
class StubResolver final : public mailmoat::dns::Resolver {
public:
    [[nodiscard]] Answer query(std::string_view, RrType) override {
        Answer a;
        a.status = Status::ok;
        a.ttl = 3600;
        a.txt.push_back("v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 include:_spf.example.net -all");
        return a;
    }
};

double run(CachingResolver& cache, const std::vector<std::string>& names, unsigned threads, double seconds) {
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> total{0};
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            std::uint64_t n = 0;
            std::size_t i = t * 7919;
            while (!stop.load(std::memory_order_relaxed)) {
                for (int k = 0; k < 256; ++k) {
                    Answer a = cache.query(names[i++ % names.size()], RrType::txt);
                    if (a.status != Status::ok) std::abort();
                }
                n += 256;
            }
            total.fetch_add(n);
        });
    }
    auto start = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& th : pool) th.join();
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return static_cast<double>(total.load()) / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
    std::size_t count = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1000;
    unsigned max_threads = argc > 3 ? static_cast<unsigned>(std::strtoul(argv[3], nullptr, 10)) : 8;
    if (seconds <= 0 || count == 0 || max_threads == 0) {
        std::fprintf(stderr, "usage: bench_dns_cache [SECONDS>0] [NAMES>0] [MAX_THREADS>0]\n");
        return 64;
    }
    std::vector<std::string> names;
    for (std::size_t i = 0; i < count; ++i) names.push_back("host" + std::to_string(i) + ".example.com");
    auto upstream = std::make_shared<StubResolver>();
    const auto& clock = mailmoat::util::SystemClock::instance();

    std::printf("# %zu names, %.1f s per run, hardware threads %u\n", count, seconds,
                std::thread::hardware_concurrency());
    for (unsigned threads = 1; threads <= max_threads; threads *= 2) {
        CachingResolver::Options options;
        options.max_entries = count * 2;  // everything fits: all hits after the warm-up
        CachingResolver cache(upstream, options, clock);
        for (const auto& n : names) (void)cache.query(n, RrType::txt);
        double qps = run(cache, names, threads, seconds);
        std::printf("hit   threads=%u  %.0f queries/s\n", threads, qps);
    }
    for (unsigned threads = 1; threads <= max_threads; threads *= 2) {
        CachingResolver::Options options;
        options.max_entries = count / 4 + 1;  // working set 4x the cache: mostly misses, insert + evict
        CachingResolver cache(upstream, options, clock);
        double qps = run(cache, names, threads, seconds);
        auto st = cache.stats();
        std::printf("churn threads=%u  %.0f queries/s  (hit ratio %.2f)\n", threads, qps,
                    static_cast<double>(st.hits) / static_cast<double>(st.hits + st.misses));
    }
    return 0;
}
