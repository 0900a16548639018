// common/dmarc_report/summary.cpp - adding up received reports per source and per day.
#include "common/dmarc_report/summary.hpp"

#include <algorithm>
#include <charconv>
#include <set>

#include "common/dmarc_report/report_builder.hpp"

namespace mailmoat::dmarc_report {
namespace {

std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) { return b > UINT64_MAX - a ? UINT64_MAX : a + b; }

void add_distinct(std::vector<std::string>& v, const std::string& s) {
    if (s.empty() || v.size() >= 8 || std::find(v.begin(), v.end(), s) != v.end()) return;
    v.push_back(s);
    std::sort(v.begin(), v.end());
}

// Days since 1970-01-01 for a civil date (H. Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

}  // namespace

Summary summarize(const std::vector<AggregateReport>& reports) {
    Summary s;
    std::map<std::string, SourceStats> by_ip;
    std::map<std::int64_t, DayStats> by_day;
    std::set<std::string> domains;
    for (const auto& r : reports) {
        ++s.reports;
        domains.insert(r.policy.domain);
        auto& day = by_day[utc_day_start(r.metadata.begin)];
        day.day = utc_day_start(r.metadata.begin);
        for (const auto& row : r.rows) {
            auto& st = by_ip[row.source_ip];
            st.source_ip = row.source_ip;
            const bool spf = row.spf == "pass";
            const bool dkim = row.dkim == "pass";
            st.messages = sat_add(st.messages, row.count);
            if (spf) st.spf_pass = sat_add(st.spf_pass, row.count);
            if (dkim) st.dkim_pass = sat_add(st.dkim_pass, row.count);
            if (spf || dkim) {
                st.dmarc_pass = sat_add(st.dmarc_pass, row.count);
                s.dmarc_pass = sat_add(s.dmarc_pass, row.count);
                day.pass = sat_add(day.pass, row.count);
            } else {
                day.fail = sat_add(day.fail, row.count);
            }
            if (row.disposition == "quarantine") st.quarantined = sat_add(st.quarantined, row.count);
            if (row.disposition == "reject") st.rejected = sat_add(st.rejected, row.count);
            s.messages = sat_add(s.messages, row.count);
            add_distinct(st.header_from, row.header_from);
            add_distinct(st.reporters, r.metadata.org_name);
        }
    }
    s.domains.assign(domains.begin(), domains.end());
    for (auto& [ip, st] : by_ip) s.sources.push_back(std::move(st));
    std::sort(s.sources.begin(), s.sources.end(), [](const SourceStats& a, const SourceStats& b) {
        if (a.dmarc_fail() != b.dmarc_fail()) return a.dmarc_fail() > b.dmarc_fail();
        if (a.messages != b.messages) return a.messages > b.messages;
        return a.source_ip < b.source_ip;
    });
    for (auto& [d, st] : by_day) s.days.push_back(st);
    return s;
}

std::int64_t parse_date(const std::string& t) noexcept {
    if (t.size() == 10 && t[4] == '-' && t[7] == '-') {
        int y = 0;
        unsigned m = 0, d = 0;
        const char* b = t.data();
        if (std::from_chars(b, b + 4, y).ec != std::errc() || std::from_chars(b + 5, b + 7, m).ec != std::errc() ||
            std::from_chars(b + 8, b + 10, d).ec != std::errc() || m < 1 || m > 12 || d < 1 || d > 31)
            return -1;
        return days_from_civil(y, m, d) * 86400;
    }
    std::int64_t v = 0;
    const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || p != t.data() + t.size() || t.empty() || v < 0) return -1;
    return v;
}

}  // namespace mailmoat::dmarc_report
