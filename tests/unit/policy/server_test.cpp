// tests/unit/policy/server_test.cpp - policy server over real sockets: persistence, isolation, errors, swap, cap.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/log/logger.hpp"
#include "common/policy/client.hpp"
#include "common/policy/io.hpp"
#include "common/policy/server.hpp"
#include "common/util/lock_guarded.hpp"

namespace mp = mailmoat::policy;
namespace mlog = mailmoat::log;
using mailmoat::util::SocketSpec;
using namespace std::chrono_literals;
using Status = mp::ClientResult::Status;

namespace {

class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "mm-policy-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

// Captures log lines from all threads.
class LogCapture {
public:
    LogCapture() {
        mlog::set_level(mlog::Level::info);
        mlog::set_sink([this](mlog::Level, std::string_view line) {
            lines_.with_lock([&](auto& v) { v.emplace_back(line); });
        });
    }
    ~LogCapture() { mlog::set_sink({}); }
    [[nodiscard]] std::size_t count(std::string_view needle) const {
        return lines_.with_lock([&](const auto& v) {
            std::size_t n = 0;
            for (const auto& l : v)
                if (l.find(needle) != std::string::npos) ++n;
            return n;
        });
    }
    [[nodiscard]] std::string all() const {
        return lines_.with_lock([](const auto& v) {
            std::string s;
            for (const auto& l : v) s += l + "\n";
            return s;
        });
    }

private:
    mailmoat::util::LockGuarded<std::vector<std::string>> lines_;
};

// Rejects recipients starting with "reject", throws for "throw", else answers DUNNO with a tag.
class TestHandler final : public mp::Handler {
public:
    explicit TestHandler(std::string tag = "A") : tag_(std::move(tag)) {}
    mp::Action handle(const mp::Request& request, const mp::Peer&) const override {
        if (request.recipient.starts_with("throw")) throw std::runtime_error("test failure");
        if (request.recipient.starts_with("reject")) return mp::Action::reject("5.7.1 rejected " + request.recipient);
        return mp::Action::raw("DUNNO " + tag_);
    }

private:
    std::string tag_;
};

// Blocks in handle() until released; tells when a request has entered.
class GateHandler final : public mp::Handler {
public:
    mp::Action handle(const mp::Request&, const mp::Peer&) const override {
        std::unique_lock<std::mutex> lock(mutex_);
        entered_ = true;
        cv_.notify_all();
        cv_.wait(lock, [&] { return released_; });
        return mp::Action::raw("DUNNO old");
    }
    bool wait_entered(std::chrono::milliseconds bound) const {
        std::unique_lock<std::mutex> lock(mutex_);
        return cv_.wait_for(lock, bound, [&] { return entered_; });
    }
    void release() const {
        std::lock_guard<std::mutex> lock(mutex_);
        released_ = true;
        cv_.notify_all();
    }

private:
    mutable std::mutex mutex_;
    mutable std::condition_variable cv_;
    mutable bool entered_ = false;
    mutable bool released_ = false;
};

SocketSpec inet_any_port() {
    SocketSpec spec;
    spec.family = SocketSpec::Family::inet;
    spec.host = "127.0.0.1";
    spec.port = 0;
    return spec;
}

SocketSpec unix_spec(const std::string& path) {
    SocketSpec spec;
    spec.family = SocketSpec::Family::unix_path;
    spec.path = path;
    return spec;
}

SocketSpec client_spec(const mp::Server& server) {
    SocketSpec spec = server.options().socket;
    if (spec.family != SocketSpec::Family::unix_path) spec.port = server.port();
    return spec;
}

mp::Attributes rcpt(const std::string& recipient) {
    return {{"request", "smtpd_access_policy"}, {"protocol_state", "RCPT"}, {"protocol_name", "ESMTP"},
            {"client_address", "192.0.2.1"},    {"client_name", "mx.example.org"}, {"helo_name", "mx.example.org"},
            {"sender", "a@example.org"},        {"recipient", recipient},         {"instance", "1.2.3"}};
}

mp::ClientOptions quick_client() {
    mp::ClientOptions o;
    o.connect_timeout = 2s;
    o.io_timeout = 5s;
    o.retry_stale_connection = false;
    return o;
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds bound = 3000ms) {
    const auto end = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return pred();
}

// A raw socket for peers that misbehave.
mp::io::Fd raw_connect(const SocketSpec& spec) {
    std::string error;
    auto fd = mp::io::connect_to(spec, 2s, error);
    INFO(error);
    REQUIRE(fd.valid());
    return fd;
}

}  // namespace

