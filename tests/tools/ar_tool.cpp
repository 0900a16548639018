// tests/tools/ar_tool.cpp - builds or parses one Authentication-Results header for the oracle test.
//
// Usage: mailmoat_ar_tool build   < description      prints the folded header field
//        mailmoat_ar_tool parse   < header field      prints "status\t..." then the description
// Description lines (tab-separated; "prop" lines belong to the result above them):
//   id <authserv-id> | version <v> | result <method> <method-version> <result> <comment> <reason>
//   prop <ptype> <property> <value>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "common/mail/auth_results.hpp"

namespace {

std::vector<std::string> split_tabs(const std::string& line) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        std::size_t tab = line.find('\t', start);
        out.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
        if (tab == std::string::npos) return out;
        start = tab + 1;
    }
}

int build() {
    mailmoat::mail::AuthResults ar;
    std::string line;
    while (std::getline(std::cin, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        std::vector<std::string> f = split_tabs(line);
        f.resize(7);
        if (f[0] == "id")
            ar.authserv_id = f[1];
        else if (f[0] == "version")
            ar.version = f[1];
        else if (f[0] == "result")
            ar.results.push_back({f[1], f[2], f[3], f[4], f[5], {}});
        else if (f[0] == "prop" && !ar.results.empty())
            ar.results.back().properties.push_back({f[1], f[2], f[3]});
        else {
            std::cerr << "ar_tool: bad description line: " << line << "\n";
            return 2;
        }
    }
    std::cout << mailmoat::mail::auth_results_field(ar) << "\r\n";
    return 0;
}

int parse() {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    const std::string name = "Authentication-Results:";
    if (text.size() >= name.size() && mailmoat::mail::header_name_equal(text.substr(0, name.size()), name))
        text.erase(0, name.size());
    mailmoat::mail::ParsedAuthResults p = mailmoat::mail::parse_auth_results(text);
    const char* status = p.status == mailmoat::mail::ParsedAuthResults::Status::ok        ? "ok"
                         : p.status == mailmoat::mail::ParsedAuthResults::Status::partial ? "partial"
                                                                                          : "invalid";
    std::cout << "status\t" << status << "\t" << p.error << "\n";
    std::cout << "id\t" << p.value.authserv_id << "\n";
    if (!p.value.version.empty()) std::cout << "version\t" << p.value.version << "\n";
    for (const auto& r : p.value.results) {
        std::cout << "result\t" << r.method << "\t" << r.method_version << "\t" << r.result << "\t" << r.comment << "\t"
                  << r.reason << "\n";
        for (const auto& prop : r.properties)
            std::cout << "prop\t" << prop.ptype << "\t" << prop.property << "\t" << prop.value << "\n";
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc == 2 ? argv[1] : "";
    if (mode == "build") return build();
    if (mode == "parse") return parse();
    std::cerr << "usage: mailmoat_ar_tool build|parse\n";
    return 2;
}
