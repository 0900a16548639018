// tests/unit/milter/engine_test_support.hpp - a session that records its callbacks and macros, and a
// Conversation fed packets directly, for the engine and Runner tests.
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/milter/engine.hpp"
#include "common/milter/milter_client.hpp"
#include "common/milter/protocol.hpp"
#include "common/milter/runner.hpp"

namespace mailmoat::milter::test {

/// What the recording sessions saw, shared by all sessions of one test.
struct Journal {
    std::mutex m;
    std::vector<std::string> events;
    int sessions = 0;
    void add(std::string e) {
        std::lock_guard lk(m);
        events.push_back(std::move(e));
    }
    bool has(const std::string& e) {
        std::lock_guard lk(m);
        return std::find(events.begin(), events.end(), e) != events.end();
    }
    int count(const std::string& e) {
        std::lock_guard lk(m);
        return static_cast<int>(std::count(events.begin(), events.end(), e));
    }
};

/// Records callbacks and macro values; behaviour chosen by header names.
class RecordingSession final : public Session {
public:
    explicit RecordingSession(Journal& j) : j_(j) {
        std::lock_guard lk(j.m);
        id_ = ++j.sessions;
    }
    Status on_connect(const ConnectInfo& info) override {
        j_.add("connect " + info.host_name + " " + (info.address ? info.address->to_string() : "-") + " " +
               std::to_string(info.port) + " " + info.unix_path);
        return Status::continue_;
    }
    Status on_helo(std::string_view h) override {
        j_.add("helo " + std::string(h));
        return Status::continue_;
    }
    Status on_envfrom(const std::vector<std::string_view>& args) override {
        j_.add("mail " + std::string(args.at(0)) + " args=" + std::to_string(args.size()));
        return Status::continue_;
    }
    Status on_envrcpt(const std::vector<std::string_view>& args) override {
        j_.add("rcpt " + std::string(args.at(0)));
        return args.at(0) == "<reject@x>" ? Status::reject : Status::continue_;
    }
    Status on_data() override {
        j_.add("data");
        return Status::continue_;
    }
    Status on_header(std::string_view n, std::string_view v) override {
        j_.add("header " + std::string(n) + ":" + std::string(v));
        if (n == "X-Throw") throw std::runtime_error("boom");
        if (n == "X-Skip") skip_ = true;
        if (n == "X-Mods") mods_ = true;
        if (n == "X-Reply") {
            (void)set_reply("550", v == "ml" ? "" : "5.7.1", v == "ml" ? "first\nsecond" : "no 100%");
            reject_ = true;
        }
        if (n == "X-Tempfail-5xx") {
            (void)set_reply("550", "5.7.1", "wrong class");
            tempfail_ = true;
        }
        return Status::continue_;
    }
    Status on_eoh() override {
        j_.add("eoh");
        return Status::continue_;
    }
    Status on_body(std::string_view chunk) override {
        j_.add("body " + std::to_string(chunk.size()));
        return skip_ ? Status::skip : Status::continue_;
    }
    Status on_eom(Modifier& m) override {
        j_.add("eom i=" + macro("i").value_or("-") + " auth=" + macro("auth_authen").value_or("-") +
               " j=" + macro("{j}").value_or("-") + " rcpt=" + macro("{rcpt_addr}").value_or("-") +
               " session=" + std::to_string(id_));
        if (reject_) return Status::reject;
        if (tempfail_) return Status::tempfail;
        if (mods_) {
            if (m.add_header("X-A", "1") != Outcome::ok || m.insert_header(0, "X-B", "2") != Outcome::ok ||
                m.change_header("Subject", 1, "") != Outcome::ok || m.replace_body("new body\r\n") != Outcome::ok)
                return Status::tempfail;
            return Status::accept;
        }
        (void)m.add_header("X-Session", std::to_string(id_));
        return Status::continue_;
    }
    void on_abort() override { j_.add("abort"); }
    void on_close() override { j_.add("close " + std::to_string(id_)); }
    Status on_unknown(std::string_view cmd) override {
        j_.add("unknown " + std::string(cmd) + " i=" + macro("i").value_or("-") + " j=" + macro("j").value_or("-"));
        return Status::continue_;
    }
    void reset() override {
        skip_ = mods_ = reject_ = tempfail_ = false;
        j_.add("reset");
    }

private:
    Journal& j_;
    int id_ = 0;
    bool skip_ = false, mods_ = false, reject_ = false, tempfail_ = false;
};

inline std::vector<wire::Packet> packets(std::string_view out) {
    std::vector<wire::Packet> v;
    while (!out.empty()) {
        wire::Packet p;
        std::size_t used = 0;
        REQUIRE(wire::decode(out, 1 << 20, &p, &used) == wire::Decode::ok);
        v.push_back(std::move(p));
        out.remove_prefix(used);
    }
    return v;
}

inline std::string commands(std::string_view out) {
    std::string s;
    for (const auto& p : packets(out)) s += p.command;
    return s;
}

/// A Conversation with recording sessions.
struct Conv {
    Journal journal;
    RunnerOptions options;
    std::unique_ptr<Conversation> conv;
    Conversation::Result last = Conversation::Result::more;

    explicit Conv(RunnerOptions o = defaults()) : options(std::move(o)) {
        conv = std::make_unique<Conversation>(options, [this] { return std::make_unique<RecordingSession>(journal); });
    }
    static RunnerOptions defaults() {
        RunnerOptions o;
        o.actions.add_headers = o.actions.change_headers = o.actions.change_body = true;
        o.no_reply = {Stage::connect, Stage::helo, Stage::envfrom, Stage::data, Stage::header, Stage::body};
        return o;
    }
    /// Feeds bytes; returns what the engine answered. All bytes must be consumed unless the stream ends.
    std::string feed(std::string_view bytes) {
        std::string out;
        std::size_t used = 0;
        last = conv->process(bytes, &used, out);
        if (last == Conversation::Result::more) CHECK(used == bytes.size());
        return out;
    }
    std::string negotiate(std::uint32_t version = 6, std::uint32_t actions = wire::postfix_actions,
                          std::uint32_t protocol = wire::postfix_protocol) {
        return feed(wire::optneg(version, actions, protocol));
    }
};

}  // namespace mailmoat::milter::test