TEST_CASE("a persistent UNIX-socket connection answers many requests", "[policy][server]") {
    LogCapture logs;
    TempDir dir;
    mp::ServerOptions o;
    o.socket = unix_spec(dir.file("policy.sock"));
    mp::Server server(o, std::make_shared<TestHandler>());
    server.start();
    mp::PolicyClient client(client_spec(server), quick_client());
    for (int i = 0; i < 20; ++i) {
        auto r = client.query(rcpt(i % 2 == 0 ? "user@example.net" : "reject" + std::to_string(i) + "@example.net"));
        REQUIRE(r.status == Status::ok);
        if (i % 2 == 0) {
            CHECK(r.action == "DUNNO A");
        } else {
            CHECK(r.action == "REJECT 5.7.1 rejected reject" + std::to_string(i) + "@example.net");
        }
    }
    CHECK(client.connected());
    auto c = server.counters();
    CHECK(c.connections_accepted == 1);
    CHECK(c.requests == 20);
    CHECK(c.malformed == 0);
    struct stat sb {};
    REQUIRE(::stat(o.socket.path.c_str(), &sb) == 0);
    CHECK((sb.st_mode & 07777) == 0660);
    server.stop();
    CHECK_FALSE(std::filesystem::exists(o.socket.path));  // our own socket is removed on stop
}

TEST_CASE("inet on 127.0.0.1 with port 0 and several requests written at once", "[policy][server]") {
    LogCapture logs;
    mp::ServerOptions o;
    o.socket = inet_any_port();
    mp::Server server(o, std::make_shared<TestHandler>());
    server.start();
    REQUIRE(server.port() != 0);
    mp::PolicyClient client(client_spec(server), quick_client());
    // Three requests in one write: three answers, in order.
    std::string wire;
    for (const char* r : {"x@a", "reject1@a", "y@a"}) wire += mp::PolicyClient::encode(rcpt(r));
    REQUIRE(client.send_raw(wire).status == Status::ok);
    auto a1 = client.read_reply();
    auto a2 = client.read_reply();
    auto a3 = client.read_reply();
    CHECK(a1.action == "DUNNO A");
    CHECK(a2.action == "REJECT 5.7.1 rejected reject1@a");
    CHECK(a3.action == "DUNNO A");
    CHECK(server.counters().requests == 3);
}

TEST_CASE("inet6 on ::1", "[policy][server]") {
    LogCapture logs;
    mp::ServerOptions o;
    o.socket = inet_any_port();
    o.socket.family = SocketSpec::Family::inet6;
    o.socket.host = "::1";
    mp::Server server(o, std::make_shared<TestHandler>());
    server.start();
    REQUIRE(server.port() != 0);
    mp::PolicyClient client(client_spec(server), quick_client());
    auto r = client.query(rcpt("z@a"));
    REQUIRE(r.status == Status::ok);
    CHECK(r.action == "DUNNO A");
}

TEST_CASE("malformed and oversized requests get the safe answer and a closed connection", "[policy][server]") {
    LogCapture logs;
    mp::ServerOptions o;
    o.socket = inet_any_port();
    o.safe_action = mp::Action::raw("DUNNO safe");
    mp::Server server(o, std::make_shared<TestHandler>());
    server.start();
    const std::string bad = GENERATE(std::string("request=smtpd_access_policy\nthis is not an attribute\n\n"),
                                     "sender=" + std::string(3000, 's') + "\n\n", std::string("\n"));
    mp::PolicyClient client(client_spec(server), quick_client());
    // A good request first: the connection is persistent until the bad one.
    REQUIRE(client.query(rcpt("ok@a")).action == "DUNNO A");
    auto r = client.query_raw(bad);
    REQUIRE(r.status == Status::ok);
    CHECK(r.action == "DUNNO safe");
    auto after = client.read_reply();
    CHECK(after.status == Status::error);
    CHECK(after.reason == "connection closed by server");
    CHECK(server.counters().malformed == 1);
    CHECK(logs.count("malformed policy request") == 1);
    // Peer data in the log line is escaped: no raw control bytes.
    for (char ch : logs.all()) CHECK((ch == '\n' || (static_cast<unsigned char>(ch) >= 0x20 && static_cast<unsigned char>(ch) < 0x7f)));
}

