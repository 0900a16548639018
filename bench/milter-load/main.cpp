// bench/milter-load/main.cpp - mailmoat-milter-load: drives a milter with N connections x M messages and
// reports throughput, per-message latency (p50/p99) and the generator's own CPU share.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/milter/milter_client.hpp"
#include "common/util/socket_spec.hpp"

using namespace mailmoat;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
    util::SocketSpec socket;
    unsigned connections = 16;
    unsigned messages = 500;
    std::size_t size = 4096;
    bool delayed_ack = false;
    std::string message_file;  // a whole message to send instead of the built-in headers and body
    std::string expect;        // count messages whose modifications contain this text
};

/// The message every connection sends: (name, value) header pairs as Postfix passes them to a milter
/// (value after the colon, leading space kept, folds as CRLF + whitespace), and the body with CRLF.
struct Message {
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

void usage() {
    std::fprintf(stderr,
                 "usage: mailmoat-milter-load --socket SPEC [--connections N] [--messages M] [--size BYTES]\n"
                 "                            [--delayed-ack yes|no] [--message FILE] [--expect TEXT]\n"
                 "  N connections (threads) each send M messages of BYTES body bytes, as Postfix would:\n"
                 "  connect, helo, then per message mail, rcpt, data, 8 headers, eoh, body, eom.\n"
                 "  --delayed-ack yes keeps the client's TCP socket in delayed-ACK mode (TCP_QUICKACK=0).\n"
                 "  --message FILE sends that message (headers and body, LF or CRLF) instead (--size ignored).\n"
                 "  --expect TEXT counts the messages whose modifications contain TEXT (expected=N).\n");
}

bool parse_uint(const char* s, unsigned long long max, unsigned long long& out) {
    const char* end = s + std::strlen(s);
    auto [p, ec] = std::from_chars(s, end, out);
    return ec == std::errc{} && p == end && out >= 1 && out <= max;
}

bool parse(int argc, char** argv, Args& a) {
    bool have_socket = false;
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        if (i + 1 >= argc) return false;
        const char* v = argv[++i];
        unsigned long long n = 0;
        if (k == "--socket") {
            std::string error;
            auto s = util::SocketSpec::parse(v, &error);
            if (!s) {
                std::fprintf(stderr, "mailmoat-milter-load: %s\n", error.c_str());
                return false;
            }
            a.socket = *s;
            have_socket = true;
        } else if (k == "--connections" && parse_uint(v, 4096, n)) {
            a.connections = static_cast<unsigned>(n);
        } else if (k == "--messages" && parse_uint(v, 100000000, n)) {
            a.messages = static_cast<unsigned>(n);
        } else if (k == "--delayed-ack" && (std::strcmp(v, "yes") == 0 || std::strcmp(v, "no") == 0)) {
            a.delayed_ack = std::strcmp(v, "yes") == 0;
        } else if (k == "--message") {
            a.message_file = v;
        } else if (k == "--expect") {
            a.expect = v;
        } else if (k == "--size" && parse_uint(v, 64ULL << 20, n)) {
            a.size = static_cast<std::size_t>(n);
        } else {
            return false;
        }
    }
    return have_socket;
}

std::string make_body(std::size_t size) {
    std::string body;
    body.reserve(size);
    const std::string line = "The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
    while (body.size() < size) body += line;
    body.resize(size);
    return body;
}

/// Reads FILE into a Message; false if it cannot be read, is over 64 MiB or has no header.
bool load_message(const std::string& path, Message& out) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    if (text.size() > (64u << 20)) return false;
    std::string crlf;
    crlf.reserve(text.size() + text.size() / 16);
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) crlf += '\r';
        crlf += text[i];
    }
    auto end = crlf.find("\r\n\r\n");
    const std::string head = crlf.substr(0, end == std::string::npos ? crlf.size() : end + 2);
    out.body = end == std::string::npos ? std::string() : crlf.substr(end + 4);
    std::size_t pos = 0;
    while (pos < head.size()) {
        auto e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        std::string line = head.substr(pos, e - pos);
        pos = e + 2;
        if (!line.empty() && (line[0] == ' ' || line[0] == '\t') && !out.headers.empty()) {
            out.headers.back().second += "\r\n" + line;
            continue;
        }
        const auto colon = line.find(':');
        if (colon == std::string::npos || colon == 0) return false;
        out.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
    }
    return !out.headers.empty();
}

struct Result {
    std::vector<double> latencies_ms;
    unsigned errors = 0;
    unsigned modified = 0;
    unsigned expected = 0;
    std::string first_error;
};

