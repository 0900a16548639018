// tests/unit/dmarc_report/delivery_test.cpp - sendmail delivery: argv without a shell, the message on
// standard input, exit codes mapped to delivered / temporary / permanent.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "common/dmarc_report/delivery.hpp"

namespace dr = mailmoat::dmarc_report;
namespace fs = std::filesystem;

TEST_CASE("sendmail gets -f FROM -- TO appended and the message on stdin") {
    const fs::path out = fs::temp_directory_path() / ("mm-sendmail-" + std::to_string(::getpid()));
    // sh -c SCRIPT NAME ARGS...: the appended "-f from -- to" become $1..$4.
    const std::vector<std::string> argv = {"/bin/sh", "-c", "{ echo \"$*\"; cat; } > '" + out.string() + "'", "sendmail"};
    const auto r = dr::deliver_sendmail(argv, "dmarc@r.example", "agg@example.org", "Subject: x\n\nbody; $(rm -rf /)\n");
    CHECK(r.status == dr::DeliveryStatus::delivered);
    std::ifstream f(out);
    std::stringstream got;
    got << f.rdbuf();
    CHECK(got.str() == "-f dmarc@r.example -- agg@example.org\nSubject: x\n\nbody; $(rm -rf /)\n");
    fs::remove(out);
}

TEST_CASE("sendmail exit codes: 75 and a missing program are temporary, others permanent") {
    CHECK(dr::deliver_sendmail({"/bin/sh", "-c", "cat >/dev/null; exit 75", "s"}, "a@b", "c@d", "m").status ==
          dr::DeliveryStatus::temporary_failure);
    CHECK(dr::deliver_sendmail({"/bin/sh", "-c", "cat >/dev/null; exit 67", "s"}, "a@b", "c@d", "m").status ==
          dr::DeliveryStatus::permanent_failure);
    CHECK(dr::deliver_sendmail({"/nonexistent/sendmail"}, "a@b", "c@d", "m").status ==
          dr::DeliveryStatus::temporary_failure);
    CHECK(dr::deliver_sendmail({}, "a@b", "c@d", "m").status == dr::DeliveryStatus::permanent_failure);
    // The shell forks sleep: the timeout must end the command's children too, or they would linger.
    const fs::path pidfile = fs::temp_directory_path() / ("mm-sendmail-pid-" + std::to_string(::getpid()));
    const auto slow = dr::deliver_sendmail(
        {"/bin/sh", "-c", "sleep 30 & echo $! > '" + pidfile.string() + "'; wait", "s"}, "a@b", "c@d", "m",
        std::chrono::seconds(1));
    CHECK(slow.status == dr::DeliveryStatus::temporary_failure);
    long child = 0;
    std::ifstream(pidfile) >> child;
    fs::remove(pidfile);
    REQUIRE(child > 0);
    bool gone = false;
    for (int i = 0; i < 50 && !gone; ++i) {  // killed: absent, or a zombie until init reaps it
        std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
        std::string pid_field, comm, state;
        gone = !(stat >> pid_field >> comm >> state) || state == "Z";
        if (!gone) ::usleep(100000);
    }
    CHECK(gone);
    CHECK(slow.detail.find("timed out") != std::string::npos);
}

TEST_CASE("SMTP to a closed port is a temporary failure") {
    const auto r = dr::deliver_smtp("127.0.0.1", 1, "h", "a@b", "c@d", "m", std::chrono::seconds(2));
    CHECK(r.status == dr::DeliveryStatus::temporary_failure);
}
