// tests/fuzz/fuzz_checks.cpp - libFuzzer target: header/body checks over arbitrary messages and tables.
// Input: table rules (inline pcre syntax, "{rule}, {rule}") up to the first blank line, then a message.
// The scanner must not crash, and the table with the Hyperscan prefilter must decide exactly as the
// same table trying every rule (a difference aborts).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/checks/scanner.hpp"
#include "checks_scan.hpp"

namespace {

using namespace mailmoat;

std::shared_ptr<const checks::RuleSet> rules(const std::string& spec, std::size_t prefilter_min) {
    table::Limits limits;
    limits.prefilter_min_rules = prefilter_min;
    limits.match_limit = 20000;
    auto r = std::make_shared<checks::RuleSet>();
    r->header = checks::open_tables({spec}, limits);
    r->body = r->header;
    r->time_limit = std::chrono::milliseconds(0);
    return r;
}

checks::Outcome scan(std::shared_ptr<const checks::RuleSet> rs, std::string_view message) {
    return fuzz::scan_message(std::move(rs), message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const std::size_t blank = text.find("\n\n");
    if (blank == std::string_view::npos) return 0;
    const std::string spec = "pcre:{" + std::string(text.substr(0, blank)) + "}";
    const std::string_view message = text.substr(blank + 2);
    std::shared_ptr<const checks::RuleSet> plain, filtered;
    try {
        plain = rules(spec, 1U << 30);
        filtered = rules(spec, 1);
    } catch (const table::TableError&) {
        return 0;  // a bad table is an expected outcome
    }
    const checks::Outcome a = scan(plain, message);
    const checks::Outcome b = scan(filtered, message);
    if (a.hits.size() != b.hits.size() || a.final != b.final) std::abort();
    for (std::size_t i = 0; i < a.hits.size(); ++i)
        if (a.hits[i].where != b.hits[i].where || a.hits[i].action.text != b.hits[i].action.text) std::abort();
    (void)checks::rewrite_body(message, a.body_edits);
    return 0;
}
