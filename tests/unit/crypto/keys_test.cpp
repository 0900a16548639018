// tests/unit/crypto/keys_test.cpp - SigningKey loading (PEM PKCS#1/PKCS#8, ed25519 PEM and raw seed,
// permissions) and PublicKey parsing/verification.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/crypto/base64.hpp"
#include "common/crypto/digest.hpp"
#include "common/crypto/keys.hpp"

using namespace mailmoat::crypto;
namespace fs = std::filesystem;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        char tmpl[] = "/tmp/mailmoat-keys-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { fs::remove_all(path); }
    std::string write(const std::string& name, const std::string& text, mode_t mode) const {
        const auto p = (path / name).string();
        std::ofstream(p, std::ios::binary) << text;
        ::chmod(p.c_str(), mode);
        return p;
    }
};

std::string run(const std::string& cmd) {
    std::string out;
    FILE* f = ::popen(cmd.c_str(), "r");
    REQUIRE(f != nullptr);
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    REQUIRE(::pclose(f) == 0);
    return out;
}

std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// RFC 8032 §7.1 TEST 1 (also RFC 8463 Appendix A.1).
const std::string rfc8032_seed = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
const std::string rfc8032_pub = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

}  // namespace

TEST_CASE("raw base64 Ed25519 seed (dkimpy form) gives the RFC 8032 public key", "[crypto][keys]") {
    auto r = SigningKey::from_text(rfc8032_seed + "\n");
    REQUIRE(r.status == KeyLoadStatus::ok);
    CHECK(r.key->type() == KeyType::ed25519);
    CHECK(std::string(r.key->algorithm()) == "ed25519-sha256");
    CHECK(r.key->public_key_base64() == rfc8032_pub);
    // RFC 8032 §7.1 TEST 1 signs the empty message; our sign() signs SHA-256(data), so check through
    // the public key instead, and the 64-byte seed||public form.
    const auto seed = *base64_decode(rfc8032_seed);
    const auto pub = *base64_decode(rfc8032_pub);
    CHECK(SigningKey::from_text(base64_encode(seed + pub)).status == KeyLoadStatus::ok);
    CHECK(SigningKey::from_text(base64_encode(seed + std::string(32, 'x'))).status == KeyLoadStatus::bad_format);
    CHECK(SigningKey::from_text(base64_encode(seed.substr(0, 31))).status == KeyLoadStatus::bad_format);
}

TEST_CASE("PEM keys made by openssl load: PKCS#1, PKCS#8 RSA, PKCS#8 Ed25519", "[crypto][keys]") {
    TempDir dir;
    const auto d = dir.path.string();
    run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " + d + "/p8.pem 2>/dev/null");
    run("openssl rsa -in " + d + "/p8.pem -traditional -out " + d + "/p1.pem 2>/dev/null");
    run("openssl genpkey -algorithm ED25519 -out " + d + "/ed.pem 2>/dev/null");
    CHECK(read(d + "/p1.pem").find("BEGIN RSA PRIVATE KEY") != std::string::npos);
    CHECK(read(d + "/p8.pem").find("BEGIN PRIVATE KEY") != std::string::npos);
    const std::string spki = run("openssl pkey -in " + d + "/p8.pem -pubout -outform DER | base64 -w0");
    const std::string ed_spki = run("openssl pkey -in " + d + "/ed.pem -pubout -outform DER | base64 -w0");
    for (const char* f : {"p1.pem", "p8.pem", "ed.pem"}) ::chmod((d + "/" + f).c_str(), 0600);

    auto p1 = SigningKey::load_file(d + "/p1.pem");
    auto p8 = SigningKey::load_file(d + "/p8.pem");
    auto ed = SigningKey::load_file(d + "/ed.pem");
    REQUIRE(p1.status == KeyLoadStatus::ok);
    REQUIRE(p8.status == KeyLoadStatus::ok);
    REQUIRE(ed.status == KeyLoadStatus::ok);
    CHECK(p1.key->type() == KeyType::rsa);
    CHECK(p1.key->bits() == 2048);
    CHECK(p1.key->public_key_base64() == spki);
    CHECK(p8.key->public_key_base64() == spki);
    CHECK(ed.key->type() == KeyType::ed25519);
    // Ed25519 p= is the raw 32 bytes: the last 32 bytes of the SubjectPublicKeyInfo.
    CHECK(*base64_decode(ed.key->public_key_base64()) == base64_decode(ed_spki)->substr(12));

    // Signatures verify with the public key built from p=, and openssl agrees for RSA.
    const std::string data = "data to sign";
    const std::string rsa_sig = p1.key->sign(data);
    auto pub = PublicKey::from_dkim(KeyType::rsa, *base64_decode(spki));
    REQUIRE(pub.status == PublicKeyStatus::ok);
    const auto digest = Digest::of(HashAlgorithm::sha256, data);
    CHECK(pub.key->verify_digest(HashAlgorithm::sha256, digest, rsa_sig) == VerifyStatus::valid);
    CHECK(pub.key->verify_digest(HashAlgorithm::sha256, Digest::of(HashAlgorithm::sha256, "other"), rsa_sig) ==
          VerifyStatus::invalid);
    std::ofstream(d + "/data", std::ios::binary) << data;
    std::ofstream(d + "/sig", std::ios::binary) << rsa_sig;
    run("openssl pkey -in " + d + "/p8.pem -pubout -out " + d + "/pub.pem 2>/dev/null");
    CHECK(run("openssl dgst -sha256 -verify " + d + "/pub.pem -signature " + d + "/sig " + d + "/data").find("Verified OK") !=
          std::string::npos);

    const std::string ed_sig = ed.key->sign(data);
    CHECK(ed_sig.size() == 64);
    auto edpub = PublicKey::from_dkim(KeyType::ed25519, *base64_decode(ed.key->public_key_base64()));
    REQUIRE(edpub.status == PublicKeyStatus::ok);
    CHECK(edpub.key->verify_digest(HashAlgorithm::sha256, digest, ed_sig) == VerifyStatus::valid);
    CHECK(edpub.key->verify_digest(HashAlgorithm::sha1, Digest::of(HashAlgorithm::sha1, data), ed_sig) ==
          VerifyStatus::error);
    // openssl verifies PureEd25519 over the 32-byte digest (RFC 8463 §3).
    std::ofstream(d + "/digest", std::ios::binary) << digest;
    std::ofstream(d + "/edsig", std::ios::binary) << ed_sig;
    run("openssl pkey -in " + d + "/ed.pem -pubout -out " + d + "/edpub.pem 2>/dev/null");
    CHECK(run("openssl pkeyutl -verify -pubin -inkey " + d + "/edpub.pem -rawin -in " + d + "/digest -sigfile " + d +
              "/edsig")
              .find("Signature Verified Successfully") != std::string::npos);
}

