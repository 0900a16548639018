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
#include "common/util/ip_address.hpp"
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
    // When set, every request carries this value instead of the varied one (a benchmark zone then
    // authorises a known client for a known sender).
    std::string client_address;
    std::string sender;
    std::string helo;
    bool fixed_sender = false;     // --sender given (it may be empty: the null sender)
    bool unique_instance = false;  // a new `instance` per request: every RCPT is a new message
    std::uint64_t warmup = 0;      // unmeasured requests per connection before the measured run
};

const char* usage =
    "usage: mailmoat-policy-load --socket SPEC [--connections N] [--threads T]\n"
    "                            [--requests-per-connection M | --duration SECONDS]\n"
    "                            [--client-address IP] [--sender ADDRESS] [--helo NAME] [--unique-instance]\n"
    "                            [--warmup N]\n"
    "  SPEC as in main.cf (inet:127.0.0.1:10040, unix:/run/x.sock). Each connection keeps exactly one\n"
    "  request outstanding, as Postfix's smtpd does. Defaults: 32 connections, 1 thread, 10000 requests\n"
    "  per connection. Requests vary client, HELO, sender and recipient over 256 sets; --client-address,\n"
    "  --sender and --helo fix that attribute in every request (--sender '' sends the null sender).\n"
    "  --unique-instance gives every request a new `instance`, so a server that remembers results per\n"
    "  message (one header per message) evaluates each request afresh. --warmup N first sends N requests\n"
    "  on every connection (answers awaited up to 120 s, not measured), so servers that start a process\n"
    "  per connection are measured once started; throughput and latency count only what follows.\n";

// RCPT-stage requests as Postfix 3.7 sends them, varied over distinct clients, senders and recipients.
std::vector<std::string> make_requests(const Options& o, std::size_t count) {
    std::vector<std::string> out;
    out.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        const std::string n = std::to_string(i);
        const std::string ip = o.client_address.empty()
                                   ? "198.51." + std::to_string(100 + i % 100) + "." + std::to_string(1 + i % 250)
                                   : o.client_address;
        const std::string helo = o.helo.empty() ? "mail" + n + ".sender" + std::to_string(i % 37) + ".example" : o.helo;
        const std::string sender = o.fixed_sender ? o.sender : "newsletter+" + n + "@sender" + std::to_string(i % 37) + ".example";
        std::string r;
        r += "request=smtpd_access_policy\n";
        r += "protocol_state=RCPT\n";
        r += "protocol_name=ESMTP\n";
        r += "client_address=" + ip + "\n";
        r += "client_name=mail" + n + ".sender" + std::to_string(i % 37) + ".example\n";
        r += "client_port=" + std::to_string(30000 + i) + "\n";
        r += "reverse_client_name=mail" + n + ".sender" + std::to_string(i % 37) + ".example\n";
        r += "server_address=192.0.2.25\nserver_port=25\n";
        r += "helo_name=" + helo + "\n";
        r += "sender=" + sender + "\n";
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
    std::uint64_t serial = 0;  // requests sent, warm-up included (for unique instances)
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
    Clock::time_point measure_start{};  // after the warm-up
};

// The request's `instance` line replaced by one no other request of this run carries.
std::string with_unique_instance(const std::string& r, unsigned thread, unsigned conn, std::uint64_t seq) {
    const auto start = r.find("\ninstance=");
    if (start == std::string::npos) return r;
    const auto end = r.find('\n', start + 1);
    char id[80];
    static const auto run_id = static_cast<unsigned long long>(
        (static_cast<std::uint64_t>(::getpid()) << 32) ^
        static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()));
    std::snprintf(id, sizeof id, "\ninstance=%llx.%llx.%x.%x", static_cast<unsigned long long>(seq), run_id, thread,
                  conn);
    return r.substr(0, start) + id + r.substr(end);
}

bool send_request(Connection& c, const std::vector<std::string>& requests, const Options& o, unsigned thread,
                  unsigned conn) {
    const std::string& r = requests[c.next_request++ % requests.size()];
    c.sent_at = Clock::now();
    ++c.sent;
    ++c.serial;
    c.outstanding = true;
    const auto deadline = c.sent_at + std::chrono::seconds(10);
    if (o.unique_instance)
        return mailmoat::policy::io::write_all(c.fd.get(), with_unique_instance(r, thread, conn, c.serial), deadline) ==
               mailmoat::policy::io::IoStatus::ok;
    return mailmoat::policy::io::write_all(c.fd.get(), r, deadline) == mailmoat::policy::io::IoStatus::ok;
}

