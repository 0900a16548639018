// tests/tools/dkim-tool/dkim_tool.cpp - signs or verifies one message from stdin with the DKIM engine
// (used by the interoperability tests against dkimpy and Mail::DKIM).
//
//   dkim-tool sign --domain D --selector S --key FILE [--canon H/B] [--identity I] [--expire SECS]
//                  [--no-timestamp] [--body-length] [--allow-unsafe-key] [--chunk N] [--now UNIX]
//       writes the message with the DKIM-Signature field prepended to stdout.
//   dkim-tool verify [--key-record NAME=TXT]... [--tempfail NAME]... [--now UNIX] [--chunk N]
//                  [--max-signatures N] [--dns HOST:PORT] [FILE...]
//       keys come from --key-record/--tempfail (an in-memory resolver) or, with --dns, from that
//       server through the project's ldns resolver;
//       prints one line per signature: "result=... d=... s=... a=... bits=... reason=...";
//       "result=none" when the message is unsigned. With FILEs instead of stdin, each line starts
//       with "file=FILE ".
// Input with bare LF line ends is converted to CRLF first (as dkimpy does). Exit status: 0 when
// the operation ran (whatever the verification results), 1 on a signing error, 2 on bad usage.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/crypto/keys.hpp"
#include "common/dkim/signer.hpp"
#include "common/dkim/verifier.hpp"
#include "common/dns/resolver.hpp"
#include "common/dns/resolver_factory.hpp"
#include "common/util/clock.hpp"

namespace {

using namespace mailmoat;

class MapResolver final : public dns::Resolver {
public:
    std::map<std::string, std::vector<std::string>> txt;
    std::map<std::string, bool> tempfail;
    dns::Answer query(std::string_view name, dns::RrType type) override {
        std::string n(name);
        for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (!n.empty() && n.back() == '.') n.pop_back();
        dns::Answer a;
        if (tempfail.count(n) != 0) {
            a.status = dns::Status::tempfail;
            a.error = "SERVFAIL";
            return a;
        }
        const auto it = txt.find(n);
        if (it == txt.end()) {
            a.status = dns::Status::nxdomain;
            return a;
        }
        if (type != dns::RrType::txt) {
            a.status = dns::Status::nodata;
            return a;
        }
        a.status = dns::Status::ok;
        a.txt = it->second;
        return a;
    }
};

class FixedClock final : public util::Clock {
public:
    explicit FixedClock(std::int64_t t) : t_(t) {}
    std::chrono::system_clock::time_point now() const override {
        return std::chrono::system_clock::time_point(std::chrono::seconds(t_));
    }
    std::chrono::steady_clock::time_point steady_now() const override { return std::chrono::steady_clock::now(); }

private:
    std::int64_t t_;
};

[[noreturn]] void usage(const std::string& why) {
    std::cerr << "dkim-tool: " << why << "\n"
              << "usage: dkim-tool sign --domain D --selector S --key FILE [options] < message\n"
              << "       dkim-tool verify [--key-record NAME=TXT]... [options] < message\n";
    std::exit(2);
}

std::string read_stdin_crlf() {
    std::string raw;
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) raw.append(buf, n);
    std::string out;
    out.reserve(raw.size() + raw.size() / 20);
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r')) out += '\r';
        out += raw[i];
    }
    return out;
}

struct Split {
    std::vector<std::pair<std::string, std::string>> headers;
    std::size_t body_offset = 0;
};

Split split_message(const std::string& text) {
    Split s;
    std::size_t pos = 0;
    while (pos < text.size()) {
        if (text.compare(pos, 2, "\r\n") == 0) {
            pos += 2;
            break;
        }
        std::size_t end = pos;
        while (true) {
            const auto crlf = text.find("\r\n", end);
            if (crlf == std::string::npos) {
                end = text.size();
                break;
            }
            end = crlf + 2;
            if (end >= text.size() || (text[end] != ' ' && text[end] != '\t')) break;
        }
        std::string field = text.substr(pos, end - pos);
        if (field.size() >= 2 && field.compare(field.size() - 2, 2, "\r\n") == 0) field.resize(field.size() - 2);
        const auto colon = field.find(':');
        if (colon == std::string::npos) {
            s.headers.emplace_back(field, "");
        } else {
            s.headers.emplace_back(field.substr(0, colon), field.substr(colon + 1));
        }
        pos = end;
    }
    s.body_offset = std::min(pos, text.size());
    return s;
}

