// tests/unit/milter/example_milter_test.cpp - mailmoat-example-milter as a child process, driven by MilterClient.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <thread>
#include <cstring>
#include <sys/un.h>
#include <sys/stat.h>
#include <pwd.h>

#include "unit/milter/milter_test_support.hpp"

using namespace mailmoat;
using namespace mailmoat::milter;
using namespace mailmoat::milter::test;
using V = StepReply::Verdict;

namespace {

const std::string example_binary = MAILMOAT_BINARY_DIR "/examples/milter/mailmoat-example-milter";

/// The example milter on a UNIX socket (or TCP when tcp is set) in a private directory.
struct ExampleMilter {
    TempDir dir;
    util::SocketSpec spec;
    std::filesystem::path log = dir.path / "milter.log";
    std::optional<Child> child;

    /// tcp: 0 UNIX socket, 1 TCP in Postfix's spelling (inet:host:port), 2 libmilter's (inet:port@host).
    explicit ExampleMilter(std::vector<std::string> extra = {}, int tcp = 0) {
        const std::uint16_t port = tcp != 0 ? free_port() : 0;
        const std::string socket = tcp == 1   ? "inet:127.0.0.1:" + std::to_string(port)
                                   : tcp == 2 ? "inet:" + std::to_string(port) + "@127.0.0.1"
                                              : "unix:" + (dir.path / "example.sock").string();
        spec = *util::SocketSpec::parse(socket);
        std::vector<std::string> args{"--foreground", "--config", "", "--socket", socket, "--log-level", "info"};
        args.insert(args.end(), extra.begin(), extra.end());
        child.emplace(example_binary, args, log.string());
        if (!wait_ready(spec, std::chrono::seconds(10))) FAIL("milter did not start: " << read_file(log));
    }
};

const Modification* find_header(const StepReply& r, const std::string& name) {
    for (const auto& m : r.modifications)
        if (m.kind == Modification::Kind::add_header && m.name == name) return &m;
    return nullptr;
}

StepReply one_message(const util::SocketSpec& spec, const std::string& qid,
                      const std::vector<std::pair<std::string, std::string>>& headers) {
    MilterClient c;
    auto r = c.open(spec);
    if (!r.ok()) return r;
    r = send_connect(c);
    if (!r.ok()) return r;
    r = send_message(c, qid, headers, "Hello.\r\n");
    c.quit();
    return r;
}

}  // namespace

TEST_CASE("example milter: --check-config accepts the defaults and refuses a bad header name", "[milter][example]") {
    TempDir dir;
    {
        Child c(example_binary, {"--check-config", "--config", ""}, (dir.path / "ok.log").string());
        CHECK(c.wait(std::chrono::seconds(10)) == 0);
    }
    {
        Child c(example_binary, {"--check-config", "--config", "", "--header-name", "Bad Name:"},
                (dir.path / "bad.log").string());
        CHECK(c.wait(std::chrono::seconds(10)) == 1);
        CHECK(read_file(dir.path / "bad.log").find("header-name") != std::string::npos);
    }
}

TEST_CASE("example milter negotiates only headers and end of message, no reply per header", "[milter][example]") {
    ExampleMilter m;
    MilterClient c;
    REQUIRE(c.open(m.spec).ok());
    const auto& n = c.negotiated();
    CHECK(n.version == 6);
    CHECK(n.actions == (0x01 | 0x100));               // SMFIF_ADDHDRS | SMFIF_SETSYMLIST
    CHECK((n.protocol & 0x1) != 0);                    // SMFIP_NOCONNECT
    CHECK((n.protocol & 0x10) != 0);                   // SMFIP_NOBODY
    CHECK((n.protocol & 0x20) == 0);                   // headers wanted
    CHECK((n.protocol & 0x80) != 0);                   // SMFIP_NR_HDR
    REQUIRE(n.macro_lists.count(5) == 1);              // SMFIM_EOM
    CHECK(n.macro_lists.at(5) == std::vector<std::string>{"i"});
    CHECK(c.connect("h", '4', 1, "192.0.2.1").verdict == V::skipped);
}

TEST_CASE("example milter adds its header with the queue id over a UNIX socket", "[milter][example]") {
    ExampleMilter m;
    const auto r = one_message(m.spec, "4XyZ1abC", {{"From", " a@example.org"}, {"Subject", " hello"}});
    REQUIRE(r.verdict == V::continue_);
    const auto* h = find_header(r, "X-Mailmoat-Example");
    REQUIRE(h != nullptr);
    CHECK(h->value == "seen by mailmoat-example-milter (queue id 4XyZ1abC)");
    CHECK(find_header(r, "X-Saw-X-Test") == nullptr);
    m.child->signal(SIGTERM);
    // A loaded machine under the sanitizers can take seconds to stop; a hang still fails.
    const auto rc = m.child->wait(std::chrono::seconds(30));
    INFO("exit status " << (rc ? std::to_string(*rc) : std::string("none (still running)")) << "; log:\n" << read_file(m.log));
    CHECK(rc == 0);
    const auto log = read_file(m.log);
    CHECK(log.find("4XyZ1abC: action=continue header=X-Mailmoat-Example") != std::string::npos);
}

