// tools/mailmoat/dmarc_html.cpp - `mailmoat dmarc html`: the received reports as one self-contained HTML
// page (inline CSS and SVG, no scripts, no external assets): volume over time, pass/fail by source,
// failing sources first.
#include <algorithm>
#include <ctime>
#include <fstream>
#include <ostream>
#include <sstream>

#include "tools/mailmoat/args.hpp"
#include "tools/mailmoat/dmarc_commands.hpp"

namespace mailmoat::cli {
namespace {

namespace po = boost::program_options;
namespace dr = dmarc_report;

std::string esc(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') ? '?' : c;
        }
    }
    return out;
}

std::string day_text(std::int64_t t) {
    const std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return buf;
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
}

/// Stacked bars per day: pass (green) below fail (red).
std::string volume_chart(const dr::Summary& s) {
    const int w = 900, h = 260, left = 60, bottom = 40, top = 20;
    std::uint64_t max = 1;
    for (const auto& d : s.days) max = std::max<std::uint64_t>(max, d.pass + d.fail);
    const std::size_t n = std::max<std::size_t>(s.days.size(), 1);
    const double slot = static_cast<double>(w - left - 10) / static_cast<double>(n);
    const double bar = std::max(2.0, slot * 0.7);
    const double plot_h = h - bottom - top;
    std::ostringstream o;
    o << "<svg id=\"volume-chart\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h
      << "\" viewBox=\"0 0 " << w << ' ' << h << "\" role=\"img\" aria-label=\"Messages per day\">\n"
      << "<title>Messages per day (pass / fail)</title>\n"
      << "<line x1=\"" << left << "\" y1=\"" << h - bottom << "\" x2=\"" << w - 5 << "\" y2=\"" << h - bottom
      << "\" stroke=\"#444\"/>\n<line x1=\"" << left << "\" y1=\"" << top << "\" x2=\"" << left << "\" y2=\"" << h - bottom
      << "\" stroke=\"#444\"/>\n"
      << "<text x=\"" << left - 6 << "\" y=\"" << top + 4 << "\" text-anchor=\"end\" font-size=\"11\">" << max << "</text>\n"
      << "<text x=\"" << left - 6 << "\" y=\"" << h - bottom << "\" text-anchor=\"end\" font-size=\"11\">0</text>\n";
    for (std::size_t i = 0; i < s.days.size(); ++i) {
        const auto& d = s.days[i];
        const double x = left + 5 + slot * static_cast<double>(i);
        const double hp = plot_h * static_cast<double>(d.pass) / static_cast<double>(max);
        const double hf = plot_h * static_cast<double>(d.fail) / static_cast<double>(max);
        const double base = h - bottom;
        o << "<g class=\"day\"><title>" << day_text(d.day) << ": " << d.pass << " pass, " << d.fail << " fail</title>"
          << "<rect class=\"pass\" x=\"" << x << "\" y=\"" << base - hp << "\" width=\"" << bar << "\" height=\"" << hp
          << "\" fill=\"#2e7d32\"/>"
          << "<rect class=\"fail\" x=\"" << x << "\" y=\"" << base - hp - hf << "\" width=\"" << bar << "\" height=\"" << hf
          << "\" fill=\"#c62828\"/></g>\n";
        if (s.days.size() <= 16 || i % (s.days.size() / 12 + 1) == 0)
            o << "<text x=\"" << x + bar / 2 << "\" y=\"" << h - bottom + 16 << "\" text-anchor=\"middle\" font-size=\"11\">"
              << day_text(d.day).substr(5) << "</text>\n";
    }
    o << "</svg>\n";
    return o.str();
}

/// One horizontal bar per source (failing first): DMARC pass green, fail red.
std::string source_chart(const dr::Summary& s) {
    const std::size_t n = std::min<std::size_t>(s.sources.size(), 25);
    const int row = 22, left = 260, w = 900;
    const int h = static_cast<int>(n) * row + 30;
    std::uint64_t max = 1;
    for (std::size_t i = 0; i < n; ++i) max = std::max(max, s.sources[i].messages);
    std::ostringstream o;
    o << "<svg id=\"source-chart\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h
      << "\" viewBox=\"0 0 " << w << ' ' << h << "\" role=\"img\" aria-label=\"DMARC pass and fail by source\">\n"
      << "<title>DMARC pass / fail by source</title>\n";
    for (std::size_t i = 0; i < n; ++i) {
        const auto& src = s.sources[i];
        const double y = 10 + static_cast<double>(i) * row;
        const double scale = static_cast<double>(w - left - 90) / static_cast<double>(max);
        const double wp = scale * static_cast<double>(src.dmarc_pass);
        const double wf = scale * static_cast<double>(src.dmarc_fail());
        o << "<g class=\"source\"><title>" << esc(src.source_ip) << ": " << src.dmarc_pass << " pass, " << src.dmarc_fail()
          << " fail</title><text x=\"" << left - 8 << "\" y=\"" << y + 14 << "\" text-anchor=\"end\" font-size=\"12\">"
          << esc(src.source_ip) << "</text>"
          << "<rect class=\"fail\" x=\"" << left << "\" y=\"" << y << "\" width=\"" << wf << "\" height=\"" << row - 6
          << "\" fill=\"#c62828\"/>"
          << "<rect class=\"pass\" x=\"" << left + wf << "\" y=\"" << y << "\" width=\"" << wp << "\" height=\"" << row - 6
          << "\" fill=\"#2e7d32\"/>"
          << "<text x=\"" << left + wf + wp + 6 << "\" y=\"" << y + 14 << "\" font-size=\"11\">" << src.dmarc_fail() << " / "
          << src.messages << "</text></g>\n";
    }
    o << "</svg>\n";
    return o.str();
}

