// tests/fuzz/checks_scan.hpp - feeds a whole LF-separated message to a checks::Scanner as the milter
// would (logical header lines with their folds, end of headers, the body in 61-byte pieces so that
// line and chunk boundaries disagree); shared by the checks fuzz targets.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "common/checks/scanner.hpp"

namespace mailmoat::fuzz {

inline checks::Outcome scan_message(std::shared_ptr<const checks::RuleSet> rs, std::string_view message) {
    checks::Scanner s(std::move(rs));
    const std::size_t split = message.find("\n\n");
    std::string_view head = message.substr(0, split);
    std::string logical;
    while (!head.empty()) {
        const std::size_t nl = head.find('\n');
        std::string_view l = head.substr(0, nl);
        head = nl == std::string_view::npos ? std::string_view() : head.substr(nl + 1);
        if (!l.empty() && (l[0] == ' ' || l[0] == '\t') && !logical.empty()) {
            logical += '\n';
            logical += l;
            continue;
        }
        if (!logical.empty()) s.header(logical);
        logical = std::string(l);
    }
    if (!logical.empty()) s.header(logical);
    s.end_of_headers();
    if (split != std::string_view::npos) {
        const std::string_view body = message.substr(split + 2);
        for (std::size_t i = 0; i < body.size(); i += 61) s.body(body.substr(i, 61));
    }
    return s.finish();
}

}  // namespace mailmoat::fuzz