TEST_CASE("key files readable by group or others are refused unless allowed", "[crypto][keys]") {
    TempDir dir;
    const auto p = dir.write("k.key", rfc8032_seed, 0640);
    auto r = SigningKey::load_file(p);
    CHECK(r.status == KeyLoadStatus::unsafe_permissions);
    CHECK(r.key == nullptr);
    CHECK_THAT(r.error, Catch::Contains("0640"));
    KeyLoadOptions opt;
    opt.allow_unsafe_permissions = true;
    CHECK(SigningKey::load_file(p, opt).status == KeyLoadStatus::ok);
    ::chmod(p.c_str(), 0604);
    CHECK(SigningKey::load_file(p).status == KeyLoadStatus::unsafe_permissions);
    ::chmod(p.c_str(), 0400);
    CHECK(SigningKey::load_file(p).status == KeyLoadStatus::ok);
    CHECK(SigningKey::load_file(dir.path.string() + "/missing").status == KeyLoadStatus::unreadable);
    CHECK(SigningKey::load_file(dir.path.string()).status == KeyLoadStatus::unreadable);
    const auto big = dir.write("big.key", std::string(100000, 'A'), 0600);
    CHECK(SigningKey::load_file(big).status == KeyLoadStatus::unreadable);
}

TEST_CASE("bad and weak private keys", "[crypto][keys]") {
    CHECK(SigningKey::from_text("").status == KeyLoadStatus::bad_format);
    CHECK(SigningKey::from_text("not a key at all!").status == KeyLoadStatus::bad_format);
    CHECK(SigningKey::from_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").status ==
          KeyLoadStatus::bad_format);
    const std::string weak = run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:512 2>/dev/null");
    auto r = SigningKey::from_text(weak);
    CHECK(r.status == KeyLoadStatus::weak_key);
    KeyLoadOptions opt;
    opt.min_rsa_bits = 512;
    CHECK(SigningKey::from_text(weak, opt).status == KeyLoadStatus::ok);
    const std::string enc = run("openssl genpkey -algorithm ED25519 -aes256 -pass pass:secret 2>/dev/null");
    CHECK(SigningKey::from_text(enc).status == KeyLoadStatus::bad_format);
}

