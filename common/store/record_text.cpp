// common/store/record_text.cpp - separator-joined text of records and reports (see record_text.hpp).
#include "common/store/record_text.hpp"

#include <charconv>
#include <cstdint>

namespace mailmoat::store::text {
namespace {

constexpr char unit_sep = '\x1f';    // fields of a list item
constexpr char record_sep = '\x1e';  // items of a list
constexpr char group_sep = '\x1d';   // rows of a report
constexpr char file_sep = '\x1c';    // top-level fields

std::vector<std::string_view> split(std::string_view text, char sep) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (;;) {
        const auto end = text.find(sep, start);
        out.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    return out;
}

template <class T>
bool number(std::string_view s, T& out) {
    const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

/// Appends a separator and the field (every field but a string's first goes through these).
void put(std::string& out, std::string_view v) {
    out += file_sep;
    out += clean(v);
}
void put_raw(std::string& out, std::string_view v) {
    out += file_sep;
    out += v;
}

std::string overrides_text(const std::vector<dmarc::Override>& v) {
    std::vector<std::vector<std::string_view>> items;
    for (const auto& o : v) items.push_back({o.type, o.comment});
    return join_items(items);
}
std::string dkim_text(const std::vector<dmarc::DkimOutcome>& v) {
    std::vector<std::vector<std::string_view>> items;
    for (const auto& d : v) items.push_back({d.domain, d.selector, d.result, d.human_result});
    return join_items(items);
}
std::string spf_text(const std::vector<dmarc::SpfOutcome>& v) {
    std::vector<std::vector<std::string_view>> items;
    for (const auto& x : v) items.push_back({x.domain, x.scope, x.result});
    return join_items(items);
}
std::string list_text(const std::vector<std::string>& v) {
    std::vector<std::vector<std::string_view>> items;
    for (const auto& x : v) items.push_back({x});
    return join_items(items);
}
void read_overrides(std::string_view t, std::vector<dmarc::Override>& out) {
    for (auto& f : split_items(t)) out.push_back({field(f, 0), field(f, 1)});
}
void read_dkim(std::string_view t, std::vector<dmarc::DkimOutcome>& out) {
    for (auto& f : split_items(t)) out.push_back({field(f, 0), field(f, 1), field(f, 2), field(f, 3)});
}
void read_spf(std::string_view t, std::vector<dmarc::SpfOutcome>& out) {
    for (auto& f : split_items(t)) out.push_back({field(f, 0), field(f, 1), field(f, 2)});
}
void read_list(std::string_view t, std::vector<std::string>& out) {
    for (auto& f : split_items(t)) out.push_back(field(f, 0));
}

constexpr std::size_t record_fields = 26;  // "1", then the 25 columns of the SQLite table's order
constexpr std::size_t report_head_fields = 21;

}  // namespace

std::string clean(std::string_view s) {
    std::string out(s);
    for (auto& ch : out)
        if (ch == unit_sep || ch == record_sep || ch == group_sep || ch == file_sep) ch = ' ';
    return out;
}

std::string join_items(const std::vector<std::vector<std::string_view>>& items) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out += record_sep;
        for (std::size_t f = 0; f < items[i].size(); ++f) {
            if (f) out += unit_sep;
            out += clean(items[i][f]);
        }
    }
    return out;
}

std::vector<std::vector<std::string>> split_items(std::string_view text) {
    std::vector<std::vector<std::string>> out;
    if (text.empty()) return out;
    for (auto item : split(text, record_sep)) {
        std::vector<std::string> fields;
        for (auto f : split(item, unit_sep)) fields.emplace_back(f);
        out.push_back(std::move(fields));
    }
    return out;
}

std::string field(const std::vector<std::string>& f, std::size_t i) {
    return i < f.size() ? f[i] : std::string();
}

std::string encode_record(const dmarc::ReportRecord& r) {
    const auto& p = r.policy;
    std::string out = "1";
    put(out, std::to_string(r.time));
    for (auto v : {std::string_view(r.source_ip), std::string_view(r.header_from), std::string_view(r.envelope_from),
                   std::string_view(r.envelope_to), std::string_view(r.organizational_domain),
                   std::string_view(p.domain), std::string_view(p.p), std::string_view(p.sp), std::string_view(p.np),
                   std::string_view(p.adkim), std::string_view(p.aspf), std::string_view(p.testing)})
        put(out, v);
    put(out, std::to_string(p.pct));
    for (auto v : {std::string_view(p.fo), std::string_view(p.psd), std::string_view(p.discovery_method)}) put(out, v);
    put_raw(out, list_text(p.rua));
    for (auto v : {std::string_view(r.dmarc_result), std::string_view(r.disposition), std::string_view(r.dkim_aligned),
                   std::string_view(r.spf_aligned)})
        put(out, v);
    put_raw(out, overrides_text(r.overrides));
    put_raw(out, dkim_text(r.dkim));
    put_raw(out, spf_text(r.spf));
    return out;
}

