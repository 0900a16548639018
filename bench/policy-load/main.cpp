// bench/policy-load/main.cpp - mailmoat-policy-load: drives a Postfix policy server the way smtpd does (one
// outstanding request per persistent connection, many connections) and reports throughput, latency
// percentiles and its own CPU share, so it can be shown not to be the bottleneck.
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/policy/io.hpp"
#include "common/util/socket_spec.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using mailmoat::policy::io::Fd;

struct Options {
    mailmoat::util::SocketSpec socket;
    unsigned connections = 32;
    unsigned threads = 1;
    std::uint64_t requests_per_connection = 10000;
    double duration = 0;  // seconds; when > 0 it replaces requests_per_connection
    std::size_t distinct = 256;
};

const char* usage =
    "usage: mailmoat-policy-load --socket SPEC [--connections N] [--threads T]\n"
    "                            [--requests-per-connection M | --duration SECONDS]\n"
    "  SPEC as in main.cf (inet:127.0.0.1:10040, unix:/run/x.sock). Each connection keeps exactly one\n"
    "  request outstanding, as Postfix's smtpd does. Defaults: 32 connections, 1 thread, 10000 requests\n"
    "  per connection.\n";

// RCPT-stage requests as Postfix 3.7 sends them, varied over distinct clients, senders and recipients.
std::vector<std::string> make_requests(std::size_t count) {
    std::vector<std::string> out;
    out.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        const std::string n = std::to_string(i);
        const std::string ip = "198.51." + std::to_string(100 + i % 100) + "." + std::to_string(1 + i % 250);
        std::string r;
        r += "request=smtpd_access_policy\n";
        r += "protocol_state=RCPT\n";
        r += "protocol_name=ESMTP\n";
        r += "client_address=" + ip + "\n";
        r += "client_name=mail" + n + ".sender" + std::to_string(i % 37) + ".example\n";
        r += "client_port=" + std::to_string(30000 + i) + "\n";
        r += "reverse_client_name=mail" + n + ".sender" + std::to_string(i % 37) + ".example\n";
        r += "server_address=192.0.2.25\nserver_port=25\n";
        r += "helo_name=mail" + n + ".sender" + std::to_string(i % 37) + ".example\n";
        r += "sender=newsletter+" + n + "@sender" + std::to_string(i % 37) + ".example\n";
        r += "recipient=user" + std::to_string(i % 113) + "@example.net\n";
        r += "recipient_count=0\n";
        r += "queue_id=\n";
        r += "instance=" + std::to_string(4000 + i) + ".656e0a1b.a3f2c.0\n";
        r += "size=" + std::to_string(2000 + 37 * i) + "\n";
        r += "etrn_domain=\nstress=\n";
        r += "sasl_method=\nsasl_username=\nsasl_sender=\n";
        r += "ccert_subject=\nccert_issuer=\nccert_fingerprint=\nccert_pubkey_fingerprint=\n";
        r += "encryption_protocol=TLSv1.3\nencryption_cipher=TLS_AES_256_GCM_SHA384\nencryption_keysize=256\n";
        r += "policy_context=\n";
        r += "\n";
        out.push_back(std::move(r));
    }
    return out;
}

struct Connection {
    Fd fd;
    std::uint64_t sent = 0;
    std::uint64_t next_request = 0;
    Clock::time_point sent_at{};
    std::string reply;
    bool outstanding = false;
};

struct ThreadResult {
    std::vector<std::uint32_t> latencies_us;  // one per answered request
    std::uint64_t answered = 0;
    std::uint64_t errors = 0;
    std::uint64_t non_dunno = 0;
    std::string failure;
};

bool send_request(Connection& c, const std::vector<std::string>& requests) {
    const std::string& r = requests[c.next_request++ % requests.size()];
    c.sent_at = Clock::now();
    ++c.sent;
    c.outstanding = true;
    return mailmoat::policy::io::write_all(c.fd.get(), r, c.sent_at + std::chrono::seconds(10)) ==
           mailmoat::policy::io::IoStatus::ok;
}