TEST_CASE("a handler exception answers the tempfail action and keeps the connection", "[policy][server]") {
    LogCapture logs;
    mp::ServerOptions o;
    o.socket = inet_any_port();
    mp::Server server(o, std::make_shared<TestHandler>());
    server.start();
    mp::PolicyClient client(client_spec(server), quick_client());
    auto r = client.query(rcpt("throw@a"));
    REQUIRE(r.status == Status::ok);
    CHECK(r.action == "DEFER_IF_PERMIT 4.3.0 temporary policy failure");
    auto next = client.query(rcpt("fine@a"));
    REQUIRE(next.status == Status::ok);
    CHECK(next.action == "DUNNO A");
    CHECK(server.counters().handler_errors == 1);
    CHECK(server.counters().connections_accepted == 1);
    CHECK(logs.count("policy handler failed") == 1);
    CHECK(logs.count("test failure") == 1);
}

TEST_CASE("misbehaving clients never delay a well-behaved one", "[policy][server]") {
    LogCapture logs;
    mp::ServerOptions o;
    o.socket = inet_any_port();
    o.read_timeout = 4s;
    o.idle_timeout = 4s;
    mp::Server server(o, std::make_shared<TestHandler>());
    server.start();
    const SocketSpec spec = client_spec(server);

    std::atomic<bool> done{false};
    std::atomic<int> garbage_rounds{0};
    std::atomic<int> garbage_answers{0};
    // 1: keeps connecting and sending garbage.
    std::atomic<int> garbage_connect_failures{0};
    std::thread garbage([&] {  // no Catch macros off the main thread: Catch is not thread-safe
        while (!done.load()) {
            std::string error;
            auto fd = mp::io::connect_to(spec, 2s, error);
            if (!fd.valid()) {
                ++garbage_connect_failures;
                continue;
            }
            const std::string junk = "\x16\x03\x01 garbage without equals sign\n";
            (void)mp::io::write_all(fd.get(), junk, mp::io::Clock::now() + 1s);
            char buf[256];
            const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
            if (n > 0 && std::string_view(buf, static_cast<std::size_t>(n)) == "action=DUNNO\n\n") ++garbage_answers;
            ++garbage_rounds;
        }
    });
    // 2: sends half of an over-long line, stalls, then the rest.
    auto slow = raw_connect(spec);
    REQUIRE(mp::io::write_all(slow.get(), "request=smtpd_access_policy\nhelo_name=" + std::string(1500, 'h'),
                              mp::io::Clock::now() + 1s) == mp::io::IoStatus::ok);
    // 3: connects and sends nothing.
    auto silent = raw_connect(spec);

    // 4: a normal client, measured.
    mp::PolicyClient good(spec, quick_client());
    std::chrono::nanoseconds worst{0};
    const auto started = std::chrono::steady_clock::now();
    int answered = 0;
    for (int i = 0; i < 300; ++i) {
        if (i == 150) {  // the slow client finishes its over-long line mid-run
            REQUIRE(mp::io::write_all(slow.get(), std::string(1000, 'h') + "\n\n", mp::io::Clock::now() + 1s) ==
                    mp::io::IoStatus::ok);
        }
        const auto t0 = std::chrono::steady_clock::now();
        auto r = good.query(rcpt("u" + std::to_string(i) + "@example.net"));
        const auto dt = std::chrono::steady_clock::now() - t0;
        worst = std::max(worst, std::chrono::duration_cast<std::chrono::nanoseconds>(dt));
        REQUIRE(r.status == Status::ok);
        REQUIRE(r.action == "DUNNO A");
        ++answered;
    }
    const auto total = std::chrono::steady_clock::now() - started;
    done = true;
    garbage.join();

    CHECK(answered == 300);
    INFO("worst latency ms " << std::chrono::duration_cast<std::chrono::milliseconds>(worst).count());
    CHECK(worst < 1000ms);  // the timeouts are 4 s: nobody waited for them
    CHECK(total < 4s);
    CHECK(garbage_connect_failures.load() == 0);
    CHECK(garbage_rounds.load() > 0);
    CHECK(garbage_answers.load() == garbage_rounds.load());

    // The over-long line got the safe answer and a close.
    char buf[256];
    ssize_t n = ::recv(slow.get(), buf, sizeof buf, 0);
    REQUIRE(n > 0);
    CHECK(std::string_view(buf, static_cast<std::size_t>(n)) == "action=DUNNO\n\n");
    CHECK(::recv(slow.get(), buf, sizeof buf, 0) <= 0);
    CHECK(logs.count("line longer than 2048 bytes") == 1);
    // The silent client is still connected, waiting for its idle timeout.
    CHECK(server.counters().connections_active >= 2);
}

