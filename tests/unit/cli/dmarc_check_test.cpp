// tests/unit/cli/dmarc_check_test.cpp - `mailmoat dmarc check`: arguments, exit codes and the report
// (queries, record, organisational domain, effective policy) against FakeResolver zones.
#include <catch2/catch.hpp>

#include <sstream>

#include "fakes/fake_resolver.hpp"
#include "tools/mailmoat/command.hpp"
#include "tools/mailmoat/dmarc.hpp"

namespace cli = mailmoat::cli;
using mailmoat::test::FakeResolver;

namespace {

struct Captured {
    std::istringstream in;
    std::ostringstream out, err;
    cli::Io io{in, out, err};
};

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("dmarc group: help lists check; unknown subcommands are usage errors") {
    Captured c;
    CHECK(cli::run_main({"dmarc", "--help"}, c.io) == cli::Exit::ok);
    CHECK(has(c.out.str(), "check"));
    Captured d;
    CHECK(cli::run_main({"dmarc", "nope"}, d.io) == cli::Exit::usage);
    CHECK(has(d.err.str(), "unknown subcommand 'nope'"));
    Captured e;
    CHECK(cli::run_main({"dmarc"}, e.io) == cli::Exit::usage);
    Captured h;
    CHECK(cli::run_main({"help"}, h.io) == cli::Exit::ok);
    CHECK(has(h.out.str(), "dmarc"));
}

TEST_CASE("dmarc check: argument errors") {
    Captured a;
    CHECK(cli::run_main({"dmarc", "check"}, a.io) == cli::Exit::usage);
    Captured b;
    CHECK(cli::run_main({"dmarc", "check", "example.com", "--discovery", "dns"}, b.io) == cli::Exit::usage);
    Captured c;
    CHECK(cli::run_main({"dmarc", "check", "example.com", "--dns-server", "not-an-ip"}, c.io) == cli::Exit::usage);
    Captured d;
    CHECK(cli::run_main({"dmarc", "check", "example.com", "--discovery", "psl", "--psl", "/nonexistent.dat"}, d.io) ==
          cli::Exit::no_input);
    CHECK(has(d.err.str(), "/nonexistent.dat"));
    Captured e;
    CHECK(cli::run_main({"dmarc", "check", "a", "b"}, e.io) == cli::Exit::usage);
    Captured f;
    CHECK(cli::run_main({"dmarc", "check", "--help"}, f.io) == cli::Exit::ok);
    CHECK(has(f.out.str(), "--discovery"));
}

TEST_CASE("dmarc check: a subdomain's walk, record, organisational domain and sp= policy") {
    FakeResolver dns(R"(
_dmarc.example.com TXT "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.com; foo=bar"
mail.example.com A 192.0.2.1
)");
    std::ostringstream out;
    CHECK(cli::dmarc_check_print("a.mail.example.com", dns, {}, out) == cli::Exit::ok);
    const std::string s = out.str();
    CAPTURE(s);
    CHECK(has(s, "query 1:                _dmarc.a.mail.example.com TXT -> nxdomain\n"));
    CHECK(has(s, "query 2:                _dmarc.mail.example.com TXT -> nxdomain\n"));
    CHECK(has(s, "query 3:                _dmarc.example.com TXT -> record\n"));
    CHECK(has(s, "query 4:                _dmarc.com TXT -> nxdomain\n"));
    CHECK_FALSE(has(s, "query 5"));
    CHECK(has(s, "record:                 _dmarc.example.com \"v=DMARC1; p=reject; sp=quarantine;"));
    CHECK(has(s, "tags:                   p=reject sp=quarantine np=- adkim=r aspf=r t=n psd=u pct=- fo=- "
                 "rua=mailto:d@example.com\n"));
    CHECK(has(s, "organizational domain:  example.com\n"));
    CHECK(has(s, "unknown tag foo= ignored"));
    CHECK(has(s, "effective policy:       quarantine (sp= of the record at example.com; the domain is a subdomain"));
    CHECK(has(s, "result:                 policy found\n"));
}

TEST_CASE("dmarc check: no policy, invalid record, DNS failure, bad name") {
    FakeResolver dns(R"(
_dmarc.bad.example TXT "v=DMARC1; p=nope"
_dmarc.slow.example TEMPFAIL timeout
)");
    std::ostringstream none, bad, slow, name;
    CHECK(cli::dmarc_check_print("example.org", dns, {}, none) == cli::Exit::failed);
    CHECK(has(none.str(), "no DMARC policy"));
    CHECK(cli::dmarc_check_print("bad.example", dns, {}, bad) == cli::Exit::failed);
    CHECK(has(bad.str(), "invalid DMARC record"));
    CHECK(has(bad.str(), "-> \"invalid: no valid p="));
    CHECK(cli::dmarc_check_print("slow.example", dns, {}, slow) == cli::Exit::temp_fail);
    CHECK(has(slow.str(), "_dmarc.slow.example TXT -> \"tempfail (timeout)\""));
    CHECK(cli::dmarc_check_print("not a domain", dns, {}, name) == cli::Exit::data_error);
}

TEST_CASE("dmarc check: np= shows the existence query; t=y shows the lowered policy") {
    FakeResolver dns(R"(_dmarc.example.com TXT "v=DMARC1; p=reject; np=reject; t=y")");
    std::ostringstream out;
    CHECK(cli::dmarc_check_print("gone.example.com", dns, {}, out) == cli::Exit::ok);
    const std::string s = out.str();
    CAPTURE(s);
    CHECK(has(s, "gone.example.com A -> nxdomain (the domain does not exist)"));
    CHECK(has(s, "effective policy:       reject (np= of the record at example.com; the domain does not exist), "
                 "testing (t=y): failing mail gets quarantine"));
}

TEST_CASE("dmarc check: psl mode queries the author domain then the PSL organisational domain") {
    FakeResolver dns(R"(_dmarc.example.co.uk TXT "v=DMARC1; p=quarantine; pct=20")");
    mailmoat::dmarc::Options psl;
    psl.discovery = mailmoat::dmarc::Discovery::psl;
    psl.psl = mailmoat::dmarc::PublicSuffixList::load("/usr/share/publicsuffix/public_suffix_list.dat");
    std::ostringstream out;
    CHECK(cli::dmarc_check_print("www.example.co.uk", dns, psl, out) == cli::Exit::ok);
    const std::string s = out.str();
    CAPTURE(s);
    CHECK(has(s, "discovery:              psl"));
    CHECK(has(s, "query 1:                _dmarc.www.example.co.uk TXT -> nxdomain\n"));
    CHECK(has(s, "query 2:                _dmarc.example.co.uk TXT -> record\n"));
    CHECK_FALSE(has(s, "query 3"));
    CHECK(has(s, "pct=20"));
    CHECK(has(s, "organizational domain:  example.co.uk\n"));
}
