// tools/mailmoat/main.cpp - the mailmoat command-line tool: hands its arguments to the registry.
#include <iostream>
#include <string>
#include <vector>

#include "tools/mailmoat/command.hpp"

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    mailmoat::cli::Io io{std::cin, std::cout, std::cerr};
    const int rc = mailmoat::cli::run_main(args, io);
    std::cout.flush();
    return rc;
}
