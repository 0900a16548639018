// tests/unit/cli/dkim_test.cpp - `mailmoat dkim keygen|check-key`: record text, 255-byte strings, zone-file
// form, files and modes, and every check-key verdict against a fake DNS.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/crypto/base64.hpp"
#include "common/dkim/key_record.hpp"
#include "tests/fakes/fake_resolver.hpp"
#include "tools/mailmoat/command.hpp"
#include "tools/mailmoat/dkim.hpp"

namespace cli = mailmoat::cli;
namespace kd = mailmoat::cli::dkim;
namespace crypto = mailmoat::crypto;
namespace fs = std::filesystem;
using mailmoat::test::FakeResolver;

namespace {

struct Captured {
    std::istringstream in;
    std::ostringstream out, err;
    cli::Io io{in, out, err};
};

struct TempDir {
    fs::path path;
    TempDir() {
        std::string t = (fs::temp_directory_path() / "mm-cli-dkim-XXXXXX").string();
        REQUIRE(::mkdtemp(t.data()) != nullptr);
        path = t;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

std::string slurp(const fs::path& p) {
    std::ifstream f(p);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

// The zone-file strings of a record joined back, as a resolver returns them.
std::string join_zone_strings(const std::string& zone) {
    std::string out;
    bool in = false;
    for (char ch : zone) {
        if (ch == '"') in = !in;
        else if (in) out += ch;
        if (ch == ';' && !in) break;
    }
    return out;
}

std::vector<std::string> zone_strings(const std::string& zone) {
    std::vector<std::string> out;
    std::size_t p = 0;
    while ((p = zone.find('"', p)) != std::string::npos) {
        const auto e = zone.find('"', p + 1);
        out.push_back(zone.substr(p + 1, e - p - 1));
        p = e + 1;
    }
    return out;
}

std::string txt_line(const std::string& name, const std::string& record) {
    std::string line = name + " TXT";
    for (const auto& s : kd::split_txt_strings(record)) line += " \"" + s + "\"";
    return line + "\n";
}

// A 512-bit RSA public key (SubjectPublicKeyInfo), public data made with `openssl genrsa 512`.
constexpr const char* rsa512_spki =
    "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBALSvUnzwL/bl/H94T8lphGx5sG+aPzmI1bElJhRi2riM4qntZtxEV6uHcoIWO4HVA850Hcx0tlTwwd1M"
    "UlXgqaUCAwEAAQ==";

}  // namespace

TEST_CASE("the key record names the key type, restricts RSA to sha256 and parses back to the same key") {
    const auto rsa = crypto::SigningKey::generate(crypto::KeyType::rsa, 2048);
    const auto rec = kd::key_record_text(*rsa, false);
    CHECK(rec.rfind("v=DKIM1; k=rsa; h=sha256; p=", 0) == 0);
    const auto parsed = mailmoat::dkim::parse_key_record(rec);
    REQUIRE(parsed.status == mailmoat::dkim::KeyRecordStatus::ok);
    CHECK(*crypto::base64_decode(rsa->public_key_base64()) == parsed.record.public_key);
    CHECK_FALSE(parsed.record.allows_sha1);

    const auto ed = crypto::SigningKey::generate(crypto::KeyType::ed25519);
    const auto ed_rec = kd::key_record_text(*ed, true);
    CHECK(ed_rec.rfind("v=DKIM1; k=ed25519; t=y; p=", 0) == 0);
    const auto ed_parsed = mailmoat::dkim::parse_key_record(ed_rec);
    REQUIRE(ed_parsed.status == mailmoat::dkim::KeyRecordStatus::ok);
    CHECK(ed_parsed.record.type == crypto::KeyType::ed25519);
    CHECK(ed_parsed.record.testing);
    CHECK(ed_parsed.record.public_key.size() == 32);
}

TEST_CASE("TXT strings are at most 255 bytes, tags before p= apart, and join back to the record") {
    const unsigned bits = GENERATE(1024u, 2048u, 4096u);
    const auto key = crypto::SigningKey::generate(crypto::KeyType::rsa, bits);
    const auto rec = kd::key_record_text(*key, false);
    const auto strings = kd::split_txt_strings(rec);
    std::string joined;
    for (const auto& s : strings) {
        CHECK(s.size() <= kd::max_txt_string);
        CHECK_FALSE(s.empty());
        joined += s;
    }
    CHECK(joined == rec);
    CHECK(strings.front() == "v=DKIM1; k=rsa; h=sha256; ");
    CHECK(strings[1].rfind("p=", 0) == 0);
    if (bits >= 2048) CHECK(strings.size() >= 3);  // a 2048-bit SPKI is 392 base64 characters

    CHECK(kd::split_txt_strings("") == std::vector<std::string>{""});
    const std::string long_head(300, 'a');
    const auto pieces = kd::split_txt_strings(long_head);
    REQUIRE(pieces.size() == 2);
    CHECK(pieces[0].size() == 255);
    CHECK(pieces[1].size() == 45);
    // "p=" inside another tag's value is not the key.
    CHECK(kd::split_txt_strings("n=xp=1; p=AAAA") == std::vector<std::string>{"n=xp=1; ", "p=AAAA"});
}

TEST_CASE("the zone-file form has an absolute owner name, IN TXT, parenthesised strings and a comment") {
    const auto key = crypto::SigningKey::generate(crypto::KeyType::rsa, 2048);
    const auto zone = kd::zone_file_record("example.com", "sel1", *key, false);
    CHECK(zone.rfind("sel1._domainkey.example.com.\tIN\tTXT\t( \"v=DKIM1; k=rsa; h=sha256; \"", 0) == 0);
    CHECK(zone.find(" )  ; ----- DKIM key sel1 for example.com (rsa-sha256, 2048 bits)\n") != std::string::npos);
    CHECK(join_zone_strings(zone) == kd::key_record_text(*key, false));
    for (const auto& s : zone_strings(zone)) CHECK(s.size() <= 255);
}

TEST_CASE("keygen writes S.private with mode 0600 and S.txt, prints the record, and never overwrites") {
    TempDir dir;
    Captured c;
    const std::vector<std::string> args{"dkim",        "keygen",     "--domain",    "example.org.", "--selector",
                                        "mail2026",    "--directory", dir.path.string()};
    REQUIRE(cli::run_main(args, c.io) == cli::Exit::ok);
    const auto key_path = dir.path / "mail2026.private";
    const auto txt_path = dir.path / "mail2026.txt";
    struct stat st {};
    REQUIRE(::stat(key_path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    const auto loaded = crypto::SigningKey::load_file(key_path.string());
    REQUIRE(loaded.status == crypto::KeyLoadStatus::ok);
    CHECK(loaded.key->type() == crypto::KeyType::rsa);
    CHECK(loaded.key->bits() == 2048);
    const auto txt = slurp(txt_path);
    CHECK(txt == c.out.str());
    CHECK(txt.rfind("mail2026._domainkey.example.org.\tIN\tTXT", 0) == 0);
    CHECK(join_zone_strings(txt) == kd::key_record_text(*loaded.key, false));

    // A second run must not replace the key that DNS may already publish.
    const auto before = slurp(key_path);
    Captured again;
    CHECK(cli::run_main(args, again.io) == cli::Exit::cant_create);
    CHECK(again.err.str().find("not overwriting") != std::string::npos);
    CHECK(slurp(key_path) == before);
}

TEST_CASE("keygen makes ed25519 keys and larger RSA keys, and rejects bad arguments") {
    TempDir dir;
    Captured c;
    REQUIRE(cli::run_main({"dkim", "keygen", "-d", "example.net", "-s", "ed", "--type", "ed25519", "-D",
                           dir.path.string(), "--testing"},
                          c.io) == cli::Exit::ok);
    const auto ed = crypto::SigningKey::load_file((dir.path / "ed.private").string());
    REQUIRE(ed.status == crypto::KeyLoadStatus::ok);
    CHECK(ed.key->type() == crypto::KeyType::ed25519);
    CHECK(join_zone_strings(slurp(dir.path / "ed.txt")) == kd::key_record_text(*ed.key, true));

    Captured big;
    REQUIRE(cli::run_main({"dkim", "keygen", "-d", "example.net", "-s", "big", "--bits", "3072", "-D",
                           dir.path.string()},
                          big.io) == cli::Exit::ok);
    const auto rsa = crypto::SigningKey::load_file((dir.path / "big.private").string());
    REQUIRE(rsa.status == crypto::KeyLoadStatus::ok);
    CHECK(rsa.key->bits() == 3072);

    for (const auto& bad : std::vector<std::vector<std::string>>{
             {"dkim", "keygen", "-d", "example.net"},
             {"dkim", "keygen", "-d", "example.net", "-s", "x", "--bits", "512", "-D", dir.path.string()},
             {"dkim", "keygen", "-d", "example.net", "-s", "x", "--type", "dsa", "-D", dir.path.string()},
             {"dkim", "keygen", "-d", "exa mple.net", "-s", "x", "-D", dir.path.string()},
             {"dkim", "keygen", "-d", "example.net", "-s", "../x", "-D", dir.path.string()},
             {"dkim", "frobnicate"},
         }) {
        Captured u;
        CHECK(cli::run_main(bad, u.io) == cli::Exit::usage);
    }
    CHECK_FALSE(fs::exists(dir.path / "x.private"));
    Captured missing_dir;
    CHECK(cli::run_main({"dkim", "keygen", "-d", "example.net", "-s", "y", "-D", (dir.path / "nope").string()},
                        missing_dir.io) == cli::Exit::cant_create);
}

TEST_CASE("check-key: a published matching key is ok, with or without t=y") {
    const auto key = crypto::SigningKey::generate(crypto::KeyType::rsa, 2048);
    FakeResolver dns(txt_line("s1._domainkey.example.com", kd::key_record_text(*key, false)) +
                     txt_line("s2._domainkey.example.com", kd::key_record_text(*key, true)));
    const auto c = kd::check_key(dns, "example.com", "s1", *key);
    CHECK(c.status == kd::KeyCheckStatus::ok);
    CHECK(c.name == "s1._domainkey.example.com");
    CHECK(c.warnings.empty());
    const auto t = kd::check_key(dns, "example.com", "s2", *key);
    CHECK(t.status == kd::KeyCheckStatus::ok);
    CHECK(t.warnings.size() == 1);

    const auto ed = crypto::SigningKey::generate(crypto::KeyType::ed25519);
    FakeResolver ed_dns(txt_line("e._domainkey.example.com", kd::key_record_text(*ed, false)));
    CHECK(kd::check_key(ed_dns, "example.com", "e", *ed).status == kd::KeyCheckStatus::ok);
}

TEST_CASE("check-key names what is wrong with the published record") {
    const auto key = crypto::SigningKey::generate(crypto::KeyType::rsa, 2048);
    const auto other = crypto::SigningKey::generate(crypto::KeyType::rsa, 2048);
    const auto ed = crypto::SigningKey::generate(crypto::KeyType::ed25519);
    const auto p = key->public_key_base64();
    FakeResolver dns(txt_line("mismatch._domainkey.d.test", kd::key_record_text(*other, false)) +
                     "revoked._domainkey.d.test TXT \"v=DKIM1; k=rsa; p=\"\n" +
                     "short._domainkey.d.test TXT \"v=DKIM1; k=rsa; p=" + rsa512_spki + "\"\n" +
                     txt_line("sha1._domainkey.d.test", "v=DKIM1; k=rsa; h=sha1; p=" + p) +
                     txt_line("type._domainkey.d.test", kd::key_record_text(*ed, false)) +
                     "garbage._domainkey.d.test TXT \"v=DKIM1; k=rsa; p=@@@not-base64\"\n" +
                     "badv._domainkey.d.test TXT \"k=rsa; v=DKIM1; p=AAAA\"\n" +
                     "junkkey._domainkey.d.test TXT \"v=DKIM1; k=rsa; p=AAAAAAAA\"\n" +
                     "unknownk._domainkey.d.test TXT \"v=DKIM1; k=dsa; p=AAAA\"\n" +
                     txt_line("two._domainkey.d.test", kd::key_record_text(*key, false)) +
                     txt_line("two._domainkey.d.test", kd::key_record_text(*other, false)) +
                     "nodata._domainkey.d.test A 192.0.2.1\n"
                     "fail._domainkey.d.test TEMPFAIL SERVFAIL\n");
    using S = kd::KeyCheckStatus;
    const std::vector<std::pair<std::string, S>> cases{
        {"mismatch", S::mismatch},   {"revoked", S::revoked},    {"short", S::too_short},
        {"sha1", S::sha1_only},      {"type", S::type_mismatch}, {"garbage", S::bad_record},
        {"badv", S::bad_record},     {"junkkey", S::bad_record}, {"unknownk", S::unsupported},
        {"two", S::several},         {"missing", S::not_found},  {"nodata", S::not_found},
        {"fail", S::dns_error},
    };
    for (const auto& [selector, expected] : cases) {
        INFO(selector);
        const auto c = kd::check_key(dns, "d.test", selector, *key);
        CHECK(c.status == expected);
        CHECK_FALSE(c.detail.empty());
    }
    CHECK(kd::check_key(dns, "d.test", "fail", *key).detail.find("SERVFAIL") != std::string::npos);
    CHECK(kd::check_key(dns, "", "s", *key).status == S::not_found);
}

TEST_CASE("check-key command: unreadable and unsafe key files, and a DNS server that is not there") {
    TempDir dir;
    Captured gen;
    REQUIRE(cli::run_main({"dkim", "keygen", "-d", "example.com", "-s", "k", "-D", dir.path.string()}, gen.io) ==
            cli::Exit::ok);
    const auto key_path = (dir.path / "k.private").string();
    Captured none;
    CHECK(cli::run_main({"dkim", "check-key", "-d", "example.com", "-s", "k", "--key",
                         (dir.path / "absent").string()},
                        none.io) == cli::Exit::no_input);
    Captured usage;
    CHECK(cli::run_main({"dkim", "check-key", "-d", "example.com", "-s", "k"}, usage.io) == cli::Exit::usage);
    Captured bad_server;
    CHECK(cli::run_main({"dkim", "check-key", "-d", "example.com", "-s", "k", "--key", key_path, "--dns-server",
                         "not a server:x"},
                        bad_server.io) == cli::Exit::usage);

    // Nothing listens on the discard port of 127.0.0.1 over UDP: the lookup times out -> 69, and the
    // group-readable key file is reported as a problem too.
    REQUIRE(::chmod(key_path.c_str(), 0640) == 0);
    Captured timeout;
    CHECK(cli::run_main({"dkim", "check-key", "-d", "example.com", "-s", "k", "--key", key_path, "--dns-server",
                         "127.0.0.1:9", "--timeout", "1"},
                        timeout.io) == cli::Exit::unavailable);
    CHECK(timeout.out.str().find("can be read or written by group or others") != std::string::npos);
    CHECK(timeout.out.str().find("key NOT OK (dns-error)") != std::string::npos);
}