bool decode_record(std::string_view text, dmarc::ReportRecord& r) {
    const auto f = split(text, file_sep);
    if (f.size() != record_fields || f[0] != "1") return false;
    r = {};
    if (!number(f[1], r.time)) return false;
    r.source_ip = f[2];
    r.header_from = f[3];
    r.envelope_from = f[4];
    r.envelope_to = f[5];
    r.organizational_domain = f[6];
    auto& p = r.policy;
    p.domain = f[7];
    p.p = f[8];
    p.sp = f[9];
    p.np = f[10];
    p.adkim = f[11];
    p.aspf = f[12];
    p.testing = f[13];
    if (!number(f[14], p.pct)) return false;
    p.fo = f[15];
    p.psd = f[16];
    p.discovery_method = f[17];
    read_list(f[18], p.rua);
    r.dmarc_result = f[19];
    r.disposition = f[20];
    r.dkim_aligned = f[21];
    r.spf_aligned = f[22];
    read_overrides(f[23], r.overrides);
    read_dkim(f[24], r.dkim);
    read_spf(f[25], r.spf);
    return true;
}

std::string encode_report(const dmarc_report::AggregateReport& r) {
    const auto& m = r.metadata;
    const auto& p = r.policy;
    std::string out = "1";
    for (auto v : {std::string_view(m.org_name), std::string_view(m.report_id), std::string_view(m.email),
                   std::string_view(m.extra_contact_info)})
        put(out, v);
    put(out, std::to_string(m.begin));
    put(out, std::to_string(m.end));
    put(out, m.generator);
    put_raw(out, list_text(m.errors));
    put(out, dmarc_report::format_name(r.format));
    for (auto v :
         {std::string_view(r.version), std::string_view(p.domain), std::string_view(p.p), std::string_view(p.sp),
          std::string_view(p.np), std::string_view(p.adkim), std::string_view(p.aspf), std::string_view(p.testing)})
        put(out, v);
    put(out, std::to_string(p.pct));
    put(out, p.fo);
    put(out, p.discovery_method);
    for (const auto& x : r.rows) {
        out += group_sep;
        std::string row = clean(x.source_ip);
        put(row, std::to_string(x.count));
        for (auto v : {std::string_view(x.disposition), std::string_view(x.dkim), std::string_view(x.spf)}) put(row, v);
        put_raw(row, overrides_text(x.reasons));
        for (auto v :
             {std::string_view(x.header_from), std::string_view(x.envelope_from), std::string_view(x.envelope_to)})
            put(row, v);
        put_raw(row, dkim_text(x.dkim_results));
        put_raw(row, spf_text(x.spf_results));
        out += row;
    }
    return out;
}

bool decode_report(std::string_view text, dmarc_report::AggregateReport& r) {
    const auto groups = split(text, group_sep);
    const auto f = split(groups[0], file_sep);
    if (f.size() != report_head_fields || f[0] != "1") return false;
    r = {};
    auto& m = r.metadata;
    m.org_name = f[1];
    m.report_id = f[2];
    m.email = f[3];
    m.extra_contact_info = f[4];
    if (!number(f[5], m.begin) || !number(f[6], m.end)) return false;
    m.generator = f[7];
    read_list(f[8], m.errors);
    r.format = f[9] == "rfc7489" ? dmarc_report::Format::rfc7489 : dmarc_report::Format::rfc9990;
    r.version = f[10];
    auto& p = r.policy;
    p.domain = f[11];
    p.p = f[12];
    p.sp = f[13];
    p.np = f[14];
    p.adkim = f[15];
    p.aspf = f[16];
    p.testing = f[17];
    if (!number(f[18], p.pct)) return false;
    p.fo = f[19];
    p.discovery_method = f[20];
    for (std::size_t g = 1; g < groups.size(); ++g) {
        const auto x = split(groups[g], file_sep);
        if (x.size() != 11) return false;
        dmarc_report::Row row;
        row.source_ip = x[0];
        if (!number(x[1], row.count)) return false;
        row.disposition = x[2];
        row.dkim = x[3];
        row.spf = x[4];
        read_overrides(x[5], row.reasons);
        row.header_from = x[6];
        row.envelope_from = x[7];
        row.envelope_to = x[8];
        read_dkim(x[9], row.dkim_results);
        read_spf(x[10], row.spf_results);
        r.rows.push_back(std::move(row));
    }
    return true;
}

}  // namespace mailmoat::store::text