// Sends `rounds` requests on every connection, one outstanding at a time, and waits for the answers
// (up to 120 s in all). Returns an empty string or what went wrong.
std::string warm_up(const Options& o, unsigned index, std::vector<Connection>& conns, int ep,
                    const std::vector<std::string>& requests) {
    const auto deadline = Clock::now() + std::chrono::seconds(120);
    std::vector<epoll_event> events(conns.size());
    char buf[4096];
    for (std::uint64_t round = 0; round < o.warmup; ++round) {
        std::size_t waiting = 0;
        for (unsigned i = 0; i < conns.size(); ++i) {
            if (!send_request(conns[i], requests, o, index, i)) return "warm-up send failed";
            ++waiting;
        }
        while (waiting > 0) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
            if (left <= 0) return "warm-up: no answer within 120 s";
            const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), static_cast<int>(left));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return "warm-up: epoll_wait failed";
            for (int k = 0; k < n; ++k) {
                Connection& c = conns[events[static_cast<std::size_t>(k)].data.u32];
                if (!c.outstanding) continue;
                const ssize_t got = ::recv(c.fd.get(), buf, sizeof buf, 0);
                if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                if (got <= 0) return "warm-up: connection closed";
                c.reply.append(buf, static_cast<std::size_t>(got));
                if (c.reply.size() > 65536) return "warm-up: answer too long";
                if (c.reply.size() < 2 || c.reply.compare(c.reply.size() - 2, 2, "\n\n") != 0) continue;
                c.reply.clear();
                c.outstanding = false;
                --waiting;
            }
        }
    }
    for (auto& c : conns) c.sent = 0;
    return {};
}

void run_thread(const Options& o, unsigned index, unsigned connections, const std::vector<std::string>& requests,
                ThreadResult& result) {
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
    if (o.warmup > 0) {
        result.failure = warm_up(o, index, conns, ep.get(), requests);
        if (!result.failure.empty()) return;
    }
    result.measure_start = Clock::now();
    const auto end_time =
        result.measure_start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration));
    const bool timed = o.duration > 0;
    auto want_more = [&](const Connection& c) {
        return timed ? Clock::now() < end_time : c.sent < o.requests_per_connection;
    };
    unsigned open = 0;
    for (unsigned i = 0; i < connections; ++i) {
        if (!send_request(conns[i], requests, o, index, i)) {
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
            const unsigned ci = events[static_cast<std::size_t>(k)].data.u32;
            Connection& c = conns[ci];
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
                if (!send_request(c, requests, o, index, ci)) {
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
        } else if (arg == "--client-address") {
            o.client_address = std::string(value());
            if (!mailmoat::util::IpAddress::parse(o.client_address)) {
                std::fprintf(stderr, "mailmoat-policy-load: --client-address: not an IP address\n");
                return 2;
            }
        } else if (arg == "--sender") {
            o.sender = std::string(value());
            o.fixed_sender = true;
        } else if (arg == "--helo") {
            o.helo = std::string(value());
        } else if (arg == "--warmup" && parse_uint(value(), n) && n <= 1000) {
            o.warmup = n;
        } else if (arg == "--unique-instance") {
            o.unique_instance = true;
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
    for (const std::string* v : {&o.sender, &o.helo})
        if (v->size() > 512 || v->find_first_of("\r\n") != std::string::npos) {
            std::fputs("mailmoat-policy-load: --sender/--helo must be one line of at most 512 characters\n", stderr);
            return 2;
        }
    const auto requests = make_requests(o, o.distinct);

    std::vector<ThreadResult> results(o.threads);
    std::vector<std::thread> threads;
    const double cpu0 = cpu_seconds();
    for (unsigned t = 0; t < o.threads; ++t) {
        const unsigned share = o.connections / o.threads + (t < o.connections % o.threads ? 1 : 0);
        threads.emplace_back(run_thread, std::cref(o), t, share, std::cref(requests), std::ref(results[t]));
    }
    for (auto& t : threads) t.join();
    auto t0 = Clock::now();
    for (const auto& r : results)
        if (r.failure.empty()) t0 = std::min(t0, r.measure_start);
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
