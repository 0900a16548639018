// tools/mailmoat/dkim.cpp - `mailmoat dkim keygen` (private key + DNS TXT record, like opendkim-genkey)
// and `mailmoat dkim check-key` (does DNS publish this key, like opendkim-testkey).
#include "tools/mailmoat/dkim.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ostream>

#include "common/crypto/base64.hpp"
#include "common/crypto/digest.hpp"
#include "common/dkim/key_record.hpp"
#include "common/dns/resolver_factory.hpp"
#include "tools/mailmoat/args.hpp"
#include "tools/mailmoat/command.hpp"

namespace mailmoat::cli::dkim {

namespace po = boost::program_options;

const char* key_check_status_name(KeyCheckStatus s) noexcept {
    switch (s) {
    case KeyCheckStatus::ok: return "ok";
    case KeyCheckStatus::not_found: return "not-found";
    case KeyCheckStatus::dns_error: return "dns-error";
    case KeyCheckStatus::several: return "several-records";
    case KeyCheckStatus::bad_record: return "bad-record";
    case KeyCheckStatus::unsupported: return "unsupported";
    case KeyCheckStatus::revoked: return "revoked";
    case KeyCheckStatus::type_mismatch: return "type-mismatch";
    case KeyCheckStatus::too_short: return "too-short";
    case KeyCheckStatus::sha1_only: return "sha1-only";
    case KeyCheckStatus::mismatch: return "mismatch";
    }
    return "unknown";
}

std::string key_record_text(const crypto::SigningKey& key, bool testing) {
    std::string r = "v=DKIM1; k=";
    r += crypto::key_type_name(key.type());
    // RFC 8301 §3.1: only sha256 is acceptable; saying so keeps sha1 verifiers from accepting a downgrade.
    if (key.type() == crypto::KeyType::rsa) r += "; h=sha256";
    if (testing) r += "; t=y";
    r += "; p=";
    r += key.public_key_base64();
    return r;
}

std::vector<std::string> split_txt_strings(std::string_view record) {
    std::vector<std::string> out;
    std::size_t p = record.find("p=");
    // Only a p= that starts a tag counts (after "; " or at the start).
    while (p != std::string_view::npos && p != 0 && record[p - 1] != ' ' && record[p - 1] != ';')
        p = record.find("p=", p + 1);
    std::string_view head = p == std::string_view::npos ? record : record.substr(0, p);
    std::string_view rest = p == std::string_view::npos ? std::string_view{} : record.substr(p);
    while (head.size() > max_txt_string) {
        out.emplace_back(head.substr(0, max_txt_string));
        head.remove_prefix(max_txt_string);
    }
    if (!head.empty() || rest.empty()) out.emplace_back(head);
    while (!rest.empty()) {
        const auto n = std::min(rest.size(), max_txt_string);
        out.emplace_back(rest.substr(0, n));
        rest.remove_prefix(n);
    }
    return out;
}

std::string zone_file_record(std::string_view domain, std::string_view selector, const crypto::SigningKey& key,
                             bool testing) {
    std::string out;
    out += selector;
    out += "._domainkey.";
    out += domain;
    if (out.empty() || out.back() != '.') out += '.';
    out += "\tIN\tTXT\t( ";
    const auto strings = split_txt_strings(key_record_text(key, testing));
    for (std::size_t i = 0; i < strings.size(); ++i) {
        if (i) out += "\n\t  ";
        out += '"';
        out += strings[i];  // base64 and tag text: no '"' or '\\' to escape
        out += '"';
    }
    out += " )  ; ----- DKIM key ";
    out += selector;
    out += " for ";
    out += domain;
    out += " (";
    out += key.algorithm();
    out += ", ";
    out += std::to_string(key.bits());
    out += " bits)\n";
    return out;
}

KeyCheck check_key(dns::Resolver& resolver, std::string_view domain, std::string_view selector,
                   const crypto::SigningKey& key) {
    KeyCheck c;
    c.name = std::string(selector) + "._domainkey." + std::string(domain);
    if (domain.empty() || selector.empty()) {
        c.status = KeyCheckStatus::not_found;
        c.detail = "empty domain or selector";
        return c;
    }
    const auto answer = resolver.query(c.name, dns::RrType::txt);
    switch (answer.status) {
    case dns::Status::ok: break;
    case dns::Status::nxdomain:
    case dns::Status::nodata:
        c.status = KeyCheckStatus::not_found;
        c.detail = std::string("no TXT record at ") + c.name + " (" + dns::status_name(answer.status) + ")";
        return c;
    case dns::Status::tempfail:
        c.status = KeyCheckStatus::dns_error;
        c.detail = "DNS lookup of " + c.name + " failed: " + (answer.error.empty() ? "temporary failure" : answer.error);
        return c;
    }
    if (answer.txt.empty()) {
        c.status = KeyCheckStatus::not_found;
        c.detail = "no TXT record at " + c.name;
        return c;
    }
    if (answer.txt.size() > 1) {
        c.status = KeyCheckStatus::several;
        c.detail = std::to_string(answer.txt.size()) + " TXT records at " + c.name +
                   "; publish exactly one (verifiers pick one or fail)";
        return c;
    }
    const auto parsed = mailmoat::dkim::parse_key_record(answer.txt.front());
    if (parsed.status == mailmoat::dkim::KeyRecordStatus::permerror) {
        c.status = KeyCheckStatus::bad_record;
        c.detail = "the record is not a valid DKIM key record: " + parsed.error;
        return c;
    }
    if (parsed.status == mailmoat::dkim::KeyRecordStatus::unsupported) {
        c.status = KeyCheckStatus::unsupported;
        c.detail = "the record cannot be used for mail: " + parsed.error;
        return c;
    }
    const auto& rec = parsed.record;
    if (rec.revoked) {
        c.status = KeyCheckStatus::revoked;
        c.detail = "the key is revoked (empty p=): every signature with it fails";
        return c;
    }
    if (rec.type != key.type()) {
        c.status = KeyCheckStatus::type_mismatch;
        c.detail = std::string("the record is k=") + crypto::key_type_name(rec.type) + " but the private key is " +
                   crypto::key_type_name(key.type());
        return c;
    }
    // Parse without the RFC 8301 floor so a short key is reported as such, not as garbage.
    const auto pub = crypto::PublicKey::from_dkim(rec.type, rec.public_key, 1);
    if (pub.status != crypto::PublicKeyStatus::ok) {
        c.status = KeyCheckStatus::bad_record;
        c.detail = "the p= key data is unusable: " + pub.error;
        return c;
    }
    if (rec.type == crypto::KeyType::rsa && pub.key->bits() < crypto::min_rsa_bits) {
        c.status = KeyCheckStatus::too_short;
        c.detail = "the published RSA key has " + std::to_string(pub.key->bits()) +
                   " bits; verifiers fail keys under 1024 bits (RFC 8301 section 3.2)";
        return c;
    }
    if (!rec.allows_sha256) {
        c.status = KeyCheckStatus::sha1_only;
        c.detail = "the record's h= allows only sha1; verifiers fail rsa-sha1 (RFC 8301 section 3.1) and "
                   "sha256 signatures are excluded by h=";
        return c;
    }
    const auto digest = crypto::Digest::of(crypto::HashAlgorithm::sha256, "mailmoat dkim check-key probe");
    const auto sig = key.sign_sha256_digest(digest);
    if (pub.key->verify_digest(crypto::HashAlgorithm::sha256, digest, sig) != crypto::VerifyStatus::valid) {
        c.status = KeyCheckStatus::mismatch;
        c.detail = "the published key is not the public half of the private key (published " +
                   std::to_string(pub.key->bits()) + " bits, private " + std::to_string(key.bits()) + " bits)";
        return c;
    }
    if (rec.testing) c.warnings.emplace_back("the record carries t=y (testing): verifiers may ignore failures");
    c.status = KeyCheckStatus::ok;
    c.detail = std::string("the record matches the private key (") + key.algorithm() + ", " +
               std::to_string(key.bits()) + " bits)";
    return c;
}

namespace {

constexpr const char* usage_text =
    "usage: mailmoat dkim keygen --domain D --selector S [--type rsa|ed25519] [--bits N]\n"
    "                            [--directory DIR] [--testing]\n"
    "       mailmoat dkim check-key --domain D --selector S --key FILE [--dns-server HOST[:PORT]]\n"
    "                            [--timeout SECONDS]\n\n"
    "keygen     writes DIR/S.private (the private key, mode 0600, never overwritten) and DIR/S.txt (the\n"
    "           DNS TXT record in zone-file form, strings of at most 255 characters); prints the record.\n"
    "check-key  looks up S._domainkey.D TXT and says whether it matches the private key FILE; exit 0 if\n"
    "           it does, 1 if not (revoked, too short, sha1 only, mismatch, missing), 69 if DNS fails.\n";

bool valid_label_text(std::string_view s) {
    if (s.empty() || s.size() > 253) return false;
    for (const char ch : s) {
        const auto u = static_cast<unsigned char>(ch);
        if (!(std::isalnum(u) || ch == '-' || ch == '.' || ch == '_')) return false;
    }
    return s.front() != '.' && s.find("..") == std::string_view::npos;
}

std::string strip_dot(std::string s) {
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

/// Writes text to a new file (mode 0644, fails if it exists). Returns the error text, empty on success.
std::string write_new_file(const std::string& path, const std::string& text) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return "cannot create " + path + ": " + std::strerror(errno);
    std::size_t off = 0;
    std::string err;
    while (err.empty() && off < text.size()) {
        const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) err = "cannot write " + path + ": " + std::strerror(errno);
        else off += static_cast<std::size_t>(n);
    }
    if (::close(fd) != 0 && err.empty()) err = "cannot close " + path + ": " + std::strerror(errno);
    if (!err.empty()) ::unlink(path.c_str());
    return err;
}

int keygen(const std::vector<std::string>& args, Io& io) {
    po::options_description opts("mailmoat dkim keygen");
    opts.add_options()("help,h", "this help")("domain,d", po::value<std::string>(), "signing domain (d=)")(
        "selector,s", po::value<std::string>(), "selector (s=); names the output files")(
        "type,t", po::value<std::string>()->default_value("rsa"), "rsa or ed25519")(
        "bits,b", po::value<unsigned>()->default_value(2048), "RSA key size (1024..8192)")(
        "directory,D", po::value<std::string>()->default_value("."), "where to write the files")(
        "testing", po::bool_switch(), "add t=y (testing) to the record");
    const auto vm = parse_args(args, opts);
    if (vm.count("help")) {
        io.out << usage_text << '\n' << opts;
        return Exit::ok;
    }
    if (!vm.count("domain") || !vm.count("selector")) throw UsageError("--domain and --selector are required");
    const auto domain = strip_dot(vm["domain"].as<std::string>());
    const auto selector = vm["selector"].as<std::string>();
    if (!valid_label_text(domain)) throw UsageError("--domain '" + domain + "' is not a domain name");
    if (!valid_label_text(selector) || selector.find('/') != std::string::npos)
        throw UsageError("--selector '" + selector + "' is not a DNS label sequence");
    const auto& type_name = vm["type"].as<std::string>();
    crypto::KeyType type;
    if (type_name == "rsa") type = crypto::KeyType::rsa;
    else if (type_name == "ed25519") type = crypto::KeyType::ed25519;
    else throw UsageError("--type must be rsa or ed25519, not '" + type_name + "'");
    const unsigned bits = vm["bits"].as<unsigned>();
    if (type == crypto::KeyType::rsa && (bits < crypto::min_rsa_bits || bits > crypto::max_rsa_bits))
        throw UsageError("--bits must lie in 1024..8192 (RFC 8301 section 3.2: shorter keys fail verification)");
    if (type == crypto::KeyType::rsa && bits < 2048)
        io.err << "mailmoat dkim keygen: warning: " << bits << "-bit RSA keys are weak; 2048 is the default\n";

    const auto dir = vm["directory"].as<std::string>();
    const auto key_path = dir + "/" + selector + ".private";
    const auto txt_path = dir + "/" + selector + ".txt";
    for (const auto* p : {&key_path, &txt_path})
        if (exists(*p)) {
            io.err << "mailmoat dkim keygen: " << *p << " exists; not overwriting it\n";
            return Exit::cant_create;
        }
    const auto key = crypto::SigningKey::generate(type, bits);
    if (auto err = key->write_pem_file(key_path); !err.empty()) {
        io.err << "mailmoat dkim keygen: " << err << '\n';
        return Exit::cant_create;
    }
    const auto record = zone_file_record(domain, selector, *key, vm["testing"].as<bool>());
    if (auto err = write_new_file(txt_path, record); !err.empty()) {
        ::unlink(key_path.c_str());
        io.err << "mailmoat dkim keygen: " << err << '\n';
        return Exit::cant_create;
    }
    io.out << record;
    io.err << "mailmoat dkim keygen: wrote " << key_path << " (" << key->algorithm() << ", " << key->bits()
           << " bits, mode 0600) and " << txt_path << '\n';
    return Exit::ok;
}

int check(const std::vector<std::string>& args, Io& io) {
    po::options_description opts("mailmoat dkim check-key");
    opts.add_options()("help,h", "this help")("domain,d", po::value<std::string>(), "signing domain (d=)")(
        "selector,s", po::value<std::string>(), "selector (s=)")("key,k", po::value<std::string>(),
                                                                  "the private key file")(
        "dns-server", po::value<std::string>()->default_value(""),
        "HOST[:PORT] to ask instead of the resolvers in /etc/resolv.conf")(
        "timeout", po::value<unsigned>()->default_value(5), "seconds to wait for DNS");
    const auto vm = parse_args(args, opts);
    if (vm.count("help")) {
        io.out << usage_text << '\n' << opts;
        return Exit::ok;
    }
    if (!vm.count("domain") || !vm.count("selector") || !vm.count("key"))
        throw UsageError("--domain, --selector and --key are required");
    const auto domain = strip_dot(vm["domain"].as<std::string>());
    const auto selector = vm["selector"].as<std::string>();
    const auto path = vm["key"].as<std::string>();
    const unsigned timeout = vm["timeout"].as<unsigned>();
    if (timeout == 0 || timeout > 300) throw UsageError("--timeout must lie in 1..300");

    int rc = Exit::ok;
    crypto::KeyLoadOptions lo;
    lo.allow_unsafe_permissions = true;  // reported below, as a problem, after the DNS check
    lo.min_rsa_bits = 1;
    auto loaded = crypto::SigningKey::load_file(path, lo);
    if (loaded.status == crypto::KeyLoadStatus::unreadable) {
        io.err << "mailmoat dkim check-key: " << loaded.error << '\n';
        return Exit::no_input;
    }
    if (loaded.status != crypto::KeyLoadStatus::ok) {
        io.out << "key NOT OK: " << path << ": " << loaded.error << '\n';
        return Exit::failed;
    }
    const auto& key = *loaded.key;
    if (key.type() == crypto::KeyType::rsa && key.bits() < crypto::min_rsa_bits) {
        io.out << "problem: the private key has " << key.bits()
               << " bits; mailmoat-dkim refuses keys under 1024 bits (RFC 8301 section 3.2)\n";
        rc = Exit::failed;
    }
    {
        struct stat st {};
        if (::stat(path.c_str(), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
            io.out << "problem: " << path
                   << " can be read or written by group or others; mailmoat-dkim refuses it unless "
                      "require-safe-keys = no (chmod 600)\n";
            rc = Exit::failed;
        }
    }
    std::shared_ptr<dns::Resolver> resolver;
    try {
        resolver = dns::make_resolver(vm["dns-server"].as<std::string>(), std::chrono::seconds(timeout), 2, 0);
    } catch (const std::invalid_argument& e) {
        throw UsageError(std::string("--dns-server: ") + e.what());
    }
    const auto c = check_key(*resolver, domain, selector, key);
    for (const auto& w : c.warnings) io.out << "warning: " << w << '\n';
    if (c.status == KeyCheckStatus::ok) {
        io.out << (rc == Exit::ok ? "key OK: " : "record OK: ") << c.name << ": " << c.detail << '\n';
        return rc;
    }
    io.out << "key NOT OK (" << key_check_status_name(c.status) << "): " << c.name << ": " << c.detail << '\n';
    return c.status == KeyCheckStatus::dns_error ? Exit::unavailable : Exit::failed;
}

int run(const std::vector<std::string>& args, Io& io) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        (args.empty() ? io.err : io.out) << usage_text;
        return args.empty() ? Exit::usage : Exit::ok;
    }
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    if (args[0] == "keygen") return keygen(rest, io);
    if (args[0] == "check-key") return check(rest, io);
    throw UsageError("unknown dkim command '" + args[0] + "'");
}

const Registration registration{{"dkim", "DKIM keys: keygen (key + DNS record), check-key (DNS vs key)", run}};

}  // namespace

}  // namespace mailmoat::cli::dkim
