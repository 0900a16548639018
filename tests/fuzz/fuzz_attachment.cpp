// tests/fuzz/fuzz_attachment.cpp - libFuzzer target: attachment rules, magic sniffing and zip inspection.
// Input: attachment rules up to the first blank line, then bytes that are (a) opened as an attachment
// (zip entries, nested zips, within small limits) and (b) fed as a whole message to the scanner with
// those rules (MIME parameters, RFC 2231 names, base64/QP decoding). Nothing may crash, and the files
// found must stay within the limits.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/checks/scanner.hpp"
#include "checks_scan.hpp"

namespace {

using namespace mailmoat;

void scan(std::shared_ptr<const checks::RuleSet> rs, std::string_view message) {
    (void)fuzz::scan_message(std::move(rs), message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const std::size_t blank = text.find("\n\n");
    if (blank == std::string_view::npos) return 0;
    std::shared_ptr<const checks::AttachmentRules> rules;
    try {
        rules = checks::AttachmentRules::parse(text.substr(0, blank), "fuzz");
    } catch (const table::TableError&) {
        return 0;  // a bad rules file is an expected outcome
    }
    const std::string_view payload = text.substr(blank + 2);
    checks::ArchiveLimits limits;
    limits.max_entries = 50;
    limits.max_depth = 3;
    limits.max_uncompressed = 1U << 20;
    checks::FileInfo part;
    part.name = "fuzz.zip";
    const auto files = checks::inspect_attachment(part, payload, true, limits);
    if (files.empty() || files.size() > 1 + 50 + 50 * 50 + 50 * 50 * 50) std::abort();
    for (const auto& f : files) {
        if (f.depth > limits.max_depth) std::abort();
        (void)rules->match(f);
        (void)checks::describe(f);
    }
    auto rs = std::make_shared<checks::RuleSet>();
    rs->attachments = rules;
    rs->archive_limits = limits;
    rs->attachment_size_limit = 1U << 20;
    rs->time_limit = std::chrono::milliseconds(0);
    scan(rs, payload);
    return 0;
}
