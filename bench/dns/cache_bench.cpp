// bench/dns/cache_bench.cpp - CachingResolver hit/miss throughput and LdnsResolver round trips, 1..N threads.
//
// Usage: bench_dns_cache [SECONDS_PER_RUN=1] [NAMES=1000] [MAX_THREADS=8]
// "hit" and "churn" runs use an in-memory stub upstream, so they measure the cache's own cost (lookup,
// copy of the Answer, locks). "ldns" runs send real UDP queries through LdnsResolver to a minimal
// in-process responder on loopback (one thread), so they measure the resolver's per-query cost
// (socket, encode, decode) plus the responder's. Prints one line per run: mode threads queries/s.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/dns/caching_resolver.hpp"
#include "common/dns/ldns_resolver.hpp"
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

/// Answers every A query with 192.0.2.1 (TTL 300); drops EDNS from the reply. Stops when stop is set.
class Responder {
public:
    Responder() {
        fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) std::abort();
        socklen_t len = sizeof sin;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sin), &len);
        port_ = ntohs(sin.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    Responder(const Responder&) = delete;
    Responder& operator=(const Responder&) = delete;
    ~Responder() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
    }
    [[nodiscard]] std::uint16_t port() const { return port_; }

private:
    void serve() {
        unsigned char buf[1500];
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            sockaddr_storage from{};
            socklen_t fromlen = sizeof from;
            ssize_t n = ::recvfrom(fd_, buf, sizeof buf - 32, 0, reinterpret_cast<sockaddr*>(&from), &fromlen);
            if (n < 17) continue;
            std::size_t q = 12;
            while (q < static_cast<std::size_t>(n) && buf[q] != 0) q += buf[q] + 1;
            q += 5;  // root label, QTYPE, QCLASS
            if (q > static_cast<std::size_t>(n)) continue;
            buf[2] |= 0x80;  // QR
            buf[3] = 0x80;   // RA, NOERROR
            buf[6] = 0;
            buf[7] = 1;                               // ANCOUNT 1
            buf[8] = buf[9] = buf[10] = buf[11] = 0;  // NSCOUNT, ARCOUNT 0
            const unsigned char rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 192, 0, 2, 1};
            std::memcpy(buf + q, rr, sizeof rr);
            ::sendto(fd_, buf, q + sizeof rr, 0, reinterpret_cast<sockaddr*>(&from), fromlen);
        }
    }
    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

template <class Fn>
double run_fn(Fn&& fn, unsigned threads, double seconds) {
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> total{0};
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            std::uint64_t n = 0;
            std::size_t i = t * 7919;
            while (!stop.load(std::memory_order_relaxed)) {
                for (int k = 0; k < 16; ++k) fn(i++);
                n += 16;
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
    Responder responder;
    mailmoat::dns::LdnsResolver::Options ldns_options;
    ldns_options.server = "127.0.0.1:" + std::to_string(responder.port());
    ldns_options.timeout = std::chrono::milliseconds(2000);
    mailmoat::dns::LdnsResolver ldns(ldns_options);
    std::atomic<std::uint64_t> failures{0};
    for (unsigned threads = 1; threads <= max_threads; threads *= 2) {
        double qps = run_fn(
            [&](std::size_t i) {
                if (ldns.query(names[i % names.size()], RrType::a).status != Status::ok) failures.fetch_add(1);
            },
            threads, seconds);
        std::printf("ldns  threads=%u  %.0f queries/s  (failures so far %llu)\n", threads, qps,
                    static_cast<unsigned long long>(failures.load()));
    }
    return 0;
}