TEST_CASE("public keys from p=: SPKI, PKCS#1, Ed25519 raw, and bad ones", "[crypto][keys]") {
    // RFC 8463 Appendix A.2 RSA record (1024 bits).
    const auto spki = *base64_decode(
        "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3"
        "FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB");
    auto r = PublicKey::from_dkim(KeyType::rsa, spki);
    REQUIRE(r.status == PublicKeyStatus::ok);
    CHECK(r.key->bits() == 1024);
    // The same key as a bare PKCS#1 RSAPublicKey (the SPKI's BIT STRING content).
    auto pk1 = PublicKey::from_dkim(KeyType::rsa, spki.substr(22));
    REQUIRE(pk1.status == PublicKeyStatus::ok);
    CHECK(pk1.key->bits() == 1024);
    CHECK(PublicKey::from_dkim(KeyType::rsa, spki.substr(0, spki.size() - 1)).status == PublicKeyStatus::bad_key);
    CHECK(PublicKey::from_dkim(KeyType::rsa, "garbage").status == PublicKeyStatus::bad_key);
    CHECK(PublicKey::from_dkim(KeyType::rsa, *base64_decode(rfc8032_pub)).status == PublicKeyStatus::bad_key);
    CHECK(PublicKey::from_dkim(KeyType::ed25519, *base64_decode(rfc8032_pub)).status == PublicKeyStatus::ok);
    CHECK(PublicKey::from_dkim(KeyType::ed25519, spki).status == PublicKeyStatus::bad_key);
    // dkimpy's 512-bit sample key: too short per RFC 8301.
    const auto weak = *base64_decode(
        "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBANmBe10IgY+u7h3enWTukkqtUD5PR52Tb/mPfjC0QJTocVBq6Za/PlzfV+Py92VaCak19F4WrbVTK5Gg5tW2"
        "20MCAwEAAQ==");
    CHECK(PublicKey::from_dkim(KeyType::rsa, weak).status == PublicKeyStatus::weak_key);
    CHECK(PublicKey::from_dkim(KeyType::rsa, weak, 512).status == PublicKeyStatus::ok);
    // An Ed25519 SPKI under k=rsa is a type mismatch.
    const std::string ed_spki = std::string("\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00", 12) + *base64_decode(rfc8032_pub);
    auto mismatch = PublicKey::from_dkim(KeyType::rsa, ed_spki);
    CHECK(mismatch.status == PublicKeyStatus::bad_key);
}

TEST_CASE("generated keys and PEM export with mode 0600", "[crypto][keys]") {
    TempDir dir;
    auto key = SigningKey::generate(KeyType::ed25519);
    const auto path = (dir.path / "gen.pem").string();
    CHECK(key->write_pem_file(path).empty());
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    auto back = SigningKey::load_file(path);
    REQUIRE(back.status == KeyLoadStatus::ok);
    CHECK(back.key->public_key_base64() == key->public_key_base64());
    CHECK_FALSE(key->write_pem_file(path).empty());  // refuses to overwrite
    CHECK_THROWS_AS(SigningKey::generate(KeyType::rsa, 512), std::invalid_argument);
}

TEST_CASE("RSA signing reuses prepared contexts: repeated and concurrent signatures all verify", "[crypto][keys]") {
    // RSASSA-PKCS1-v1_5 is deterministic, so every signature of one digest must be the same bytes,
    // whichever pooled context and thread made it.
    auto key = SigningKey::generate(KeyType::rsa, 1024);
    auto pub = PublicKey::from_dkim(KeyType::rsa, *base64_decode(key->public_key_base64()));
    REQUIRE(pub.status == PublicKeyStatus::ok);
    const auto digest = Digest::of(HashAlgorithm::sha256, "pooled");
    const std::string first = key->sign_sha256_digest(digest);
    CHECK(first.size() == 128);
    CHECK(pub.key->verify_digest(HashAlgorithm::sha256, digest, first) == VerifyStatus::valid);
    for (int i = 0; i < 3; ++i) CHECK(key->sign_sha256_digest(digest) == first);

    constexpr int threads = 8;
    constexpr int per_thread = 20;
    std::vector<std::vector<std::string>> out(threads);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                const auto d = Digest::of(HashAlgorithm::sha256, "message " + std::to_string(t * per_thread + i));
                out[t].push_back(key->sign_sha256_digest(d));
            }
        });
    for (auto& th : pool) th.join();
    for (int t = 0; t < threads; ++t) {
        REQUIRE(out[t].size() == per_thread);
        for (int i = 0; i < per_thread; ++i) {
            const auto d = Digest::of(HashAlgorithm::sha256, "message " + std::to_string(t * per_thread + i));
            CHECK(pub.key->verify_digest(HashAlgorithm::sha256, d, out[t][i]) == VerifyStatus::valid);
        }
    }
    CHECK(key->sign_sha256_digest(digest) == first);
    CHECK_THROWS_AS(key->sign_sha256_digest("short"), std::invalid_argument);
}