TEST_CASE("the handler can be swapped while serving; a request in flight finishes with the old one", "[policy][server]") {
    LogCapture logs;
    mp::ServerOptions o;
    o.socket = inet_any_port();
    auto gate = std::make_shared<GateHandler>();
    mp::Server server(o, gate);
    server.start();
    const SocketSpec spec = client_spec(server);

    mp::ClientResult in_flight;
    std::thread first([&] {
        mp::PolicyClient c(spec, quick_client());
        in_flight = c.query(rcpt("x@a"));
    });
    REQUIRE(gate->wait_entered(3000ms));
    server.set_handler(std::make_shared<TestHandler>("B"));
    CHECK(server.handler() != gate);
    // New requests (new and existing connections) see B while the old request is still in A.
    mp::PolicyClient second(spec, quick_client());
    auto r = second.query(rcpt("y@a"));
    REQUIRE(r.status == Status::ok);
    CHECK(r.action == "DUNNO B");
    gate->release();
    first.join();
    REQUIRE(in_flight.status == Status::ok);
    CHECK(in_flight.action == "DUNNO old");

    // Swapping repeatedly under load: every answer comes from one complete handler.
    std::atomic<bool> stop{false};
    std::atomic<int> swaps{0};
    server.set_handler(std::make_shared<TestHandler>("D"));
    std::thread swapper([&] {
        for (int i = 0; !stop.load(); ++i) {
            server.set_handler(std::make_shared<TestHandler>(i % 2 == 0 ? "C" : "D"));
            ++swaps;
            std::this_thread::yield();
        }
    });
    int queries = 0;
    int c_count = 0;
    int d_count = 0;
    while (queries < 300 || swaps.load() < 100) {
        auto a = second.query(rcpt("z@a"));
        REQUIRE(a.status == Status::ok);
        ++queries;
        if (a.action == "DUNNO C") ++c_count;
        if (a.action == "DUNNO D") ++d_count;
    }
    stop = true;
    swapper.join();
    CHECK(c_count + d_count == queries);
    CHECK(c_count > 0);  // the swaps did reach the connection
}

TEST_CASE("connections over the cap are refused at once, not left hanging", "[policy][server]") {
    LogCapture logs;
    mp::ServerOptions o;
    o.socket = inet_any_port();
    o.max_connections = 2;
    mp::Server server(o, std::make_shared<TestHandler>());
    server.start();
    const SocketSpec spec = client_spec(server);
    mp::PolicyClient a(spec, quick_client());
    mp::PolicyClient b(spec, quick_client());
    REQUIRE(a.query(rcpt("a@a")).status == Status::ok);
    REQUIRE(b.query(rcpt("b@a")).status == Status::ok);

    mp::PolicyClient c(spec, quick_client());
    const auto t0 = std::chrono::steady_clock::now();
    auto refused = c.query(rcpt("c@a"));
    CHECK(refused.status == Status::error);
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    CHECK(server.counters().connections_refused == 1);
    CHECK(logs.count("connection limit reached") == 1);

    // The established ones keep working; a freed slot is usable again.
    CHECK(a.query(rcpt("a2@a")).action == "DUNNO A");
    b.close();
    REQUIRE(eventually([&] { return server.counters().connections_active == 1; }));
    mp::PolicyClient d(spec, quick_client());
    auto ok = d.query(rcpt("d@a"));
    REQUIRE(ok.status == Status::ok);
    CHECK(ok.action == "DUNNO A");
}

