// tests/unit/cli/postfix_config_test.cpp - `mailmoat postfix-config`: daemons found by their configuration
// files, socket paths as Postfix (chrooted or not) must write them, restriction and milter order.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

#include "tools/mailmoat/command.hpp"

namespace cli = mailmoat::cli;
namespace fs = std::filesystem;

namespace {

struct Captured {
    std::istringstream in;
    std::ostringstream out, err;
    cli::Io io{in, out, err};
};

/// A private configuration directory, removed at the end of the test.
struct ConfDir {
    fs::path dir;
    ConfDir() {
        std::string tmpl = (fs::temp_directory_path() / "mm-pfconf-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        dir = tmpl;
    }
    ~ConfDir() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    ConfDir(const ConfDir&) = delete;
    ConfDir& operator=(const ConfDir&) = delete;
    void write(const std::string& name, const std::string& text) const {
        std::ofstream(dir / ("mailmoat-" + name + ".conf")) << text;
    }
    [[nodiscard]] std::string arg() const { return "--config-dir=" + dir.string(); }
};

int run(Captured& c, std::vector<std::string> args) {
    args.insert(args.begin(), "postfix-config");
    return cli::run_main(args, c.io);
}

bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

}  // namespace

TEST_CASE("postfix-config: sockets under the queue directory are written relative to it") {
    ConfDir d;
    d.write("spf", "# comment\nsocket = unix:/var/spool/postfix/mailmoat/spf.sock\n");
    d.write("grey", "socket = \"unix:/var/spool/postfix/mailmoat/grey.sock\"\n");
    d.write("dkim", "socket = unix:/var/spool/postfix/mailmoat/dkim.sock\nmode = sv\n");
    Captured c;
    CHECK(run(c, {d.arg()}) == cli::Exit::ok);
    const auto out = c.out.str();
    INFO(out);
    CHECK(c.err.str().empty());
    // SPF before greylisting, both after the relay check.
    const auto relay = out.find("reject_unauth_destination");
    const auto spf = out.find("check_policy_service unix:mailmoat/spf.sock");
    const auto grey = out.find("check_policy_service unix:mailmoat/grey.sock");
    REQUIRE(relay != std::string::npos);
    REQUIRE(spf != std::string::npos);
    REQUIRE(grey != std::string::npos);
    CHECK(relay < spf);
    CHECK(spf < grey);
    CHECK(has(out, "smtpd_milters = unix:mailmoat/dkim.sock\n"));
    CHECK(has(out, "non_smtpd_milters = unix:mailmoat/dkim.sock\n"));
    CHECK(has(out, "smtp_line_length_limit = 0\n"));
    CHECK(has(out, "submission inet  n       -       y       -       -       smtpd\n"));
    CHECK(has(out, "submissions inet  n       -       y"));
    CHECK(has(out, "  -o smtpd_milters=unix:mailmoat/dkim.sock\n"));
    CHECK(has(out, "  -o milter_default_action=tempfail\n"));
    // Without header = authentication-results SPF is not needed at DATA.
    CHECK_FALSE(has(out, "\nsmtpd_data_restrictions ="));
}

TEST_CASE("postfix-config: only daemons with a configuration file are wired; --daemon picks") {
    ConfDir d;
    d.write("grey", "socket = inet:127.0.0.1:10023\n");
    Captured c;
    CHECK(run(c, {d.arg()}) == cli::Exit::ok);
    const auto out = c.out.str();
    CHECK(has(out, "check_policy_service inet:127.0.0.1:10023"));
    CHECK_FALSE(has(out, "spf"));
    CHECK_FALSE(has(out, "smtpd_milters"));
    CHECK(has(out, "# (nothing to add: no DKIM signing configured)"));

    Captured only;
    CHECK(run(only, {d.arg(), "--daemon=dkim", "--chroot=no"}) == cli::Exit::ok);
    // No file: the daemon's default socket.
    CHECK(has(only.out.str(), "smtpd_milters = unix:/run/mailmoat/dkim.sock\n"));
    CHECK_FALSE(has(only.out.str(), "grey"));
}

TEST_CASE("postfix-config: a socket outside the queue directory with a chrooted smtpd is a problem") {
    ConfDir d;
    d.write("spf", "socket = unix:/run/mailmoat/spf.sock\n");
    Captured c;
    CHECK(run(c, {d.arg()}) == cli::Exit::failed);
    CHECK(has(c.err.str(), "set 'socket = unix:/var/spool/postfix/mailmoat/spf.sock' in"));
    CHECK(has(c.out.str(), "# WARNING: mailmoat-spf listens on /run/mailmoat/spf.sock"));
    CHECK_FALSE(has(c.out.str(), "check_policy_service unix:/run"));

    Captured plain;
    CHECK(run(plain, {d.arg(), "--chroot=no"}) == cli::Exit::ok);
    CHECK(has(plain.out.str(), "check_policy_service unix:/run/mailmoat/spf.sock"));
}

TEST_CASE("postfix-config: libmilter and wildcard inet spellings become Postfix's") {
    ConfDir d;
    d.write("dkim", "socket = inet:8891@0.0.0.0\nmode = v\n");
    d.write("dmarc", "socket = inet6:8893@[::]\n");
    d.write("checks", "socket = inet:127.0.0.1:8894\n");
    Captured c;
    CHECK(run(c, {d.arg()}) == cli::Exit::ok);
    const auto out = c.out.str();
    INFO(out);
    CHECK(has(out, "smtpd_milters = inet:127.0.0.1:8891, inet:[::1]:8893, inet:127.0.0.1:8894\n"));
    // mode = v: verification only, nothing to sign, no submission service.
    CHECK_FALSE(has(out, "smtp_line_length_limit"));
    CHECK_FALSE(has(out, "non_smtpd_milters"));
    CHECK_FALSE(has(out, "submission inet"));
}

TEST_CASE("postfix-config: SPF with Authentication-Results is listed at DATA too; sections") {
    ConfDir d;
    d.write("spf", "socket = unix:/srv/q/mailmoat/spf.sock\nheader = both\n");
    Captured c;
    CHECK(run(c, {d.arg(), "--queue-directory=/srv/q/", "--section=main"}) == cli::Exit::ok);
    const auto out = c.out.str();
    CHECK(has(out, "smtpd_data_restrictions =\n    check_policy_service unix:mailmoat/spf.sock\n"));
    CHECK_FALSE(has(out, "master.cf ----"));
    Captured m;
    CHECK(run(m, {d.arg(), "--queue-directory=/srv/q", "--section=master"}) == cli::Exit::ok);
    CHECK_FALSE(has(m.out.str(), "main.cf ----"));
}

TEST_CASE("postfix-config: bad arguments and an empty directory") {
    ConfDir d;
    Captured c;
    CHECK(run(c, {d.arg()}) == cli::Exit::no_input);
    CHECK(has(c.err.str(), "no daemon configuration"));
    Captured bad;
    CHECK(run(bad, {d.arg(), "--chroot=maybe"}) == cli::Exit::usage);
    Captured unknown;
    CHECK(run(unknown, {d.arg(), "--daemon=postgrey"}) == cli::Exit::usage);
    Captured rel;
    CHECK(run(rel, {d.arg(), "--queue-directory=spool"}) == cli::Exit::usage);
    d.write("spf", "socket = tcp:1\n");
    Captured badsock;
    CHECK(run(badsock, {d.arg()}) == cli::Exit::failed);
    CHECK(has(badsock.err.str(), "mailmoat-spf.conf:1: socket 'tcp:1'"));
}
