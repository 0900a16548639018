// tests/unit/cli/command_test.cpp - the CLI registry and dispatch: help, version, unknown commands.
#include <catch2/catch.hpp>

#include <sstream>

#include "tools/mailmoat/command.hpp"

namespace cli = mailmoat::cli;

namespace {

struct Captured {
    std::istringstream in;
    std::ostringstream out, err;
    cli::Io io{in, out, err};
};

int probe(const std::vector<std::string>& args, cli::Io& io) {
    if (!args.empty() && args[0] == "--help") {
        io.out << "probe help\n";
        return cli::Exit::ok;
    }
    if (!args.empty() && args[0] == "throw") throw std::runtime_error("boom");
    io.out << "probe ran with " << args.size() << " args\n";
    return cli::Exit::failed;
}

const cli::Registration probe_registration{{"zz-probe", "a command only the tests register", probe}};

}  // namespace

TEST_CASE("dispatch passes the arguments after the command name and returns its exit code") {
    Captured c;
    CHECK(cli::run_main({"zz-probe", "a", "b"}, c.io) == cli::Exit::failed);
    CHECK(c.out.str() == "probe ran with 2 args\n");
}

TEST_CASE("help lists registered commands; help COMMAND asks the command") {
    Captured c;
    CHECK(cli::run_main({"help"}, c.io) == cli::Exit::ok);
    CHECK(c.out.str().find("zz-probe") != std::string::npos);
    CHECK(c.out.str().find("a command only the tests register") != std::string::npos);
    Captured d;
    CHECK(cli::run_main({"help", "zz-probe"}, d.io) == cli::Exit::ok);
    CHECK(d.out.str() == "probe help\n");
}

TEST_CASE("no arguments and unknown commands are usage errors on stderr") {
    Captured c;
    CHECK(cli::run_main({}, c.io) == cli::Exit::usage);
    CHECK(c.out.str().empty());
    Captured d;
    CHECK(cli::run_main({"no-such-command"}, d.io) == cli::Exit::usage);
    CHECK(d.err.str().find("unknown command 'no-such-command'") != std::string::npos);
}

TEST_CASE("an exception inside a command is reported, not propagated") {
    Captured c;
    CHECK(cli::run_main({"zz-probe", "throw"}, c.io) == cli::Exit::software);
    CHECK(c.err.str().find("boom") != std::string::npos);
}

TEST_CASE("version prints the project version") {
    Captured c;
    CHECK(cli::run_main({"version"}, c.io) == cli::Exit::ok);
    CHECK(c.out.str().rfind("mailmoat ", 0) == 0);
}