std::string source_rows(const dr::Summary& s, bool failing_only) {
    std::ostringstream o;
    for (const auto& src : s.sources) {
        if (failing_only && src.dmarc_fail() == 0) continue;
        o << "<tr" << (src.dmarc_fail() ? " class=\"failing\"" : "") << "><td>" << esc(src.source_ip) << "</td><td>"
          << src.messages << "</td><td>" << src.spf_pass << "</td><td>" << src.spf_fail() << "</td><td>" << src.dkim_pass
          << "</td><td>" << src.dkim_fail() << "</td><td>" << src.dmarc_pass << "</td><td>" << src.dmarc_fail()
          << "</td><td>" << esc(join(src.header_from)) << "</td><td>" << esc(join(src.reporters)) << "</td></tr>\n";
    }
    return o.str();
}

const char* table_head =
    "<thead><tr><th>Source</th><th>Messages</th><th>SPF pass</th><th>SPF fail</th><th>DKIM pass</th>"
    "<th>DKIM fail</th><th>DMARC pass</th><th>DMARC fail</th><th>Header From</th><th>Reported by</th></tr></thead>\n";

}  // namespace

int run_dmarc_html(const std::vector<std::string>& args, Io& io) {
    po::options_description opts("options");
    add_summary_options(opts);
    opts.add_options()("output,o", po::value<std::string>()->default_value(""), "the HTML file to write (required)");
    const auto vm = parse_args(args, opts);
    if (vm.count("help")) {
        io.out << "usage: mailmoat dmarc html --output FILE [--domain D] [--since DATE]\n\n"
                  "Writes one self-contained HTML page (no scripts, no external assets) of the received reports:\n"
                  "messages per day, DMARC pass/fail by source, failing sources first.\n\n"
               << opts;
        return Exit::ok;
    }
    const auto out_path = vm["output"].as<std::string>();
    if (out_path.empty()) throw UsageError("--output FILE is required");
    std::string described;
    dr::Summary s;
    try {
        s = load_summary(vm, described);
    } catch (const store::StoreError& e) {
        io.err << "mailmoat dmarc html: " << e.what() << '\n';
        return Exit::unavailable;
    }
    const std::string domains = s.domains.empty() ? std::string("no domain") : join(s.domains);
    std::ostringstream h;
    h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n"
      << "<title>DMARC reports: " << esc(domains) << "</title>\n<style>\n"
      << "body{font-family:sans-serif;margin:2em;color:#222}h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}\n"
      << "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\n"
      << "td:first-child,th:first-child,td:nth-child(9),td:nth-child(10){text-align:left}tr.failing td{background:#fdecea}\n"
      << ".totals span{display:inline-block;margin-right:2em}.legend .pass{color:#2e7d32}.legend .fail{color:#c62828}\n"
      << "</style></head><body>\n"
      << "<h1>DMARC aggregate reports: " << esc(domains) << "</h1>\n"
      << "<p class=\"totals\"><span>Reports: <b>" << s.reports << "</b></span><span>Messages: <b>" << s.messages
      << "</b></span><span>DMARC pass: <b>" << s.dmarc_pass << "</b></span><span>DMARC fail: <b id=\"fail-total\">"
      << (s.messages - s.dmarc_pass) << "</b></span><span>Sources: <b>" << s.sources.size() << "</b></span></p>\n"
      << "<p class=\"legend\"><span class=\"pass\">&#9632; pass</span> <span class=\"fail\">&#9632; fail</span></p>\n"
      << "<h2>Failing sources</h2>\n";
    const std::string failing = source_rows(s, true);
    if (failing.empty())
        h << "<p id=\"failing-sources\">No source failed DMARC.</p>\n";
    else
        h << "<table id=\"failing-sources\">" << table_head << "<tbody>\n" << failing << "</tbody></table>\n";
    h << "<h2>Messages per day</h2>\n" << volume_chart(s) << "<h2>Pass / fail by source</h2>\n" << source_chart(s)
      << "<h2>All sources</h2>\n<table id=\"all-sources\">" << table_head << "<tbody>\n" << source_rows(s, false)
      << "</tbody></table>\n<p><small>Generated by mailmoat dmarc html from " << esc(described) << ".</small></p>\n"
      << "</body></html>\n";
    std::ofstream f(out_path, std::ios::binary | std::ios::trunc);
    f << h.str();
    f.close();
    if (!f) {
        io.err << "mailmoat dmarc html: cannot write " << out_path << '\n';
        return Exit::cant_create;
    }
    io.out << "wrote " << out_path << " (" << s.reports << " reports, " << s.sources.size() << " sources)\n";
    return Exit::ok;
}

}  // namespace mailmoat::cli
