// common/dmarc_report/report_builder.cpp - aggregation of evaluation records into report rows.
#include "common/dmarc_report/report_builder.hpp"

#include <map>

namespace mailmoat::dmarc_report {
namespace {

std::string row_key(const dmarc::ReportRecord& r) {
    std::string k;
    auto add = [&](std::string_view s) {
        k += s;
        k += '\x1f';
    };
    add(r.source_ip);
    add(r.disposition);
    add(r.dkim_aligned);
    add(r.spf_aligned);
    add(r.header_from);
    add(r.envelope_from);
    add(r.envelope_to);
    for (const auto& o : r.overrides) {
        add(o.type);
        add(o.comment);
    }
    k += '\x1e';
    for (const auto& d : r.dkim) {
        add(d.domain);
        add(d.selector);
        add(d.result);
    }
    k += '\x1e';
    for (const auto& s : r.spf) {
        add(s.domain);
        add(s.scope);
        add(s.result);
    }
    return k;
}

}  // namespace

std::int64_t utc_day_start(std::int64_t t) noexcept {
    constexpr std::int64_t day = 86400;
    const std::int64_t q = t / day;
    return (t % day < 0 ? q - 1 : q) * day;
}

std::string make_report_id(const std::string& domain, std::int64_t begin, std::int64_t end) {
    return domain + "." + std::to_string(begin) + "." + std::to_string(end);
}

std::vector<Row> aggregate_rows(const std::vector<dmarc::ReportRecord>& records) {
    std::vector<Row> rows;
    std::map<std::string, std::size_t> index;
    for (const auto& r : records) {
        const auto [it, fresh] = index.try_emplace(row_key(r), rows.size());
        if (!fresh) {
            ++rows[it->second].count;
            continue;
        }
        Row row;
        row.source_ip = r.source_ip;
        row.count = 1;
        row.disposition = r.disposition.empty() ? "none" : r.disposition;
        row.dkim = r.dkim_aligned == "pass" ? "pass" : "fail";
        row.spf = r.spf_aligned == "pass" ? "pass" : "fail";
        row.reasons = r.overrides;
        row.header_from = r.header_from;
        row.envelope_from = r.envelope_from;
        row.envelope_to = r.envelope_to;
        row.dkim_results = r.dkim;
        row.spf_results = r.spf;
        rows.push_back(std::move(row));
    }
    return rows;
}

AggregateReport build_report(const std::string& domain, std::int64_t begin, std::int64_t end,
                             const std::vector<dmarc::ReportRecord>& records, const Reporter& who) {
    AggregateReport r;
    r.format = who.format;
    r.version = "1.0";
    r.metadata.org_name = who.org_name;
    r.metadata.email = who.email;
    r.metadata.extra_contact_info = who.extra_contact_info;
    r.metadata.report_id = make_report_id(domain, begin, end);
    r.metadata.begin = begin;
    // date_range end is inclusive in practice (the last second covered).
    r.metadata.end = end > begin ? end - 1 : end;
    r.metadata.generator = who.generator;
    if (!records.empty()) r.policy = records.back().policy;
    r.policy.domain = domain;
    if (r.policy.p.empty()) r.policy.p = "none";
    r.rows = aggregate_rows(records);
    return r;
}

}  // namespace mailmoat::dmarc_report
