// tests/unit/milter/runner_test.cpp - the Runner with purpose-built sessions, in a forked child process
// (as a daemon runs it: signals for reload and stop), driven by MilterClient over a UNIX socket.
#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>

#include "common/daemon/daemon.hpp"
#include "common/log/logger.hpp"
#include "common/milter/runner.hpp"
#include "unit/milter/milter_test_support.hpp"

using namespace mailmoat;
using namespace mailmoat::milter;
using namespace mailmoat::milter::test;
using V = StepReply::Verdict;

namespace {

std::atomic<int> g_sessions{0};

/// Behaviour chosen by the headers it is shown.
class ProbeSession final : public Session {
public:
    explicit ProbeSession(std::string generation) : generation_(std::move(generation)), serial_(++g_sessions) {}

    Status on_connect(const ConnectInfo& info) override {
        connect_ = info.host_name + "|" + (info.address ? info.address->to_string() : "-") + "|" + std::to_string(info.port);
        if (info.host_name == "reject-me") {
            (void)set_reply("554", "5.7.1", "go away\nsecond line 100%");
            return Status::reject;
        }
        if (info.host_name == "throw-me") throw std::runtime_error("connect failure");
        return Status::continue_;
    }
    Status on_envfrom(const std::vector<std::string_view>& args) override {
        from_ = args.empty() ? "" : std::string(args[0]);
        if (args.size() > 1) from_ += "+" + std::string(args[1]);
        return Status::continue_;
    }
    Status on_header(std::string_view name, std::string_view value) override {
        if (name == "X-Throw") throw std::runtime_error("header failure");
        if (name == "X-Throw-Int") throw 42;
        if (name == "X-Reject") return Status::reject;  // header is a no-reply stage here
        if (name == "X-Mods") mods_ = true;
        if (name == "X-Skip-Body") skip_ = true;
        (void)value;
        return Status::continue_;
    }
    Status on_body(std::string_view chunk) override {
        ++body_calls_;
        body_bytes_ += chunk.size();
        return skip_ ? Status::skip : Status::continue_;
    }
    Status on_eom(Modifier& m) override {
        const std::string info = "gen=" + generation_ + " serial=" + std::to_string(serial_) + " msg=" +
                                 std::to_string(++messages_) + " body_calls=" + std::to_string(body_calls_) +
                                 " body_bytes=" + std::to_string(body_bytes_) + " aborts=" + std::to_string(aborts_);
        if (m.add_header("X-Probe", info) != Outcome::ok) return Status::tempfail;
        const std::string macros = "i=" + queue_id() + " auth=" + auth_authen() + " client=" + client_addr() +
                                   " daemon=" + daemon_name() + " j=" + my_hostname() + " from=" + from_ +
                                   " connect=" + connect_;
        if (m.add_header("X-Macros", macros) != Outcome::ok) return Status::tempfail;
        if (mods_) {
            bool ok = m.insert_header(0, "X-First", "top") == Outcome::ok &&
                      m.change_header("Subject", 1, "changed") == Outcome::ok &&
                      m.delete_header("X-Mods", 1) == Outcome::ok &&
                      m.add_rcpt("<new@example.com>") == Outcome::ok &&
                      m.add_rcpt("<par@example.com>", "NOTIFY=NEVER") == Outcome::ok &&
                      m.del_rcpt("<b@example.net>") == Outcome::ok &&
                      m.quarantine("held for review") == Outcome::ok &&
                      m.replace_body(std::string(70000, 'r')) == Outcome::ok &&
                      m.add_header("Bad Name", "v") == Outcome::invalid &&
                      m.change_from("<x@example.com>") == Outcome::invalid;  // not declared
            if (!ok) return Status::tempfail;
            return Status::accept;
        }
        return Status::continue_;
    }
    void on_abort() override { ++aborts_; }
    void reset() override {
        mods_ = skip_ = false;
        body_calls_ = 0;
        body_bytes_ = 0;
        from_.clear();
    }

private:
    std::string generation_;
    int serial_;
    int messages_ = 0, aborts_ = 0, body_calls_ = 0;
    std::size_t body_bytes_ = 0;
    bool mods_ = false, skip_ = false;
    std::string connect_, from_;
};

/// The Runner in a forked child: SIGHUP swaps the factory (generation 2), SIGTERM stops; the exit
/// code is 0 when no connection object was left behind, 3 otherwise, 4 when open() failed.
struct ForkedRunner {
    TempDir dir;
    util::SocketSpec spec;
    pid_t pid = -1;