TEST_CASE("example milter header without queue id and with configured name and value", "[milter][example]") {
    ExampleMilter m({"--header-name", "X-Other", "--header-value", "custom text"});
    MilterClient c;
    REQUIRE(c.open(m.spec).ok());
    REQUIRE(c.header("Subject", " x").verdict == V::no_reply);
    const auto r = c.eom();
    REQUIRE(r.verdict == V::continue_);
    REQUIRE(r.modifications.size() == 1);
    CHECK(r.modifications[0].name == "X-Other");
    CHECK(r.modifications[0].value == "custom text");
}

TEST_CASE("example milter rejects a REJECTME subject with its own reply text", "[milter][example]") {
    ExampleMilter m;
    const auto r = one_message(m.spec, "REJ1", {{"Subject", " please REJECTME now"}});
    CHECK(r.verdict == V::reply_code);
    CHECK(r.text == "550 5.7.1 example milter rejects this message");
    CHECK(r.modifications.empty());
    const auto ok = one_message(m.spec, "OK1", {{"Subject", " rejectme in lower case"}});
    CHECK(ok.verdict == V::continue_);
}

TEST_CASE("example milter reports whether it saw a header", "[milter][example]") {
    ExampleMilter m({"--report-header", "X-Upstream"});
    auto r = one_message(m.spec, "Q1", {{"Subject", " s"}, {"x-upstream", " yes it is here"}});
    REQUIRE(r.verdict == V::continue_);
    REQUIRE(find_header(r, "X-Saw-X-Upstream") != nullptr);
    CHECK(find_header(r, "X-Saw-X-Upstream")->value == "yes");
    r = one_message(m.spec, "Q2", {{"Subject", " s"}});
    REQUIRE(r.verdict == V::continue_);
    REQUIRE(find_header(r, "X-Saw-X-Upstream") != nullptr);
    CHECK(find_header(r, "X-Saw-X-Upstream")->value == "no");
}

TEST_CASE("example milter: abort mid-message resets state; reconnecting works", "[milter][example]") {
    ExampleMilter m({"--report-header", "X-Seen"});
    MilterClient c;
    REQUIRE(c.open(m.spec).ok());
    REQUIRE(send_connect(c).ok());
    // A message that would be rejected and has X-Seen, aborted before its end.
    REQUIRE(c.mail({"<a@example.org>"}, {{"i", "AB1"}}).ok());
    REQUIRE(c.header("Subject", " REJECTME").ok());
    REQUIRE(c.header("X-Seen", " 1").ok());
    REQUIRE(c.abort());
    // The next message on the same connection starts clean.
    auto r = send_message(c, "AB2", {{"Subject", " fine"}}, "body\r\n");
    REQUIRE(r.verdict == V::continue_);
    REQUIRE(find_header(r, "X-Saw-X-Seen") != nullptr);
    CHECK(find_header(r, "X-Saw-X-Seen")->value == "no");
    CHECK(find_header(r, "X-Mailmoat-Example")->value.find("AB2") != std::string::npos);
    // Drop the connection mid-message, then a new connection.
    REQUIRE(c.header("Subject", " half").ok());
    c.close();
    r = one_message(m.spec, "AB3", {{"Subject", " again"}});
    REQUIRE(r.verdict == V::continue_);
    CHECK(m.child->alive());
}

TEST_CASE("example milter survives garbage from the MTA side", "[milter][example]") {
    ExampleMilter m;
    const std::string garbage[] = {
        std::string("\xff\xff\xff\xff garbage", 13),      // absurd length
        std::string("\x00\x00\x00\x00", 4),               // zero length
        std::string("\x00\x00\x00\x05Zjunk", 9),          // unknown command
        std::string("\x00\x00\x00\x10O\x00\x00", 7),      // truncated negotiation, then close
        "GET / HTTP/1.0\r\n\r\n",
    };
    for (const auto& g : garbage) {
        MilterClient c;
        REQUIRE(c.open(m.spec).ok());
        CHECK(c.send_raw(g));
        c.close();
    }
    // Garbage without negotiating first.
    for (const auto& g : garbage) {
        const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un un{};
        un.sun_family = AF_UNIX;
        std::memcpy(un.sun_path, m.spec.path.data(), m.spec.path.size());
        REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&un), sizeof un) == 0);
        (void)!::write(fd, g.data(), g.size());
        ::close(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(m.child->alive());
    const auto r = one_message(m.spec, "G1", {{"Subject", " after garbage"}});
    CHECK(r.verdict == V::continue_);
}