TEST_CASE("idle and read timeouts close only the slow connection", "[policy][server]") {
    LogCapture logs;
    mp::ServerOptions o;
    o.socket = inet_any_port();
    o.idle_timeout = 300ms;
    o.read_timeout = 300ms;
    mp::Server server(o, std::make_shared<TestHandler>());
    server.start();
    const SocketSpec spec = client_spec(server);

    auto idle = raw_connect(spec);
    auto partial = raw_connect(spec);
    REQUIRE(mp::io::write_all(partial.get(), "protocol_state=RCPT\nsender=a", mp::io::Clock::now() + 1s) ==
            mp::io::IoStatus::ok);
    const auto t0 = std::chrono::steady_clock::now();
    char buf[64];
    CHECK(::recv(idle.get(), buf, sizeof buf, 0) == 0);
    CHECK(::recv(partial.get(), buf, sizeof buf, 0) == 0);  // no answer to half a request, just a close
    const auto waited = std::chrono::steady_clock::now() - t0;
    CHECK(waited >= 250ms);
    CHECK(waited < 3s);
    CHECK(server.counters().timeouts == 2);
    CHECK(logs.count("idle timeout") == 1);
    CHECK(logs.count("read timeout inside a request") == 1);
}

TEST_CASE("a stale UNIX socket is replaced; a live one and a regular file are refused", "[policy][server]") {
    LogCapture logs;
    TempDir dir;
    const std::string path = dir.file("p.sock");
    {  // a stale socket: bound, then its owner went away
        mp::io::Fd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strcpy(addr.sun_path, path.c_str());
        REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    }
    REQUIRE(std::filesystem::is_socket(path));
    mp::ServerOptions o;
    o.socket = unix_spec(path);
    o.socket_mode = 0600;
    mp::Server server(o, std::make_shared<TestHandler>());
    server.start();
    CHECK(logs.count("removed stale socket") == 1);
    struct stat sb {};
    REQUIRE(::stat(path.c_str(), &sb) == 0);
    CHECK((sb.st_mode & 07777) == 0600);
    mp::PolicyClient client(client_spec(server), quick_client());
    CHECK(client.query(rcpt("a@a")).action == "DUNNO A");

    mp::Server second(o, std::make_shared<TestHandler>());
    CHECK_THROWS_WITH(second.listen(), Catch::Contains("in use by a running server"));
    CHECK(client.query(rcpt("b@a")).action == "DUNNO A");  // the first server is untouched

    const std::string file = dir.file("regular");
    std::ofstream(file) << "not a socket\n";
    mp::ServerOptions fo;
    fo.socket = unix_spec(file);
    mp::Server third(fo, std::make_shared<TestHandler>());
    CHECK_THROWS_WITH(third.listen(), Catch::Contains("is not a socket"));
    CHECK(std::filesystem::is_regular_file(file));
}

TEST_CASE("stop() is prompt with idle connections and finishes requests in flight", "[policy][server]") {
    LogCapture logs;
    mp::ServerOptions o;
    o.socket = inet_any_port();  // idle timeout stays at 600 s
    auto gate = std::make_shared<GateHandler>();
    mp::Server server(o, gate);
    server.start();
    const SocketSpec spec = client_spec(server);
    std::vector<mp::io::Fd> idle;
    for (int i = 0; i < 5; ++i) idle.push_back(raw_connect(spec));
    mp::ClientResult in_flight;
    std::thread busy([&] {
        mp::PolicyClient c(spec, quick_client());
        in_flight = c.query(rcpt("x@a"));
    });
    REQUIRE(gate->wait_entered(3000ms));
    std::thread releaser([&] {
        std::this_thread::sleep_for(200ms);
        gate->release();
    });
    const auto t0 = std::chrono::steady_clock::now();
    server.stop();
    const auto took = std::chrono::steady_clock::now() - t0;
    releaser.join();
    busy.join();
    CHECK(took < 2s);
    CHECK(in_flight.status == Status::ok);
    CHECK(in_flight.action == "DUNNO old");
    CHECK(server.counters().connections_active == 0);
    char buf[16];
    for (auto& fd : idle) CHECK(::recv(fd.get(), buf, sizeof buf, 0) == 0);
    // New connections are refused after stop.
    std::string error;
    CHECK_FALSE(mp::io::connect_to(spec, 1s, error).valid());
}

TEST_CASE("client refuses attributes that would break the protocol", "[policy][client]") {
    CHECK(mp::PolicyClient::encode({{"a", "b"}}) == "a=b\n\n");
    CHECK(mp::PolicyClient::encode({{"a=", "b"}}).empty());
    CHECK(mp::PolicyClient::encode({{"", "b"}}).empty());
    CHECK(mp::PolicyClient::encode({{"a", "b\nc"}}).empty());
    mp::PolicyClient client(unix_spec("/nonexistent/dir/sock"), quick_client());
    auto r = client.query({{"a", "b\n"}});
    CHECK(r.status == Status::error);
    auto c = client.query({{"a", "b"}});
    CHECK(c.status == Status::error);
    CHECK(c.reason.find("connect") != std::string::npos);
}