    ForkedRunner() {
        spec = *util::SocketSpec::parse("unix:" + (dir.path / "probe.sock").string());
        pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) _exit(child_main());
        if (!wait_ready(spec, std::chrono::seconds(10))) FAIL("runner did not start");
    }
    ~ForkedRunner() {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
    }
    int child_main() {
        log::init("probe", true, log::Level::warning);
        daemon::SignalSet signals;
        RunnerOptions o;
        o.name = "probe";
        o.socket = spec;
        o.actions.add_headers = o.actions.change_headers = o.actions.change_body = true;
        o.actions.add_rcpt = o.actions.del_rcpt = o.actions.quarantine = true;
        o.no_reply = {Stage::header};
        o.macros[MacroStage::connect] = "j {daemon_name} {client_addr}";
        o.macros[MacroStage::envfrom] = "i {auth_authen}";
        o.macros[MacroStage::eom] = "i";
        o.drain_timeout = std::chrono::seconds(5);
        Runner runner(o, [] { return std::make_unique<ProbeSession>("1"); });
        if (runner.open().code != OpenResult::Code::ok || !runner.start()) return 4;
        for (;;) {
            const auto ev = signals.wait_for(std::chrono::milliseconds(500));
            if (!ev) continue;
            if (*ev == daemon::SignalSet::Event::stop) break;
            runner.set_factory([] { return std::make_unique<ProbeSession>("2"); });
        }
        runner.stop();
        return runner.active_connections() == 0 ? 0 : 3;
    }
    /// Exit status of the child after SIGTERM: 0 when no connection was left in flight (stop() closes
    /// connections idle between messages at once, so no pause is needed for the clients' QUITs).
    int stop() {
        kill(pid, SIGTERM);
        int status = 0;
        waitpid(pid, &status, 0);
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
};

const Modification* header_mod(const StepReply& r, const std::string& name) {
    for (const auto& m : r.modifications)
        if (m.kind == Modification::Kind::add_header && m.name == name) return &m;
    return nullptr;
}

}  // namespace

TEST_CASE("Runner: macros from earlier stages are readable at end of message", "[milter][runner]") {
    ForkedRunner fr;
    MilterClient c;
    REQUIRE(c.open(fr.spec).ok());
    CHECK(c.negotiated().macro_lists.at(0) == std::vector<std::string>{"j", "{daemon_name}", "{client_addr}"});
    REQUIRE(send_connect(c).verdict == V::continue_);
    const auto r = send_message(c, "QID42", {{"Subject", " s"}}, "body\r\n", "alice");
    REQUIRE(r.verdict == V::continue_);
    REQUIRE(header_mod(r, "X-Macros") != nullptr);
    CHECK(header_mod(r, "X-Macros")->value ==
          "i=QID42 auth=alice client=192.0.2.10 daemon=smtpd j=mx.example.test from=<a@example.org> "
          "connect=client.example|192.0.2.10|40000");
    c.quit();
    CHECK(fr.stop() == 0);
}

TEST_CASE("Runner: every modification reaches the MTA in order", "[milter][runner]") {
    ForkedRunner fr;
    MilterClient c;
    REQUIRE(c.open(fr.spec).ok());
    REQUIRE(send_connect(c).ok());
    const auto r = send_message(c, "M1", {{"Subject", " old"}, {"X-Mods", " all"}}, "body\r\n");
    REQUIRE(r.verdict == V::accept);
    using K = Modification::Kind;
    std::vector<K> kinds;
    for (const auto& m : r.modifications) kinds.push_back(m.kind);
    const std::vector<K> expected{K::add_header,   K::add_header, K::insert_header, K::change_header,
                                  K::change_header, K::add_rcpt,   K::add_rcpt_par,  K::del_rcpt,
                                  K::quarantine,    K::replace_body, K::replace_body};
    REQUIRE(kinds == expected);
    CHECK(r.modifications[2].index == 0);
    CHECK(r.modifications[2].name == "X-First");
    CHECK(r.modifications[3].name == "Subject");
    CHECK(r.modifications[3].value == "changed");
    CHECK(r.modifications[4].name == "X-Mods");
    CHECK(r.modifications[4].value.empty());
    CHECK(r.modifications[6].value == "NOTIFY=NEVER");
    CHECK(r.modifications[8].name == "held for review");
    CHECK(r.modifications[9].value.size() == 65535);
    CHECK(r.modifications[10].value.size() == 70000 - 65535);
    c.quit();
    CHECK(fr.stop() == 0);
}

