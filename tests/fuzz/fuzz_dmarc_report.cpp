// tests/fuzz/fuzz_dmarc_report.cpp - libFuzzer target: received DMARC aggregate reports (a mail, gzip, zip
// or XML) through read_reports, checking that results stay within the limits and that what parses
// writes and reads back to the same counts.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/dmarc_report/report_reader.hpp"
#include "common/dmarc_report/report_xml.hpp"

using namespace mailmoat::dmarc_report;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    ReaderLimits limits;
    limits.max_input = 1u << 20;
    limits.max_unpacked = 4u << 20;
    limits.parse.max_records = 1000;
    const auto r = read_reports(std::string_view(reinterpret_cast<const char*>(data), size), limits);
    for (const auto& f : r.reports) {
        if (f.status != ParseStatus::ok) continue;
        if (f.report.rows.empty() || f.report.rows.size() > limits.parse.max_records) std::abort();
        for (const auto& row : f.report.rows)
            if (row.count > limits.parse.max_count) std::abort();
        auto again = parse_report_xml(write_report_xml(f.report));
        if (again.status != ParseStatus::ok || again.report.message_count() != f.report.message_count()) std::abort();
    }
    return 0;
}