template <class Sink>
void feed_body(const std::string& text, std::size_t offset, std::size_t chunk, Sink&& sink) {
    const std::string_view body = std::string_view(text).substr(offset);
    if (chunk == 0) chunk = body.size() == 0 ? 1 : body.size();
    for (std::size_t p = 0; p < body.size(); p += chunk) sink(body.substr(p, chunk));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) usage("missing subcommand");
    const std::string cmd = argv[1];
    std::map<std::string, std::string> opt;
    std::vector<std::string> records, tempfails, files;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage("missing value for " + a);
            return argv[++i];
        };
        if (a == "--key-record") records.push_back(value());
        else if (a == "--tempfail") tempfails.push_back(value());
        else if (a == "--no-timestamp" || a == "--body-length" || a == "--allow-unsafe-key") opt[a] = "1";
        else if (a.rfind("--", 0) == 0) opt[a] = value();
        else files.push_back(a);
    }
    const std::int64_t now = opt.count("--now") != 0
                                 ? std::stoll(opt["--now"])
                                 : std::chrono::duration_cast<std::chrono::seconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count();
    const FixedClock clock(now);
    const std::size_t chunk = opt.count("--chunk") != 0 ? std::stoul(opt["--chunk"]) : 0;
    if (cmd == "sign" && !files.empty()) usage("sign reads one message from stdin");
    const std::string msg = files.empty() ? read_stdin_crlf() : std::string();
    const Split split = split_message(msg);

    if (cmd == "sign") {
        for (const char* req : {"--domain", "--selector", "--key"})
            if (opt.count(req) == 0) usage(std::string("sign needs ") + req);
        crypto::KeyLoadOptions ko;
        ko.allow_unsafe_permissions = opt.count("--allow-unsafe-key") != 0;
        auto key = crypto::SigningKey::load_file(opt["--key"], ko);
        if (key.status != crypto::KeyLoadStatus::ok) {
            std::cerr << "dkim-tool: " << key.error << "\n";
            return 1;
        }
        dkim::SignerConfig cfg;
        cfg.domain = opt["--domain"];
        cfg.selector = opt["--selector"];
        if (opt.count("--canon") != 0) {
            const std::string c = opt["--canon"];
            const auto slash = c.find('/');
            auto parse = [](const std::string& v) {
                if (v == "simple") return dkim::Canon::simple;
                if (v == "relaxed") return dkim::Canon::relaxed;
                usage("bad canonicalization " + v);
            };
            cfg.header_canon = parse(c.substr(0, slash));
            cfg.body_canon = slash == std::string::npos ? dkim::Canon::simple : parse(c.substr(slash + 1));
        }
        if (opt.count("--identity") != 0) cfg.identity = opt["--identity"];
        if (opt.count("--expire") != 0) cfg.expire_after = std::chrono::seconds(std::stoll(opt["--expire"]));
        cfg.timestamp = opt.count("--no-timestamp") == 0;
        cfg.body_length_tag = opt.count("--body-length") != 0;
        dkim::Signer signer(cfg, key.key, clock);
        for (const auto& [n, v] : split.headers) signer.add_header(n, v);
        feed_body(msg, split.body_offset, chunk, [&](std::string_view c) { signer.add_body(c); });
        const auto r = signer.finish();
        if (r.status != dkim::SignStatus::ok) {
            std::cerr << "dkim-tool: signing failed: " << dkim::sign_status_name(r.status) << ": " << r.error << "\n";
            return 1;
        }
        std::cout << r.header_name << ":" << r.value << "\r\n" << msg;
        return 0;
    }
    if (cmd == "verify") {
        MapResolver dns;
        for (const auto& rec : records) {
            const auto eq = rec.find('=');
            if (eq == std::string::npos) usage("--key-record needs NAME=TXT");
            std::string name = rec.substr(0, eq);
            for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (!name.empty() && name.back() == '.') name.pop_back();
            dns.txt[name].push_back(rec.substr(eq + 1));
        }
        for (auto t : tempfails) {
            for (auto& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            dns.tempfail[t] = true;
        }
        dkim::VerifierConfig vc;
        if (opt.count("--max-signatures") != 0) vc.max_signatures = std::stoul(opt["--max-signatures"]);
        std::shared_ptr<dns::Resolver> real;
        if (opt.count("--dns") != 0) real = dns::make_resolver(opt["--dns"], std::chrono::milliseconds(3000), 1, 0);
        auto verify_one = [&](const std::string& text, const std::string& prefix) {
            const Split sp = split_message(text);
            dkim::Verifier v(real ? *real : static_cast<dns::Resolver&>(dns), clock, vc);
            for (const auto& [n, val] : sp.headers) v.add_header(n, val);
            v.end_of_headers();
            feed_body(text, sp.body_offset, chunk, [&](std::string_view c) { v.add_body(c); });
            const auto results = v.finish();
            if (results.empty()) std::cout << prefix << "result=none\n";
            for (const auto& r : results) {
                std::cout << prefix << "result=" << dkim::result_name(r.result) << " d=" << r.domain
                          << " s=" << r.selector << " a=" << (r.algorithm.empty() ? "-" : r.algorithm)
                          << " bits=" << r.key_bits << " testing=" << (r.testing ? "y" : "n")
                          << " reason=" << r.reason << "\n";
            }
        };
        if (files.empty()) {
            verify_one(msg, "");
            return 0;
        }
        // Several messages in one run (keeps the tests fast under sanitizers): lines start "file=PATH ".
        for (const auto& f : files) {
            if (std::freopen(f.c_str(), "rb", stdin) == nullptr) {
                std::cerr << "dkim-tool: cannot read " << f << "\n";
                return 2;
            }
            verify_one(read_stdin_crlf(), "file=" + f + " ");
        }
        return 0;
    }
    usage("unknown subcommand " + cmd);
}
