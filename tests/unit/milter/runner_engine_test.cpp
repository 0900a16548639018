// tests/unit/milter/runner_engine_test.cpp - the Runner in this process, driven by MilterClient:
// concurrency, connection limit, bad input on one connection, stop and drain, sockets.
#include <catch2/catch.hpp>
#include <sys/un.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "unit/milter/engine_test_support.hpp"
#include "unit/milter/milter_test_support.hpp"

using namespace mailmoat;
using namespace mailmoat::milter;
using namespace mailmoat::milter::test;
using V = StepReply::Verdict;

namespace {

struct LocalRunner {
    TempDir dir;
    Journal journal;
    util::SocketSpec spec;
    std::unique_ptr<Runner> runner;

    explicit LocalRunner(RunnerOptions o = Conv::defaults()) {
        spec = *util::SocketSpec::parse("unix:" + (dir.path / "engine.sock").string());
        o.socket = spec;
        o.drain_timeout = std::chrono::seconds(5);
        runner = std::make_unique<Runner>(o, [this] { return std::make_unique<RecordingSession>(journal); });
        REQUIRE(runner->open().code == OpenResult::Code::ok);
        REQUIRE(runner->start());
    }
};

bool good(const StepReply& r) { return r.verdict == V::continue_ || r.verdict == V::no_reply; }

}  // namespace

TEST_CASE("Runner engine: many concurrent connections, each with several messages", "[milter][engine]") {
    RunnerOptions o = Conv::defaults();
    o.max_connections = GENERATE(std::size_t{1024}, std::size_t{3});
    LocalRunner lr(o);
    constexpr int clients = 24, messages = 4;
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < clients; ++t) {
        threads.emplace_back([&, t] {
            MilterClient c;
            if (!c.open(lr.spec).ok() || !good(send_connect(c))) return;
            for (int m = 0; m < messages; ++m) {
                const auto r = send_message(c, "C" + std::to_string(t) + "M" + std::to_string(m), {{"Subject", "s"}},
                                            "body\r\n");
                if (r.verdict == V::continue_ && r.modifications.size() == 1 && r.modifications[0].name == "X-Session")
                    ++ok;
            }
            c.quit();
        });
    }
    for (auto& t : threads) t.join();
    CHECK(ok.load() == clients * messages);
    lr.runner->stop();
    CHECK(lr.runner->active_connections() == 0);
    CHECK(lr.journal.sessions == clients);
    CHECK_FALSE(std::filesystem::exists(lr.dir.path / "engine.sock"));
}

TEST_CASE("Runner engine: bad input on one connection leaves the others alone", "[milter][engine]") {
    LocalRunner lr;
    MilterClient good_client, bad;
    REQUIRE(good_client.open(lr.spec).ok());
    REQUIRE(good(send_connect(good_client)));
    REQUIRE(bad.open(lr.spec).ok());
    REQUIRE(bad.send_raw("\xff\xff\xff\xff" "B"));
    // The bad connection is closed by the milter: the next reply-waiting step fails.
    CHECK(bad.unknown("NOOP").verdict == V::error);
    const auto r = send_message(good_client, "G1", {{"Subject", "s"}}, "b\r\n");
    CHECK(r.verdict == V::continue_);
    good_client.quit();
    lr.runner->stop();
    CHECK(lr.runner->active_connections() == 0);
}

