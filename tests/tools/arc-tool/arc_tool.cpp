// tests/tools/arc-tool/arc_tool.cpp - verifies the ARC chain of message files with the ARC engine
// (used by the tests that compare it with dkimpy's arc_verify).
//
//   arc-tool [--key-record NAME=TXT]... [--tempfail NAME]... [--dns HOST:PORT] [--chunk N]
//            [--remote-ip IP] FILE...
//       keys come from --key-record/--tempfail (an in-memory resolver) or, with --dns, from that
//       server through the project's ldns resolver. One line per file:
//       "file=F status=S reason=R oldest_pass=N sealers=d1,d2 ams=r1,r2 seals=r1,r2 ar=TEXT"
//       where the lists are in instance order and "-" stands for an empty list.
// Input with bare LF line ends is converted to CRLF first (as dkimpy does). Exit status: 0 when
// every file was read, 2 on bad usage or an unreadable file.
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/arc/arc_verifier.hpp"
#include "common/dns/resolver.hpp"
#include "common/dns/resolver_factory.hpp"

namespace {

using namespace mailmoat;

std::string norm(std::string n) {
    for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!n.empty() && n.back() == '.') n.pop_back();
    return n;
}

class MapResolver final : public dns::Resolver {
public:
    std::map<std::string, std::vector<std::string>> txt;
    std::map<std::string, bool> tempfail;
    dns::Answer query(std::string_view name, dns::RrType type) override {
        const std::string n = norm(std::string(name));
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

[[noreturn]] void usage(const std::string& why) {
    std::cerr << "arc-tool: " << why << "\n"
              << "usage: arc-tool [--key-record NAME=TXT]... [--tempfail NAME]... [--dns HOST:PORT] FILE...\n";
    std::exit(2);
}

std::string read_crlf(std::FILE* f) {
    std::string raw;
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) raw.append(buf, n);
    std::string out;
    out.reserve(raw.size() + raw.size() / 20);
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r')) out += '\r';
        out += raw[i];
    }
    return out;
}

/// Feeds the header fields (name, value after the colon) and returns the body offset.
template <class Sink>
std::size_t feed_headers(const std::string& text, Sink&& sink) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        if (text.compare(pos, 2, "\r\n") == 0) return pos + 2;
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
        if (colon == std::string::npos) sink(field, std::string());
        else sink(field.substr(0, colon), field.substr(colon + 1));
        pos = end;
    }
    return text.size();
}

template <class T, class F>
std::string join(const std::vector<T>& v, F&& f) {
    if (v.empty()) return "-";
    std::string out;
    for (const auto& x : v) {
        if (!out.empty()) out += ',';
        const std::string s = f(x);
        out += s.empty() ? "-" : s;
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> records, tempfails, files;
    std::map<std::string, std::string> opt;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage("missing value for " + a);
            return argv[++i];
        };
        if (a == "--key-record") records.push_back(value());
        else if (a == "--tempfail") tempfails.push_back(value());
        else if (a == "--dns" || a == "--chunk" || a == "--remote-ip") opt[a] = value();
        else if (a.rfind("--", 0) == 0) usage("unknown option " + a);
        else files.push_back(a);
    }
    if (files.empty()) usage("no message files");
    MapResolver map;
    for (const auto& rec : records) {
        const auto eq = rec.find('=');
        if (eq == std::string::npos) usage("--key-record needs NAME=TXT");
        map.txt[norm(rec.substr(0, eq))].push_back(rec.substr(eq + 1));
    }
    for (const auto& t : tempfails) map.tempfail[norm(t)] = true;
    std::shared_ptr<dns::Resolver> real;
    if (opt.count("--dns") != 0) real = dns::make_resolver(opt["--dns"], std::chrono::milliseconds(3000), 1, 0);
    dns::Resolver& resolver = real ? *real : static_cast<dns::Resolver&>(map);
    const std::size_t chunk = opt.count("--chunk") != 0 ? std::stoul(opt["--chunk"]) : 0;
    auto keys = std::make_shared<dkim::PublicKeyCache>();

    for (const auto& path : files) {
        std::FILE* f = std::fopen(path.c_str(), "rb");
        if (f == nullptr) {
            std::cerr << "arc-tool: cannot read " << path << "\n";
            return 2;
        }
        const std::string text = read_crlf(f);
        std::fclose(f);
        arc::VerifierConfig cfg;
        cfg.key_cache = keys;
        arc::Verifier v(resolver, cfg);
        const std::size_t body = feed_headers(text, [&](const std::string& n, const std::string& val) { v.add_header(n, val); });
        v.end_of_headers();
        const std::string_view b = std::string_view(text).substr(body);
        const std::size_t step = chunk == 0 ? std::max<std::size_t>(b.size(), 1) : chunk;
        for (std::size_t p = 0; p < b.size(); p += step) v.add_body(b.substr(p, step));
        const arc::ArcResult r = v.finish();
        std::cout << "file=" << path << " status=" << arc::chain_status_name(r.status)
                  << " reason=" << arc::fail_reason_name(r.reason) << " oldest_pass=" << r.oldest_pass
                  << " sealers=" << join(r.sealers, [](const std::string& s) { return s; })
                  << " ams=" << join(r.sets, [](const arc::SetResult& s) { return std::string(dkim::result_name(s.ams)); })
                  << " seals=" << join(r.sets, [](const arc::SetResult& s) { return std::string(dkim::result_name(s.seal)); })
                  << " ar=" << arc::auth_result_text(r, opt.count("--remote-ip") != 0 ? opt["--remote-ip"] : "")
                  << " text=" << r.reason_text << "\n";
    }
    return 0;
}
