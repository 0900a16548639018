// tests/unit/dkim/dkim_test_support.hpp - fakes (resolver, clock) and a message splitter for DKIM tests.
#pragma once
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/dns/resolver.hpp"
#include "common/util/clock.hpp"

namespace dkimtest {

/// Answers TXT queries from a map; names not in it are NXDOMAIN; names in `tempfail` fail temporarily.
class FakeResolver : public mailmoat::dns::Resolver {
public:
    std::map<std::string, std::vector<std::string>> txt;
    std::map<std::string, std::string> tempfail;  // name -> error text
    std::vector<std::string> queries;

    mailmoat::dns::Answer query(std::string_view name, mailmoat::dns::RrType type) override {
        std::string n(name);
        for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (!n.empty() && n.back() == '.') n.pop_back();
        queries.push_back(n);
        mailmoat::dns::Answer a;
        if (auto it = tempfail.find(n); it != tempfail.end()) {
            a.status = mailmoat::dns::Status::tempfail;
            a.error = it->second;
            return a;
        }
        auto it = txt.find(n);
        if (it == txt.end() || type != mailmoat::dns::RrType::txt) {
            a.status = it == txt.end() ? mailmoat::dns::Status::nxdomain : mailmoat::dns::Status::nodata;
            return a;
        }
        a.status = mailmoat::dns::Status::ok;
        a.txt = it->second;
        a.ttl = 300;
        return a;
    }
};

class FakeClock : public mailmoat::util::Clock {
public:
    explicit FakeClock(std::int64_t unix_seconds) : t_(unix_seconds) {}
    void set(std::int64_t unix_seconds) { t_ = unix_seconds; }
    [[nodiscard]] std::chrono::system_clock::time_point now() const override {
        return std::chrono::system_clock::time_point(std::chrono::seconds(t_));
    }
    [[nodiscard]] std::chrono::steady_clock::time_point steady_now() const override {
        return std::chrono::steady_clock::time_point(std::chrono::seconds(t_));
    }

private:
    std::int64_t t_;
};

struct Message {
    std::vector<std::pair<std::string, std::string>> headers;  // name, value after the colon
    std::string body;
};

/// Splits a CRLF message into header fields (folding kept in the value) and body.
inline Message split_message(const std::string& text) {
    Message m;
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
        m.headers.emplace_back(field.substr(0, colon), colon == std::string::npos ? "" : field.substr(colon + 1));
        pos = end;
    }
    m.body = pos < text.size() ? text.substr(pos) : "";
    return m;
}

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline std::string data_path(const std::string& name) { return std::string(MAILMOAT_TEST_DATA) + "/dkim/" + name; }

}  // namespace dkimtest
