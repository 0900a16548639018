// tests/unit/cli/checks_block_test.cpp - `mailmoat checks block|unblock|list`: the managed table is written
// with quoted rules and comments, validated as the daemon compiles it (a broken table is refused with
// FILE:LINE and left alone), keeps its mode, refuses duplicates, and reloads through the pid file.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/table/table.hpp"
#include "tools/mailmoat/command.hpp"

namespace cli = mailmoat::cli;

namespace {

struct Run {
    std::istringstream in;
    std::ostringstream out, err;
    cli::Io io{in, out, err};
    int rc = -1;
    Run(std::vector<std::string> args, const std::string& input = {}) : in(input) { rc = cli::run_main(args, io); }
};

struct Dir {
    std::string path;
    Dir() {
        char tmpl[] = "/tmp/mm-cli-block-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~Dir() { (void)std::system(("rm -rf '" + path + "'").c_str()); }
    std::string write(const std::string& name, const std::string& text) const {
        std::ofstream(path + "/" + name, std::ios::binary) << text;
        return path + "/" + name;
    }
    std::string read(const std::string& name) const {
        std::ifstream f(path + "/" + name, std::ios::binary);
        std::stringstream s;
        s << f.rdbuf();
        return s.str();
    }
};

const std::string message =
    "Return-Path: <bulk@mailer.example>\r\n"
    "Received: from spamhost (spamhost [198.51.100.9])\r\n\tby mx.example.net (Postfix) with ESMTP id 1A\r\n"
    "From: \"Offers\" <deals@Spam.Example>\r\n"
    "Subject: =?UTF-8?Q?Only_today=3A_50=25_off_=28really=29!?=\r\n"
    "Message-ID: <abc@bulk.example>\r\n\r\nBuy.\r\n";

}  // namespace

TEST_CASE("checks block/list/unblock: the whole flow on a managed table") {
    Dir d;
    const std::string conf = d.write("checks.conf", "blocklist-table = " + d.path + "/blocklist\n");
    const std::string msg = d.write("spam.eml", message);
    const std::vector<std::string> base{"checks", "block", "--config", conf, "--no-reload"};

    auto block = [&](std::vector<std::string> extra, const std::string& input = {}) {
        std::vector<std::string> a = base;
        a.insert(a.end(), extra.begin(), extra.end());
        return std::make_unique<Run>(a, input);
    };
    auto r = block({"--by", "subject", "--reason", "spam wave #3", msg});
    REQUIRE(r->rc == cli::Exit::ok);
    CHECK(r->out.str().find("blocked subject \"Only today: 50% off (really)!\" as entry 1") != std::string::npos);
    std::string text = d.read("blocklist");
    CHECK(text.find("by=subject value=\"Only today: 50% off (really)!\" reason=\"spam wave #3\"\n") != std::string::npos);
    CHECK(text.find("/^subject\\=Only\\ today\\:\\ 50\\%\\ off\\ \\(really\\)\\!$/ REJECT 5.7.1 Message rejected by local blocklist\n") !=
          std::string::npos);
    // The comment carries the time in UTC.
    CHECK(text.find("# [1] 20") != std::string::npos);
    CHECK(text.find("Z by=subject") != std::string::npos);

    // From standard input, another kind; the table keeps its mode across rewrites.
    REQUIRE(::chmod((d.path + "/blocklist").c_str(), 0640) == 0);
    r = block({"--by", "from-domain", "-"}, message);
    REQUIRE(r->rc == cli::Exit::ok);
    struct stat st {};
    REQUIRE(::stat((d.path + "/blocklist").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0640);
    REQUIRE(block({"--by", "sender", msg})->rc == cli::Exit::ok);
    REQUIRE(block({"--by", "client-ip", msg})->rc == cli::Exit::ok);
    REQUIRE(block({"--by", "message-id-domain", "--action", "HOLD blocked id", msg})->rc == cli::Exit::ok);
    REQUIRE(block({"--by", "client-ip", "--value", "2001:DB8::7"})->rc == cli::Exit::ok);

    // Every entry compiles and matches the daemon's keys.
    const auto t = mailmoat::table::open_table("pcre:" + d.path + "/blocklist");
    CHECK(t->lookup("subject=Only today: 50% off (really)!").found());
    CHECK(t->lookup("from-domain=spam.example").found());
    CHECK(t->lookup("sender=bulk@mailer.example").found());
    CHECK(t->lookup("client-ip=198.51.100.9").found());
    CHECK(t->lookup("message-id-domain=bulk.example").value == "HOLD blocked id");
    CHECK(t->lookup("client-ip=2001:db8::7").found());
    CHECK_FALSE(t->lookup("subject=Only today: 50% off (really)!!").found());

    // A duplicate is refused politely and changes nothing.
    const std::string before = d.read("blocklist");
    r = block({"--by", "from-domain", "--value", "SPAM.example"});
    CHECK(r->rc == cli::Exit::failed);
    CHECK(r->err.str().find("from-domain \"spam.example\" is already blocked (entry 2") != std::string::npos);
    CHECK(d.read("blocklist") == before);

    Run list({"checks", "list", "--config", conf});
    REQUIRE(list.rc == cli::Exit::ok);
    CHECK(list.out.str().find("1 ") == 0);
    CHECK(list.out.str().find(" subject \"Only today: 50% off (really)!\" reason=\"spam wave #3\" line=") != std::string::npos);
    CHECK(list.out.str().find("# 6 entries in " + d.path + "/blocklist") != std::string::npos);

    // unblock by id and by value; unknown ones are reported.
    Run u1({"checks", "unblock", "--config", conf, "--no-reload", "2"});
    CHECK(u1.rc == cli::Exit::ok);
    CHECK(u1.out.str().find("removed entry 2") != std::string::npos);
    Run u2({"checks", "unblock", "--config", conf, "--no-reload", "198.51.100.9"});
    CHECK(u2.rc == cli::Exit::ok);
    CHECK(u2.out.str().find("removed entry 4") != std::string::npos);
    Run u3({"checks", "unblock", "--config", conf, "--no-reload", "--by", "subject", "only TODAY: 50% off (really)!"});
    CHECK(u3.rc == cli::Exit::ok);
    Run u4({"checks", "unblock", "--config", conf, "--no-reload", "99"});
    CHECK(u4.rc == cli::Exit::failed);
    CHECK(u4.err.str().find("no blocklist entry with id 99") != std::string::npos);
    Run list2({"checks", "list", "--config", conf});
    CHECK(list2.out.str().find("# 3 entries") != std::string::npos);
    // A new entry gets a new id, never a removed one.
    r = block({"--by", "subject", "--value", "next"});
    CHECK(r->out.str().find("as entry 7") != std::string::npos);
}

TEST_CASE("checks block: a broken table is refused with FILE:LINE and left as it was") {
    Dir d;
    const std::string table = d.write("blocklist", "/^subject=ok$/ REJECT\n# hand edit\n/^subject=(broken$/ REJECT\n");
    Run r({"checks", "block", "--config", "", "--table", table, "--no-reload", "--by", "subject", "--value", "x"});
    CHECK(r.rc == cli::Exit::config);
    CHECK(r.err.str().find(table + ":3: error in regular expression") != std::string::npos);
    CHECK(r.err.str().find(".tmp.") == std::string::npos);
    CHECK(d.read("blocklist") == "/^subject=ok$/ REJECT\n# hand edit\n/^subject=(broken$/ REJECT\n");
    // No temporary file is left behind.
    CHECK(std::system(("test $(ls '" + d.path + "' | wc -l) -eq 1").c_str()) == 0);
}

TEST_CASE("checks block: bad arguments and messages that do not give the value") {
    Dir d;
    const std::string table = d.path + "/bl";
    const std::string bare = d.write("bare.eml", "Subject: hi\r\n\r\nbody\r\n");
    auto rc = [&](std::vector<std::string> a) {
        std::vector<std::string> args{"checks", "block", "--config", "", "--table", table, "--no-reload"};
        args.insert(args.end(), a.begin(), a.end());
        return Run(args).rc;
    };
    CHECK(rc({"--by", "colour", bare}) == cli::Exit::usage);
    CHECK(rc({bare}) == cli::Exit::usage);
    CHECK(rc({"--by", "sender", bare}) == cli::Exit::data_error);
    CHECK(rc({"--by", "client-ip", "--value", "not-an-ip"}) == cli::Exit::usage);
    CHECK(rc({"--by", "subject", "--value", "x", "--action", "REPLACE Subject: y"}) == cli::Exit::usage);
    CHECK(rc({"--by", "subject", "--value", "x", "--action", "BOUNCE"}) == cli::Exit::usage);
    CHECK(rc({"--by", "subject", d.path + "/missing.eml"}) == cli::Exit::no_input);
    Run nothing({"checks", "block", "--config", "", "--by", "subject", "--value", "x"});
    CHECK(nothing.rc == cli::Exit::usage);
    CHECK(nothing.err.str().find("blocklist-table") != std::string::npos);
    Run regexp({"checks", "block", "--config", "", "--table", "regexp:" + table, "--by", "subject", "--value", "x"});
    CHECK(regexp.rc == cli::Exit::usage);
}

TEST_CASE("checks block: SIGHUP to the pid in the pid file; a missing pid file is reported") {
    Dir d;
    const std::string table = d.path + "/bl";
    // A child that waits for SIGHUP and exits 7 when it gets it.
    int pipefd[2];
    REQUIRE(::pipe(pipefd) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGHUP);
        sigprocmask(SIG_BLOCK, &set, nullptr);
        (void)!::write(pipefd[1], "r", 1);
        int sig = 0;
        timespec ts{20, 0};
        sig = sigtimedwait(&set, nullptr, &ts);
        ::_exit(sig == SIGHUP ? 7 : 1);
    }
    char c;
    REQUIRE(::read(pipefd[0], &c, 1) == 1);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    const std::string pid_file = d.write("checks.pid", std::to_string(child) + "\n");
    Run r({"checks", "block", "--config", "", "--table", table, "--pid-file", pid_file, "--by", "subject", "--value", "x"});
    CHECK(r.rc == cli::Exit::ok);
    CHECK(r.out.str().find("mailmoat-checks reloaded") != std::string::npos);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 7);

    Run missing({"checks", "block", "--config", "", "--table", table, "--pid-file", d.path + "/none.pid", "--by",
                 "subject", "--value", "y"});
    CHECK(missing.rc == cli::Exit::unavailable);
    CHECK(missing.err.str().find("written, but mailmoat-checks was not reloaded") != std::string::npos);
}