void run_thread(const Options& o, unsigned index, unsigned connections, Clock::time_point end_time,
                const std::vector<std::string>& requests, ThreadResult& result) {
    Fd ep(::epoll_create1(EPOLL_CLOEXEC));
    std::vector<Connection> conns(connections);
    result.latencies_us.reserve(o.duration > 0 ? 1 << 20 : connections * o.requests_per_connection);
    for (unsigned i = 0; i < connections; ++i) {
        std::string error;
        conns[i].fd = mailmoat::policy::io::connect_to(o.socket, std::chrono::seconds(5), error);
        if (!conns[i].fd.valid()) {
            result.failure = "connect: " + error;
            return;
        }
        conns[i].next_request = (index * 7919 + i * 104729) % requests.size();
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u32 = i;
        ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, conns[i].fd.get(), &ev);
    }
    const bool timed = o.duration > 0;
    auto want_more = [&](const Connection& c) {
        return timed ? Clock::now() < end_time : c.sent < o.requests_per_connection;
    };
    unsigned open = 0;
    for (auto& c : conns) {
        if (!send_request(c, requests)) {
            result.failure = "send failed";
            return;
        }
        ++open;
    }
    std::vector<epoll_event> events(connections);
    char buf[4096];
    while (open > 0) {
        const int n = ::epoll_wait(ep.get(), events.data(), static_cast<int>(events.size()), 10000);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            result.failure = "no answer within 10 s";
            return;
        }
        for (int k = 0; k < n; ++k) {
            Connection& c = conns[events[static_cast<std::size_t>(k)].data.u32];
            if (!c.outstanding) continue;
            const ssize_t got = ::recv(c.fd.get(), buf, sizeof buf, 0);
            if (got <= 0) {
                if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                ++result.errors;
                c.outstanding = false;
                ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
                --open;
                continue;
            }
            c.reply.append(buf, static_cast<std::size_t>(got));
            if (c.reply.size() < 2 || c.reply.compare(c.reply.size() - 2, 2, "\n\n") != 0) continue;
            const auto dt = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - c.sent_at).count();
            result.latencies_us.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(dt, UINT32_MAX)));
            ++result.answered;
            if (!c.reply.starts_with("action=")) ++result.errors;
            else if (c.reply != "action=DUNNO\n\n") ++result.non_dunno;
            c.reply.clear();
            c.outstanding = false;
            if (want_more(c)) {
                if (!send_request(c, requests)) {
                    ++result.errors;
                    ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
                    --open;
                }
            } else {
                ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
                --open;
            }
        }
    }
}

bool parse_uint(std::string_view s, std::uint64_t& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
}

double cpu_seconds() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

std::uint32_t percentile(const std::vector<std::uint32_t>& sorted, double p) {
    if (sorted.empty()) return 0;
    const auto idx = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[std::min(idx, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    bool have_socket = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        auto value = [&]() -> std::string_view {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n%s", argv[i], usage);
                std::exit(2);
            }
            return argv[++i];
        };
        std::uint64_t n = 0;
        if (arg == "--socket") {
            std::string error;
            auto spec = mailmoat::util::SocketSpec::parse(value(), &error);
            if (!spec) {
                std::fprintf(stderr, "mailmoat-policy-load: %s\n", error.c_str());
                return 2;
            }
            o.socket = *spec;
            have_socket = true;
        } else if (arg == "--connections" && parse_uint(value(), n) && n > 0 && n <= 10000) {
            o.connections = static_cast<unsigned>(n);
        } else if (arg == "--threads" && parse_uint(value(), n) && n > 0 && n <= 64) {
            o.threads = static_cast<unsigned>(n);
        } else if (arg == "--requests-per-connection" && parse_uint(value(), n) && n > 0) {
            o.requests_per_connection = n;
        } else if (arg == "--duration" && parse_uint(value(), n) && n > 0 && n <= 3600) {
            o.duration = static_cast<double>(n);
        } else if (arg == "--help" || arg == "-h") {
            std::fputs(usage, stdout);
            return 0;
        } else {
            std::fprintf(stderr, "mailmoat-policy-load: bad argument '%s'\n%s", argv[i], usage);
            return 2;
        }
    }
    if (!have_socket) {
        std::fputs(usage, stderr);
        return 2;
    }
    o.threads = std::min(o.threads, o.connections);
    const auto requests = make_requests(o.distinct);

    std::vector<ThreadResult> results(o.threads);
    std::vector<std::thread> threads;
    const double cpu0 = cpu_seconds();
    const auto t0 = Clock::now();
    const auto end_time = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration));
    for (unsigned t = 0; t < o.threads; ++t) {
        const unsigned share = o.connections / o.threads + (t < o.connections % o.threads ? 1 : 0);
        threads.emplace_back(run_thread, std::cref(o), t, share, end_time, std::cref(requests), std::ref(results[t]));
    }
    for (auto& t : threads) t.join();
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = cpu_seconds() - cpu0;

    std::vector<std::uint32_t> all;
    std::uint64_t answered = 0;
    std::uint64_t errors = 0;
    std::uint64_t non_dunno = 0;
    for (auto& r : results) {
        if (!r.failure.empty()) {
            std::fprintf(stderr, "mailmoat-policy-load: %s\n", r.failure.c_str());
            return 1;
        }
        all.insert(all.end(), r.latencies_us.begin(), r.latencies_us.end());
        answered += r.answered;
        errors += r.errors;
        non_dunno += r.non_dunno;
    }
    std::sort(all.begin(), all.end());
    const long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
    std::printf("socket=%s connections=%u threads=%u\n", o.socket.to_postfix().c_str(), o.connections, o.threads);
    std::printf("requests=%llu errors=%llu non_dunno=%llu wall_s=%.3f\n", static_cast<unsigned long long>(answered),
                static_cast<unsigned long long>(errors), static_cast<unsigned long long>(non_dunno), wall);
    std::printf("requests_per_s=%.0f\n", static_cast<double>(answered) / wall);
    std::printf("latency_us p50=%u p99=%u p99.9=%u max=%u\n", percentile(all, 50), percentile(all, 99),
                percentile(all, 99.9), all.empty() ? 0U : all.back());
    std::printf("generator_cpu_s=%.3f generator_cpu_share=%.1f%% of one core (%.1f%% of %ld cores)\n", cpu,
                100.0 * cpu / wall, 100.0 * cpu / wall / static_cast<double>(cores), cores);
    return errors == 0 ? 0 : 1;
}
