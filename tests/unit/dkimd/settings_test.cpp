// tests/unit/dkimd/settings_test.cpp - mailmoat-dkim settings: OpenDKIM tables, refile globs, key choice, validation.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

#include "milters/dkim/settings.hpp"

using namespace mailmoat;

namespace {

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "dkimd-test-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string write(const std::string& name, const std::string& text, unsigned mode = 0600) const {
        const auto p = (path / name).string();
        std::ofstream(p) << text;
        ::chmod(p.c_str(), mode);
        return p;
    }
};

config::Values values(std::vector<std::string> args) {
    args.insert(args.begin(), "mailmoat-dkim");
    return config::parse(dkimd::make_schema(), args);
}

std::string key_file(const TempDir& d, const std::string& name, crypto::KeyType type, unsigned mode = 0600) {
    const auto p = (d.path / name).string();
    REQUIRE(crypto::SigningKey::generate(type, 2048)->write_pem_file(p).empty());
    ::chmod(p.c_str(), mode);
    return p;
}

}  // namespace

TEST_CASE("key table: OpenDKIM lines, comments, '%' domain, errors name the line", "[dkimd]") {
    auto kt = dkimd::parse_key_table("# comment\n\nk1  Example.COM:Sel1:/etc/keys/k1.pem\n"
                                     "k2\t%:ed:/etc/keys/k2   # trailing\r\n");
    REQUIRE(kt.error.empty());
    REQUIRE(kt.keys.size() == 2);
    CHECK(kt.keys[0].name == "k1");
    CHECK(kt.keys[0].domain == "example.com");
    CHECK(kt.keys[0].selector == "sel1");
    CHECK(kt.keys[0].path == "/etc/keys/k1.pem");
    CHECK(kt.keys[1].domain == "%");
    CHECK(kt.keys[1].path == "/etc/keys/k2");

    CHECK(dkimd::parse_key_table("k1 example.com:sel\n").error == "line 1: expected domain:selector:keypath, got 'example.com:sel'");
    CHECK(dkimd::parse_key_table("\nk1\n").error == "line 2: expected 'keyname domain:selector:keypath'");
    CHECK(dkimd::parse_key_table("k1 a.com:s:/k\nk1 b.com:s:/k\n").error == "line 2: duplicate key name 'k1'");
    CHECK(dkimd::parse_key_table("k1 a.com::/k\n").error == "line 1: empty domain, selector or key path");
    CHECK(dkimd::parse_key_table("k1 a\"b.com:s:/k\n").error.find("bad domain") != std::string::npos);
    CHECK(dkimd::parse_key_table("k1 a.com:s:/k\n").keys.size() == 1);
}

TEST_CASE("signing table and refile globs", "[dkimd]") {
    auto st = dkimd::parse_signing_table("*@Example.com  k1\nexample.org k2 extra\n");
    REQUIRE(st.error.empty());
    REQUIRE(st.rules.size() == 2);
    CHECK(st.rules[0].pattern == "*@example.com");
    CHECK(st.rules[1].key_name == "k2");
    CHECK(dkimd::parse_signing_table("lonely\n").error == "line 1: expected 'pattern keyname'");

    CHECK(dkimd::glob_match("*@example.com", "alice@EXAMPLE.com"));
    CHECK_FALSE(dkimd::glob_match("*@example.com", "alice@sub.example.com"));
    CHECK(dkimd::glob_match("*@*.example.com", "alice@sub.example.com"));
    CHECK(dkimd::glob_match("*", ""));
    CHECK(dkimd::glob_match("a*b*c", "axxbyyc"));
    CHECK_FALSE(dkimd::glob_match("a*b*c", "axxbyy"));
    CHECK_FALSE(dkimd::glob_match("bob@example.com", "alice@example.com"));
    CHECK(dkimd::glob_match(std::string(100, '*') + "x", std::string(10000, 'a') + "x"));
}

TEST_CASE("defaults: mode sv, relaxed/relaxed, loopback internal, 5 signatures, accept on DNS error", "[dkimd]") {
    const auto s = dkimd::build_settings(values({"--mode", "v"}));
    CHECK(s.header_canon == dkim::Canon::relaxed);
    CHECK(s.body_canon == dkim::Canon::relaxed);
    REQUIRE(s.internal_hosts.size() == 2);
    CHECK(s.internal_hosts[0].to_string() == "127.0.0.1/32");
    CHECK(s.max_signatures_to_verify == 5);
    CHECK_FALSE(s.tempfail_on_dns_error);
    CHECK(s.require_safe_keys);
    CHECK(std::find(s.oversign_headers.begin(), s.oversign_headers.end(), "from") != s.oversign_headers.end());
    CHECK(std::find(s.oversign_headers.begin(), s.oversign_headers.end(), "subject") != s.oversign_headers.end());
}

namespace {
std::string error_of(const std::vector<std::string>& args) {
    try {
        auto v = values(args);
        auto s = dkimd::build_settings(v);
        dkimd::load_keys(s, v);
    } catch (const config::ConfigError& e) {
        return e.what();
    }
    return {};
}
}  // namespace

