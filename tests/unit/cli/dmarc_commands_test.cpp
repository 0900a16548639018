// tests/unit/cli/dmarc_commands_test.cpp - the DMARC report subcommands' argument handling: store lookup
// from the milter's config file, import-records errors, empty stores, usage errors.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "tools/mailmoat/args.hpp"
#include "tools/mailmoat/dmarc_commands.hpp"

namespace cli = mailmoat::cli;
namespace fs = std::filesystem;

namespace {

struct Captured {
    std::istringstream in;
    std::ostringstream out, err;
    cli::Io io{in, out, err};
    explicit Captured(std::string input = "") : in(std::move(input)) {}
};

struct TempDir {
    fs::path path = fs::temp_directory_path() / ("mm-dmarc-cli-" + std::to_string(::getpid()));
    TempDir() { fs::create_directories(path); }
    ~TempDir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("the store comes from --store, else the config file's store setting, else the default") {
    TempDir d;
    const auto conf = (d.path / "mailmoat-dmarc.conf").string();
    std::ofstream(conf) << "# comment\nsocket = inet:8893@127.0.0.1\n  store = sqlite:/srv/dmarc.db  \n";
    CHECK(cli::dmarc_store_url("sqlite:/x.db", conf, true) == "sqlite:/x.db");
    CHECK(cli::dmarc_store_url("", conf, true) == "sqlite:/srv/dmarc.db");
    CHECK(cli::dmarc_store_url("", (d.path / "missing.conf").string(), false) == cli::default_dmarc_store);
    CHECK_THROWS_AS(cli::dmarc_store_url("", (d.path / "missing.conf").string(), true), cli::UsageError);
    std::ofstream(conf) << "store = redis://:secret@10.0.0.5:6390/4\n";
    CHECK(cli::dmarc_store_url("", conf, true) == "redis://:secret@10.0.0.5:6390/4");
    // The scheme chooses the store; the password never shows in its description.
    CHECK(cli::open_dmarc_store("redis://:secret@10.0.0.5:6390/4")->describe() == "redis://10.0.0.5:6390/4");
    CHECK(cli::open_dmarc_store("unix:/run/redis/r.sock?db=2")->describe() == "unix:/run/redis/r.sock?db=2");
    CHECK_THROWS_AS(cli::open_dmarc_store("postgresql://db/dmarc"), cli::UsageError);
    CHECK_THROWS_AS(cli::open_dmarc_store("none"), cli::UsageError);
    CHECK_THROWS_AS(cli::open_dmarc_store("redis://h:0"), cli::UsageError);
}

TEST_CASE("import-records adds records and reports bad lines with their number") {
    TempDir d;
    const std::string store = "sqlite:" + (d.path / "s.db").string();
    Captured ok("# two records\ntime=100 ip=192.0.2.1 from=example.org count=2 dkim=example.org/s/pass\n");
    CHECK(cli::run_dmarc_import_records({"--store", store}, ok.io) == cli::Exit::ok);
    CHECK(ok.out.str().find("imported 2 records") != std::string::npos);
    Captured bad("time=100 ip=192.0.2.1 from=example.org\nbogus=1\n");
    CHECK(cli::run_dmarc_import_records({"--store", store}, bad.io) == cli::Exit::data_error);
    CHECK(bad.err.str().find("line 2: unknown key 'bogus'") != std::string::npos);
}

TEST_CASE("summary and html on an empty store, and report option errors are usage errors") {
    TempDir d;
    const std::string store = "sqlite:" + (d.path / "s.db").string();
    Captured s;
    CHECK(cli::run_dmarc_summary({"--store", store}, s.io) == cli::Exit::ok);
    CHECK(s.out.str().find("reports: 0  messages: 0") != std::string::npos);
    Captured h;
    const auto page = (d.path / "p.html").string();
    CHECK(cli::run_dmarc_html({"--store", store, "--output", page}, h.io) == cli::Exit::ok);
    CHECK(fs::file_size(page) > 500);
    Captured r;
    CHECK_THROWS_AS(cli::run_dmarc_report({"--store", store, "--dry-run"}, r.io), cli::UsageError);
    CHECK_THROWS_AS(cli::run_dmarc_report({"--store", store, "--until", "yesterday-ish"}, r.io), cli::UsageError);
    CHECK_THROWS_AS(cli::run_dmarc_summary({"--store", store, "--since", "2025-13-01"}, r.io), cli::UsageError);
    Captured f;
    CHECK(cli::run_dmarc_report({"--store", store, "--send-failure-reports"}, f.io) == cli::Exit::usage);
}

TEST_CASE("the dmarc group lists the report subcommands and dispatches to them") {
    Captured c;
    CHECK(cli::run_main({"dmarc", "--help"}, c.io) == cli::Exit::ok);
    for (const char* sub : {"report", "ingest", "summary", "html", "import-records"})
        CHECK(c.out.str().find(std::string("  ") + sub) != std::string::npos);
    Captured h;
    CHECK(cli::run_main({"dmarc", "summary", "--help"}, h.io) == cli::Exit::ok);
    CHECK(h.out.str().find("usage: mailmoat dmarc summary") != std::string::npos);
}