TEST_CASE("client reconnects once when the server dropped an idle connection", "[policy][client]") {
    LogCapture logs;
    mp::ServerOptions o;
    o.socket = inet_any_port();
    o.idle_timeout = 100ms;
    mp::Server server(o, std::make_shared<TestHandler>());
    server.start();
    mp::ClientOptions co = quick_client();
    co.retry_stale_connection = true;
    mp::PolicyClient client(client_spec(server), co);
    REQUIRE(client.query(rcpt("a@a")).status == Status::ok);
    REQUIRE(eventually([&] { return server.counters().timeouts == 1; }));
    auto r = client.query(rcpt("b@a"));
    REQUIRE(r.status == Status::ok);
    CHECK(r.action == "DUNNO A");
    CHECK(server.counters().connections_accepted == 2);
}

TEST_CASE("a client that does not read its answers hits the write timeout", "[policy][server]") {
    LogCapture logs;
    mp::ServerOptions o;
    o.socket = inet_any_port();
    o.write_timeout = 300ms;
    // Long answers fill the socket buffers after a few thousand requests, also in slow sanitizer builds.
    class LongAnswer final : public mp::Handler {
    public:
        mp::Action handle(const mp::Request&, const mp::Peer&) const override {
            return mp::Action::reject("5.7.1 " + std::string(380, 'x'));
        }
    };
    mp::Server server(o, std::make_shared<LongAnswer>());
    server.start();
    // A small receive buffer on the client, and requests pipelined without ever reading an answer.
    mp::io::Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const int small = 2048;
    REQUIRE(::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(server.port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    std::string burst;
    for (int i = 0; i < 1000; ++i) burst += "a=b\n\n";
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (server.counters().timeouts == 0 && std::chrono::steady_clock::now() < end) {
        const ssize_t n = ::send(fd.get(), burst.data(), burst.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) break;  // the server closed the connection
        if (n < 0) std::this_thread::sleep_for(10ms);
    }
    // The counter moves just before the log line is written: wait for both.
    REQUIRE(eventually([&] { return server.counters().timeouts == 1 && logs.count("write timeout") == 1; }));
    // Everyone else is still served.
    server.set_handler(std::make_shared<TestHandler>());
    mp::PolicyClient other(client_spec(server), quick_client());
    CHECK(other.query(rcpt("x@a")).action == "DUNNO A");
}

TEST_CASE("an idle connection lets go of a replaced handler; answers come with and without spinning", "[policy][server]") {
    for (const auto spin : {std::chrono::microseconds(0), std::chrono::microseconds(200)}) {
        mp::ServerOptions o;
        o.socket = inet_any_port();
        o.read_timeout = 200ms;  // a read wakes every 50 ms
        o.spin = spin;
        auto first = std::make_shared<TestHandler>("A");
        std::weak_ptr<TestHandler> watch = first;
        mp::Server server(o, first);
        first.reset();
        server.start();
        mp::PolicyClient c(client_spec(server), quick_client());
        for (int i = 0; i < 20; ++i) {  // back to back: with spin on, most meet a thread still polling
            auto r = c.query(rcpt("x@a"));
            REQUIRE(r.status == Status::ok);
            CHECK(r.action == "DUNNO A");
        }
        // With spinning off no read polls; with it on (and a spare CPU) the first read after an answer does.
        if (spin.count() == 0 || std::thread::hardware_concurrency() < 2)
            CHECK(server.counters().spins == 0);
        else
            CHECK(server.counters().spins > 0);
        CHECK(server.counters().spin_hits <= server.counters().spins);
        server.set_handler(std::make_shared<TestHandler>("B"));
        // The connection's thread held A; it sleeps in its read and drops A at the next wake.
        for (int i = 0; i < 200 && !watch.expired(); ++i) std::this_thread::sleep_for(10ms);
        CHECK(watch.expired());
        auto r = c.query(rcpt("y@a"));
        REQUIRE(r.status == Status::ok);
        CHECK(r.action == "DUNNO B");
    }
}