void run_connection(const Args& a, unsigned id, const Message& msg, Result& out) {
    using V = milter::StepReply::Verdict;
    milter::ClientOptions options;
    options.delayed_ack = a.delayed_ack;
    milter::MilterClient c(options);
    auto r = c.open(a.socket);
    if (!r.ok()) {
        out.errors += a.messages;
        out.first_error = r.text;
        return;
    }
    auto good = [](const milter::StepReply& s) { return s.verdict == V::continue_ || s.verdict == V::no_reply || s.verdict == V::skipped; };
    if (!good(c.connect("client.example", '4', static_cast<std::uint16_t>(40000 + id % 20000), "192.0.2.10",
                        {{"j", "mx.example.test"}, {"{daemon_name}", "smtpd"}, {"{client_addr}", "192.0.2.10"},
                         {"{client_name}", "client.example"}})) ||
        !good(c.helo("client.example"))) {
        out.errors += a.messages;
        out.first_error = "connect/helo refused";
        return;
    }
    out.latencies_ms.reserve(a.messages);
    for (unsigned m = 0; m < a.messages; ++m) {
        const std::string qid = "L" + std::to_string(id) + "Q" + std::to_string(m);
        const auto t0 = Clock::now();
        bool ok = good(c.mail({"<sender@example.org>"}, {{"i", qid}, {"{mail_addr}", "sender@example.org"}})) &&
                  good(c.rcpt({"<rcpt@example.net>"}, {{"i", qid}, {"{rcpt_addr}", "rcpt@example.net"}})) &&
                  good(c.data({{"i", qid}}));
        for (const auto& [n, v] : msg.headers) ok = ok && good(c.header(n, v));
        ok = ok && good(c.eoh({{"i", qid}}));
        if (ok) {
            const auto b = c.body(msg.body);
            ok = good(b) || b.verdict == V::skip;
        }
        milter::StepReply e;
        if (ok) e = c.eom({{"i", qid}});
        const auto t1 = Clock::now();
        if (!ok || !e.ok()) {
            ++out.errors;
            if (out.first_error.empty()) out.first_error = e.text.empty() ? "step failed" : e.text;
            if (!c.is_open()) return;
            continue;
        }
        if (!e.modifications.empty()) ++out.modified;
        if (!a.expect.empty())
            for (const auto& mod : e.modifications)
                if (mod.name.find(a.expect) != std::string::npos || mod.value.find(a.expect) != std::string::npos) {
                    ++out.expected;
                    break;
                }
        out.latencies_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    c.quit();
}

double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    if (!parse(argc, argv, a)) {
        usage();
        return 64;
    }
    Message msg;
    if (!a.message_file.empty()) {
        if (!load_message(a.message_file, msg)) {
            std::fprintf(stderr, "mailmoat-milter-load: cannot use message file %s\n", a.message_file.c_str());
            return 66;
        }
        a.size = msg.body.size();
    } else {
        msg.headers = {{"Received", " from client.example by mx.example.test; Mon, 1 Dec 2026 00:00:00 +0000"},
                       {"From", " Sender <sender@example.org>"},
                       {"To", " <rcpt@example.net>"},
                       {"Subject", " load test message"},
                       {"Date", " Mon, 1 Dec 2026 00:00:00 +0000"},
                       {"Message-ID", " <load@example.org>"},
                       {"MIME-Version", " 1.0"},
                       {"Content-Type", " text/plain; charset=us-ascii"}};
        msg.body = make_body(a.size);
    }
    std::vector<Result> results(a.connections);
    const double cpu0 = cpu_seconds();
    const auto t0 = Clock::now();
    {
        std::vector<std::thread> threads;
        for (unsigned i = 0; i < a.connections; ++i)
            threads.emplace_back([&, i] { run_connection(a, i, msg, results[i]); });
        for (auto& t : threads) t.join();
    }
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = cpu_seconds() - cpu0;
    std::vector<double> all;
    unsigned errors = 0, modified = 0, expected = 0;
    std::string first_error;
    for (auto& r : results) {
        all.insert(all.end(), r.latencies_ms.begin(), r.latencies_ms.end());
        errors += r.errors;
        modified += r.modified;
        expected += r.expected;
        if (first_error.empty()) first_error = r.first_error;
    }
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) {
        if (all.empty()) return 0.0;
        return all[std::min(all.size() - 1, static_cast<std::size_t>(p * static_cast<double>(all.size())))];
    };
    std::printf("socket=%s delayed_ack=%s connections=%u messages=%u size=%zu ok=%zu errors=%u modified=%u wall_s=%.3f "
                "msgs_per_s=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f generator_cpu=%.0f%% expected=%u\n",
                a.socket.to_postfix().c_str(), a.delayed_ack ? "yes" : "no", a.connections, a.messages, a.size, all.size(), errors, modified, wall,
                static_cast<double>(all.size()) / wall, pct(0.50), pct(0.99), all.empty() ? 0.0 : all.back(),
                100.0 * cpu / wall, expected);
    if (errors != 0) std::fprintf(stderr, "mailmoat-milter-load: first error: %s\n", first_error.c_str());
    return errors == 0 ? 0 : 1;
}