TEST_CASE("Runner: exceptions become tempfail and never kill the milter", "[milter][runner]") {
    ForkedRunner fr;
    {
        MilterClient c;
        REQUIRE(c.open(fr.spec).ok());
        CHECK(c.connect("throw-me", '4', 1, "192.0.2.1").verdict == V::tempfail);
    }
    {
        MilterClient c;
        REQUIRE(c.open(fr.spec).ok());
        REQUIRE(send_connect(c).ok());
        // header is a no-reply stage: the tempfail is given at the next stage that answers (eoh).
        REQUIRE(c.mail({"<a@example.org>"}, {{"i", "T1"}}).ok());
        REQUIRE(c.rcpt({"<b@example.net>"}).ok());
        REQUIRE(c.data().ok());
        CHECK(c.header("X-Throw", " 1").verdict == V::no_reply);
        const auto eoh = c.eoh();
        INFO(eoh.text);
        CHECK(eoh.verdict == V::tempfail);
        REQUIRE(c.abort());
        REQUIRE(c.mail({"<a@example.org>"}, {{"i", "T2"}}).ok());
        REQUIRE(c.rcpt({"<b@example.net>"}).ok());
        REQUIRE(c.data().ok());
        CHECK(c.header("X-Throw-Int", " 1").verdict == V::no_reply);
        CHECK(c.eoh().verdict == V::tempfail);
        REQUIRE(c.abort());
        // A verdict returned at a no-reply stage is kept too.
        REQUIRE(c.mail({"<a@example.org>"}, {{"i", "T3"}}).ok());
        REQUIRE(c.rcpt({"<b@example.net>"}).ok());
        REQUIRE(c.data().ok());
        CHECK(c.header("X-Mods", " 1").verdict == V::no_reply);  // must not leak into the next message
        CHECK(c.header("X-Reject", " 1").verdict == V::no_reply);
        CHECK(c.eoh().verdict == V::reject);
        REQUIRE(c.abort());
        // The connection still serves a normal message, starting clean: the verdicts ended those
        // messages (the MTA's abort that follows reaches no session, so on_abort was not called), reset() ran.
        const auto r = send_message(c, "T4", {{"Subject", " fine"}}, "b\r\n");
        REQUIRE(r.verdict == V::continue_);
        REQUIRE(header_mod(r, "X-Probe") != nullptr);
        CHECK(header_mod(r, "X-Probe")->value.find("msg=1 body_calls=1 body_bytes=3 aborts=0") != std::string::npos);
        // An abort inside a running message does reach the session.
        REQUIRE(c.mail({"<a@example.org>"}, {{"i", "T5"}}).ok());
        REQUIRE(c.rcpt({"<b@example.net>"}).ok());
        REQUIRE(c.abort());
        const auto r2 = send_message(c, "T6", {{"Subject", " fine"}}, "b\r\n");
        REQUIRE(r2.verdict == V::continue_);
        CHECK(header_mod(r2, "X-Probe")->value.find("msg=2 body_calls=1 body_bytes=3 aborts=1") != std::string::npos);
        c.quit();
    }
    CHECK(fr.stop() == 0);
}

TEST_CASE("Runner: connect reject carries a multi-line custom reply", "[milter][runner]") {
    ForkedRunner fr;
    MilterClient c;
    REQUIRE(c.open(fr.spec).ok());
    const auto r = c.connect("reject-me", '6', 25, "2001:db8::1");
    REQUIRE(r.verdict == V::reply_code);
    CHECK(r.text == "554-5.7.1 go away\r\n554 5.7.1 second line 100%%");
    c.close();
    CHECK(fr.stop() == 0);
}

TEST_CASE("Runner: body chunks, skip and per-message reset", "[milter][runner]") {
    ForkedRunner fr;
    MilterClient c;
    REQUIRE(c.open(fr.spec).ok());
    REQUIRE(send_connect(c).ok());
    const std::string big(65535 * 2 + 100, 'b');
    auto r = send_message(c, "B1", {{"Subject", " s"}}, big);
    REQUIRE(r.verdict == V::continue_);
    CHECK(header_mod(r, "X-Probe")->value.find("msg=1 body_calls=3 body_bytes=131170") != std::string::npos);
    r = send_message(c, "B2", {{"X-Skip-Body", " 1"}}, big);
    REQUIRE(r.verdict == V::continue_);
    CHECK(header_mod(r, "X-Probe")->value.find("msg=2 body_calls=1 body_bytes=65535") != std::string::npos);
    c.quit();
    CHECK(fr.stop() == 0);
}

TEST_CASE("Runner: a new factory serves new connections, old connections keep their session", "[milter][runner]") {
    ForkedRunner fr;
    MilterClient old_conn;
    REQUIRE(old_conn.open(fr.spec).ok());
    REQUIRE(send_connect(old_conn).ok());
    auto r = send_message(old_conn, "F1", {{"Subject", " s"}}, "b\r\n");
    REQUIRE(header_mod(r, "X-Probe")->value.find("gen=1") != std::string::npos);
    kill(fr.pid, SIGHUP);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    r = send_message(old_conn, "F2", {{"Subject", " s"}}, "b\r\n");
    CHECK(header_mod(r, "X-Probe")->value.find("gen=1") != std::string::npos);
    MilterClient new_conn;
    REQUIRE(new_conn.open(fr.spec).ok());
    REQUIRE(send_connect(new_conn).ok());
    r = send_message(new_conn, "F3", {{"Subject", " s"}}, "b\r\n");
    CHECK(header_mod(r, "X-Probe")->value.find("gen=2") != std::string::npos);
    old_conn.quit();
    new_conn.quit();
    CHECK(fr.stop() == 0);
}
