// tests/unit/cli/checks_test.cpp - `mailmoat checks test`: explains which rule fired on a message or a line.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "tools/mailmoat/command.hpp"

namespace cli = mailmoat::cli;

namespace {

struct Captured {
    std::istringstream in;
    std::ostringstream out, err;
    cli::Io io{in, out, err};
};

struct TempDir {
    std::string dir;
    TempDir() {
        char tmpl[] = "/tmp/mm-cli-checks-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        dir = tmpl;
    }
    std::string write(const std::string& name, const std::string& text) {
        const std::string p = dir + "/" + name;
        std::ofstream(p) << text;
        files.push_back(p);
        return p;
    }
    ~TempDir() {
        for (const auto& f : files) std::remove(f.c_str());
        ::rmdir(dir.c_str());
    }
    std::vector<std::string> files;
};

}  // namespace

TEST_CASE("checks test: a message, every firing rule with FILE:LINE and the decision") {
    TempDir d;
    const auto table = d.write("rules", "/^X-Spam: yes/ WARN flagged\n# c\n/^Subject: (.*)/ PREPEND X-Orig: $1\n"
                                        "/^buy now/ REJECT 5.7.1 spam body\n");
    const auto msg = d.write("msg", "X-Spam: yes\nSubject: hi\n\nhello\nbuy now!\n");
    Captured c;
    CHECK(cli::run_main({"checks", "test", "--table", "pcre:" + table, msg}, c.io) == cli::Exit::ok);
    const std::string out = c.out.str();
    CHECK(out.find("header part=0 rule=" + table + ":1 action=WARN text=flagged input=\"X-Spam: yes\"") != std::string::npos);
    CHECK(out.find("rule=" + table + ":3 action=PREPEND") != std::string::npos);
    CHECK(out.find("body part=0 rule=" + table + ":4 action=REJECT") != std::string::npos);
    CHECK(out.find("decision: reject 550 5.7.1 spam body") != std::string::npos);
    CHECK(out.find("header PREPEND: Subject #1 -> X-Orig: hi") != std::string::npos);
}

TEST_CASE("checks test: one line (header or --body), stdin, errors") {
    TempDir d;
    const auto table = d.write("rules", "/^Subject: x/ REJECT header\n/^x/ DISCARD body\n");
    Captured h;
    CHECK(cli::run_main({"checks", "test", "--table", "pcre:" + table, "--line", "Subject: x"}, h.io) == cli::Exit::ok);
    CHECK(h.out.str().find("decision: reject 550 5.7.1 header") != std::string::npos);
    Captured b;
    CHECK(cli::run_main({"checks", "test", "--body-checks", "pcre:" + table, "--line", "xyz", "--body"}, b.io) ==
          cli::Exit::ok);
    CHECK(b.out.str().find("decision: discard") != std::string::npos);
    Captured n;
    CHECK(cli::run_main({"checks", "test", "--table", "pcre:" + table, "--line", "From: q"}, n.io) == cli::Exit::ok);
    CHECK(n.out.str().find("no rule matched") != std::string::npos);
    CHECK(n.out.str().find("decision: accept") != std::string::npos);

    Captured s;
    s.in.str("Subject: x\r\n\r\nbody\r\n");
    CHECK(cli::run_main({"checks", "test", "--header-checks", "pcre:" + table, "-"}, s.io) == cli::Exit::ok);
    CHECK(s.out.str().find("decision: reject") != std::string::npos);

    const auto bad = d.write("bad", "/ok/ DUNNO\n/broken REJECT\n");
    Captured e;
    CHECK(cli::run_main({"checks", "test", "--table", "pcre:" + bad, "--line", "x"}, e.io) == cli::Exit::config);
    CHECK(e.err.str().find(bad + ":2:") != std::string::npos);
    Captured u;
    CHECK(cli::run_main({"checks", "test", "--line", "x"}, u.io) == cli::Exit::usage);
    Captured m;
    CHECK(cli::run_main({"checks", "test", "--table", "pcre:" + table, d.dir + "/missing"}, m.io) == cli::Exit::no_input);
}