TEST_CASE("Runner engine: stop closes idle connections at once and lets a message finish", "[milter][engine]") {
    LocalRunner lr;
    MilterClient idle, busy;
    REQUIRE(idle.open(lr.spec).ok());
    REQUIRE(good(send_connect(idle)));
    REQUIRE(idle.unknown("NOOP").verdict == V::continue_);  // session 1, between messages
    REQUIRE(busy.open(lr.spec).ok());
    REQUIRE(good(send_connect(busy)));
    // mail is a no-reply stage: rcpt flushes it and waits for the answer, so the milter saw the message start.
    REQUIRE(good(busy.mail({"<a@x>"}, {{"i", "S1"}})));
    REQUIRE(busy.rcpt({"<b@y>"}).verdict == V::continue_);
    const auto t0 = std::chrono::steady_clock::now();
    std::thread stopper([&] { lr.runner->stop(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    // The idle connection is gone; new connections are refused.
    CHECK(idle.unknown("NOOP").verdict == V::error);
    MilterClient late;
    CHECK_FALSE(late.open(lr.spec).ok());
    // The message in flight completes normally.
    REQUIRE(good(busy.data()));
    REQUIRE(good(busy.header("Subject", "s")));
    REQUIRE(busy.eoh().verdict == V::continue_);
    REQUIRE(good(busy.body("b\r\n")));
    const auto r = busy.eom({{"i", "S1"}});
    CHECK(r.verdict == V::continue_);
    CHECK(r.modifications.size() == 1);
    stopper.join();
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(4));
    CHECK(lr.runner->active_connections() == 0);
    CHECK(lr.journal.count("abort") == 0);
    CHECK(lr.journal.has("close 1"));
    CHECK(lr.journal.has("close 2"));
    // stop() is idempotent.
    lr.runner->stop();
}

TEST_CASE("Runner engine: stop closes a message still running after the drain time", "[milter][engine]") {
    RunnerOptions o = Conv::defaults();
    LocalRunner lr(o);
    MilterClient busy;
    REQUIRE(busy.open(lr.spec).ok());
    REQUIRE(good(send_connect(busy)));
    REQUIRE(good(busy.mail({"<a@x>"})));
    REQUIRE(busy.rcpt({"<b@y>"}).verdict == V::continue_);
    const auto t0 = std::chrono::steady_clock::now();
    lr.runner->stop();  // drain_timeout 5 s
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(took >= std::chrono::seconds(4));
    CHECK(took < std::chrono::seconds(9));
    CHECK(lr.runner->active_connections() == 0);
    CHECK(lr.journal.count("abort") == 1);  // the connection went away inside the message
}

TEST_CASE("Runner engine: sockets", "[milter][engine]") {
    TempDir dir;
    const auto path = (dir.path / "s.sock").string();
    auto options = [&](const std::string& s) {
        RunnerOptions o;
        o.socket = *util::SocketSpec::parse(s);
        o.socket_mode = 0600;
        return o;
    };
    auto factory = [] { return std::make_unique<Session>(); };
    {
        Runner a(options("unix:" + path), factory);
        REQUIRE(a.open().code == OpenResult::Code::ok);
        CHECK(a.open().code == OpenResult::Code::config_error);
        REQUIRE(a.start());
        CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::all) ==
              (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
        Runner b(options("unix:" + path), factory);  // a live socket is not taken over
        CHECK(b.open().code == OpenResult::Code::system_error);
        CHECK(wait_ready(*util::SocketSpec::parse("unix:" + path), std::chrono::seconds(5)));
        a.stop();
        CHECK_FALSE(std::filesystem::exists(path));
    }
    {
        // A stale socket (nobody accepting) is replaced.
        const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un un{};
        un.sun_family = AF_UNIX;
        std::memcpy(un.sun_path, path.data(), path.size());
        REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&un), sizeof un) == 0);
        ::close(fd);
        Runner c(options("unix:" + path), factory);
        CHECK(c.open().code == OpenResult::Code::ok);
        CHECK(c.start());
    }
    {
        const auto port = free_port();
        Runner t(options("inet:127.0.0.1:" + std::to_string(port)), factory);
        REQUIRE(t.open().code == OpenResult::Code::ok);
        REQUIRE(t.start());
        MilterClient c;
        REQUIRE(c.open(*util::SocketSpec::parse("inet:127.0.0.1:" + std::to_string(port))).ok());
        CHECK(c.connect("h", '4', 1, "192.0.2.1").verdict == V::continue_);
        c.quit();
    }
}

TEST_CASE("Runner engine: sequential connections reuse one idle worker thread", "[milter][engine]") {
    auto tasks = [] {
        std::size_t n = 0;
        for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
        return n;
    };
    LocalRunner lr;
    const auto before = tasks();
    for (int i = 0; i < 20; ++i) {
        MilterClient c;
        REQUIRE(c.open(lr.spec).ok());
        REQUIRE(good(send_connect(c)));
        REQUIRE(send_message(c, "W" + std::to_string(i), {{"Subject", "s"}}, "b\r\n").verdict == V::continue_);
        c.quit();
        for (int w = 0; w < 200 && lr.runner->active_connections() > 0; ++w)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        REQUIRE(lr.runner->active_connections() == 0);
    }
    // One worker served them all (a second one at most, if a QUIT raced the next accept).
    CHECK(tasks() <= before + 2);
    CHECK(lr.journal.sessions == 20);
}