TEST_CASE("example milter serves many concurrent connections", "[milter][example]") {
    ExampleMilter m;
    constexpr int connections = 24, messages = 20;
    std::atomic<int> good{0}, bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < connections; ++t) {
        threads.emplace_back([&, t] {
            MilterClient c;
            if (!c.open(m.spec).ok() || !send_connect(c).ok()) {
                bad += messages;
                return;
            }
            for (int i = 0; i < messages; ++i) {
                const std::string qid = "C" + std::to_string(t) + "x" + std::to_string(i);
                const auto r = send_message(c, qid, {{"Subject", " load"}}, std::string(4096, 'x'));
                const auto* h = find_header(r, "X-Mailmoat-Example");
                if (r.verdict == V::continue_ && h != nullptr && h->value.find("(queue id " + qid + ")") != std::string::npos)
                    ++good;
                else
                    ++bad;
            }
            c.quit();
        });
    }
    for (auto& t : threads) t.join();
    CHECK(bad == 0);
    CHECK(good == connections * messages);
}

namespace {

/// Median latency of 15 one-header messages over one TCP connection, each checked for the header.
double tcp_median_ms(const util::SocketSpec& spec, bool delayed_ack = false) {
    ClientOptions co;
    co.delayed_ack = delayed_ack;
    MilterClient c(co);
    REQUIRE(c.open(spec).ok());
    REQUIRE(send_connect(c).ok());
    std::vector<double> ms;
    for (int i = 0; i < 15; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        const auto r = send_message(c, "T" + std::to_string(i), {{"Subject", " tcp"}}, "x\r\n");
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        REQUIRE(r.verdict == V::continue_);
        REQUIRE(find_header(r, "X-Mailmoat-Example") != nullptr);
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

}  // namespace

TEST_CASE("example milter over TCP: header added and no delayed-ACK stall", "[milter][example][tcp]") {
    ExampleMilter m({}, GENERATE(1, 2));
    const double median = tcp_median_ms(m.spec);
    INFO("median " << median << " ms");
    // Nagle + delayed ACK would hold the final reply behind the add-header packet for ~40 ms.
    CHECK(median < 30.0);
}

TEST_CASE("example milter over TCP without TCP_NODELAY does not stall either: one write per reply",
          "[milter][example][tcp]") {
    // A milter that writes its add-header packet and its final reply separately (stock libmilter)
    // stalls ~40 ms here: Nagle holds the second write until the MTA's delayed ACK. The engine writes
    // the modifications and the reply at once, so even with Nagle on and the client in delayed-ACK
    // mode there is nothing to hold back.
    TempDir conf;
    {
        std::ofstream out(conf.path / "example.conf");
        out << "tcp-nodelay = no\n";
    }
    ExampleMilter m({"--config", (conf.path / "example.conf").string()}, 1);
    const double median = tcp_median_ms(m.spec, true);
    INFO("median " << median << " ms");
    CHECK(median < 30.0);
}

TEST_CASE("example milter: SIGHUP reloads and keeps serving, SIGTERM stops cleanly", "[milter][example][signals]") {
    ExampleMilter m;
    REQUIRE(one_message(m.spec, "H1", {{"Subject", " before"}}).verdict == V::continue_);
    m.child->signal(SIGHUP);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    REQUIRE(m.child->alive());
    REQUIRE(one_message(m.spec, "H2", {{"Subject", " after"}}).verdict == V::continue_);
    m.child->signal(SIGHUP);
    m.child->signal(SIGHUP);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    REQUIRE(m.child->alive());
    CHECK(read_file(m.log).find("configuration reloaded") != std::string::npos);
    const auto t0 = std::chrono::steady_clock::now();
    m.child->signal(SIGTERM);
    CHECK(m.child->wait(std::chrono::seconds(10)) == 0);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));
    CHECK(read_file(m.log).find("stopped") != std::string::npos);
}

TEST_CASE("example milter sets the UNIX socket's owner and mode", "[milter][example]") {
    ExampleMilter m({"--socket-mode", "0600"});
    struct stat st {};
    REQUIRE(::stat(m.spec.path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    if (::geteuid() == 0) {  // as root it chowns the socket to the user it runs as (default mailmoat)
        const passwd* pw = ::getpwnam("mailmoat");
        REQUIRE(pw != nullptr);
        CHECK(st.st_uid == pw->pw_uid);
    }
}

TEST_CASE("example milter refuses a socket another process listens on", "[milter][example]") {
    ExampleMilter m;
    TempDir dir;
    Child second(example_binary, {"--foreground", "--config", "", "--socket", "unix:" + m.spec.path},
                 (dir.path / "second.log").string());
    CHECK(second.wait(std::chrono::seconds(10)) == 71);
    CHECK(read_file(dir.path / "second.log").find("another process listens") != std::string::npos);
    CHECK(one_message(m.spec, "S1", {{"Subject", " still mine"}}).verdict == V::continue_);
}