TEST_CASE("bad values are refused, naming the key", "[dkimd]") {
    TempDir d;
    const auto key = key_file(d, "k.pem", crypto::KeyType::rsa);
    CHECK(error_of({}).find("mode") != std::string::npos);  // sv without any key
    CHECK(error_of({"--mode", "x"}).find("expected s, v or sv") != std::string::npos);
    CHECK(error_of({"--mode", "v", "--canonicalization", "loose"}).find("canonicalization") != std::string::npos);
    CHECK(error_of({"--mode", "v", "--signature-algorithm", "rsa-sha1"}).find("RFC 8301") != std::string::npos);
    CHECK(error_of({"--mode", "v", "--on-dns-error", "retry"}).find("on-dns-error") != std::string::npos);
    CHECK(error_of({"--mode", "v", "--authserv-id", "a;b"}).find("authserv-id") != std::string::npos);
    CHECK(error_of({"--mode", "v", "--internal-hosts", "10.0.0.0/33"}).find("internal-hosts") != std::string::npos);
    CHECK(error_of({"--mode", "v", "--sign-headers", "to,subject"}).find("must include From") != std::string::npos);
    CHECK(error_of({"--domain", "example.com", "--selector", "s"}).find("key-file") != std::string::npos);
    CHECK(error_of({"--domain", "example.com", "--selector", "s", "--key-file", key}).empty());
    CHECK(error_of({"--domain", "example.com", "--selector", "s", "--key-file", key,
                    "--signature-algorithm", "ed25519-sha256"}).find("signs rsa-sha256") != std::string::npos);
    CHECK(error_of({"--domain", "example.com", "--selector", "s", "--key-file", (d.path / "missing").string()})
              .find("unreadable") != std::string::npos);
}

TEST_CASE("require-safe-keys refuses group/other-readable key files unless turned off", "[dkimd]") {
    TempDir d;
    const auto key = key_file(d, "k.pem", crypto::KeyType::ed25519, 0640);
    const std::vector<std::string> base = {"--domain", "example.com", "--selector", "s", "--key-file", key,
                                           "--signature-algorithm", "ed25519-sha256"};
    CHECK(error_of(base).find("unsafe-permissions") != std::string::npos);
    auto relaxed = base;
    relaxed.insert(relaxed.end(), {"--require-safe-keys", "no"});
    CHECK(error_of(relaxed).empty());
}

TEST_CASE("key-table + signing-table: OpenDKIM files, first match or all with multiple-signatures", "[dkimd]") {
    TempDir d;
    const auto rsa = key_file(d, "rsa.pem", crypto::KeyType::rsa);
    const auto ed = key_file(d, "ed.pem", crypto::KeyType::ed25519);
    const auto kt = d.write("KeyTable", "rsa example.com:r2026:" + rsa + "\ned %:e2026:" + ed + "\n");
    const auto st = d.write("SigningTable", "*@example.com rsa\n*@example.com ed\n*@*.example.net ed\n");
    auto v = values({"--key-table", "file:" + kt, "--signing-table", "refile:" + st});
    auto s = dkimd::build_settings(v);
    dkimd::load_keys(s, v);
    CHECK(s.refile);
    auto c = dkimd::choose_keys(s, "Alice@Example.com");
    REQUIRE(c.size() == 1);
    CHECK(c[0].key->name == "rsa");
    CHECK(c[0].domain == "example.com");
    c = dkimd::choose_keys(s, "bob@mail.example.net");
    REQUIRE(c.size() == 1);
    CHECK(c[0].domain == "mail.example.net");  // '%' is the From domain
    CHECK(c[0].key->key->type() == crypto::KeyType::ed25519);
    CHECK(dkimd::choose_keys(s, "eve@example.org").empty());
    CHECK(dkimd::choose_keys(s, "no-at-sign").empty());

    s.multiple_signatures = true;
    c = dkimd::choose_keys(s, "alice@example.com");
    REQUIRE(c.size() == 2);
    CHECK(c[1].key->name == "ed");

    // Without refile: exact address, then the domain.
    const auto st2 = d.write("SigningTable2", "boss@example.com ed\nexample.com rsa\n");
    auto v2 = values({"--key-table", kt, "--signing-table", st2});
    auto s2 = dkimd::build_settings(v2);
    dkimd::load_keys(s2, v2);
    CHECK_FALSE(s2.refile);
    CHECK(dkimd::choose_keys(s2, "boss@example.com")[0].key->name == "ed");
    CHECK(dkimd::choose_keys(s2, "worker@example.com")[0].key->name == "rsa");
    CHECK(dkimd::choose_keys(s2, "x@sub.example.com").empty());

    const auto bad = d.write("SigningTable3", "*@example.com nosuchkey\n");
    CHECK(error_of({"--key-table", kt, "--signing-table", "refile:" + bad}).find("not in the key-table") != std::string::npos);
    CHECK(error_of({"--key-table", kt}).find("go together") != std::string::npos);
}
