// common/dmarc_report/report_xml.cpp - aggregate-report XML through libxml2: xmlTextWriter to build,
// xmlReadMemory without entity substitution or network access to read.
#include "common/dmarc_report/report_xml.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <limits>
#include <stdexcept>

#include "common/dmarc_report/xml_handles.hpp"
#include "common/util/ip_address.hpp"

namespace mailmoat::dmarc_report {
namespace {

const xmlChar* x(const char* s) { return reinterpret_cast<const xmlChar*>(s); }

class Writer {
public:
    Writer() : buf_(xmlBufferCreate()) {
        if (!buf_) throw std::runtime_error("xmlBufferCreate failed");
        w_.reset(xmlNewTextWriterMemory(buf_.get(), 0));
        if (!w_) throw std::runtime_error("xmlNewTextWriterMemory failed");
        xmlTextWriterSetIndent(w_.get(), 1);
        xmlTextWriterSetIndentString(w_.get(), x("  "));
    }
    void check(int rc) const {
        if (rc < 0) throw std::runtime_error("libxml2 writer failed");
    }
    void start_document() { check(xmlTextWriterStartDocument(w_.get(), "1.0", "UTF-8", nullptr)); }
    void start(const char* name) { check(xmlTextWriterStartElement(w_.get(), x(name))); }
    void start_ns_root(const char* name, std::string_view ns) {
        check(xmlTextWriterStartElement(w_.get(), x(name)));
        const std::string n(ns);
        check(xmlTextWriterWriteAttribute(w_.get(), x("xmlns"), x(n.c_str())));
    }
    void end() { check(xmlTextWriterEndElement(w_.get())); }
    void element(const char* name, std::string_view text) {
        const std::string t(text);
        check(xmlTextWriterWriteElement(w_.get(), x(name), x(t.c_str())));
    }
    void element_if(const char* name, std::string_view text) {
        if (!text.empty()) element(name, text);
    }
    std::string finish() {
        check(xmlTextWriterEndDocument(w_.get()));
        w_.reset();  // flushes into the buffer
        return std::string(reinterpret_cast<const char*>(xmlBufferContent(buf_.get())),
                           static_cast<std::size_t>(xmlBufferLength(buf_.get())));
    }

private:
    XmlBuffer buf_;
    XmlWriter w_;
};

/// RFC 7489's IPAddress pattern takes IPv6 only as eight uncompressed groups.
std::string ip_for_7489(const std::string& ip) {
    const auto a = util::IpAddress::parse(ip);
    if (!a || a->is_v4()) return ip;
    const auto& b = a->bytes();
    std::string out;
    char tmp[8];
    for (int i = 0; i < 8; ++i) {
        std::snprintf(tmp, sizeof tmp, "%x", (b[2 * i] << 8) | b[2 * i + 1]);
        if (i) out += ':';
        out += tmp;
    }
    return out;
}

std::string override_for(Format f, const std::string& type) {
    if (f == Format::rfc7489) return type;
    if (type == "local_policy" || type == "mailing_list" || type == "other" || type == "trusted_forwarder" ||
        type == "policy_test_mode")
        return type;
    return "other";  // forwarded, sampled_out: gone from RFC 9990's list
}

std::string spf_result_for(Format f, const std::string& r) {
    if (f == Format::rfc7489 && r == "policy") return "permerror";
    return r.empty() ? "none" : r;
}

}  // namespace

const char* format_name(Format f) noexcept { return f == Format::rfc7489 ? "rfc7489" : "rfc9990"; }

std::uint64_t AggregateReport::message_count() const noexcept {
    std::uint64_t total = 0;
    for (const auto& r : rows) total = r.count > UINT64_MAX - total ? UINT64_MAX : total + r.count;
    return total;
}

const char* parse_status_name(ParseStatus s) noexcept {
    switch (s) {
        case ParseStatus::ok: return "ok";
        case ParseStatus::malformed: return "malformed";
        case ParseStatus::hostile: return "hostile";
    }
    return "?";
}

std::string write_report_xml(const AggregateReport& r) {
    const Format f = r.format;
    Writer w;
    w.start_document();
    if (f == Format::rfc9990)
        w.start_ns_root("feedback", rfc9990_namespace);
    else
        w.start("feedback");
    w.element("version", r.version.empty() ? "1.0" : r.version);
    const auto& m = r.metadata;
    w.start("report_metadata");
    w.element("org_name", m.org_name);
    w.element("email", m.email);
    w.element_if("extra_contact_info", m.extra_contact_info);
    w.element("report_id", m.report_id);
    w.start("date_range");
    w.element("begin", std::to_string(m.begin));
    w.element("end", std::to_string(m.end));
    w.end();
    if (f == Format::rfc9990) {
        if (!m.errors.empty()) w.element("error", m.errors.front());  // RFC 9990 allows one
        w.element_if("generator", m.generator);
    } else {
        for (const auto& e : m.errors) w.element("error", e);
    }
    w.end();
    const auto& p = r.policy;
    w.start("policy_published");
    w.element("domain", p.domain);
    w.element_if("adkim", p.adkim);
    w.element_if("aspf", p.aspf);
    w.element("p", p.p);
    if (f == Format::rfc7489) {
        w.element("sp", p.sp.empty() ? p.p : p.sp);
        w.element("pct", std::to_string(p.pct < 0 ? 100 : p.pct));
        w.element("fo", p.fo.empty() ? "0" : p.fo);
    } else {
        w.element_if("sp", p.sp);
        w.element_if("np", p.np);
        w.element_if("discovery_method", p.discovery_method);
        w.element_if("fo", p.fo);
        w.element("testing", p.testing == "y" ? "y" : "n");
    }
    w.end();
    for (const auto& row : r.rows) {
        w.start("record");
        w.start("row");
        w.element("source_ip", f == Format::rfc7489 ? ip_for_7489(row.source_ip) : row.source_ip);
        w.element("count", std::to_string(row.count));
        w.start("policy_evaluated");
        std::string disp = row.disposition;
        if (f == Format::rfc7489 && (disp == "pass" || disp.empty())) disp = "none";
        w.element("disposition", disp);
        w.element("dkim", row.dkim == "pass" ? "pass" : "fail");
        w.element("spf", row.spf == "pass" ? "pass" : "fail");
        for (const auto& o : row.reasons) {
            w.start("reason");
            w.element("type", override_for(f, o.type));
            w.element_if("comment", o.comment);
            w.end();
        }
        w.end();
        w.end();
        w.start("identifiers");
        if (f == Format::rfc7489) {
            w.element_if("envelope_to", row.envelope_to);
            w.element("envelope_from", row.envelope_from);
            w.element("header_from", row.header_from);
        } else {
            w.element("header_from", row.header_from);
            w.element_if("envelope_from", row.envelope_from);
            w.element_if("envelope_to", row.envelope_to);
        }
        w.end();
        w.start("auth_results");
        for (const auto& d : row.dkim_results) {
            w.start("dkim");
            w.element("domain", d.domain);
            if (f == Format::rfc9990 || !d.selector.empty()) w.element("selector", d.selector);
            w.element("result", d.result.empty() ? "none" : d.result);
            w.element_if("human_result", d.human_result);
            w.end();
        }
        bool wrote_spf = false;
        for (const auto& s : row.spf_results) {
            if (f == Format::rfc9990 && (wrote_spf || (s.scope != "mfrom" && !s.scope.empty()))) continue;
            w.start("spf");
            w.element("domain", s.domain);
            w.element("scope", s.scope.empty() ? "mfrom" : s.scope);
            w.element("result", spf_result_for(f, s.result));
            w.end();
            wrote_spf = true;
        }
        if (!wrote_spf && f == Format::rfc7489) {  // Appendix C requires one <spf>
            w.start("spf");
            w.element("domain", row.envelope_from.empty() ? row.header_from : row.envelope_from);
            w.element("scope", "mfrom");
            w.element("result", "none");
            w.end();
        }
        w.end();
        w.end();
    }
    w.end();
    return w.finish();
}

// ---------------------------------------------------------------------------------------------------
// Reading

namespace {

struct Hostile : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct Malformed : std::runtime_error {
    using std::runtime_error::runtime_error;
};

bool named(const xmlNode* n, const char* name) {
    return n != nullptr && n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, x(name)) == 0;
}

const xmlNode* child(const xmlNode* parent, const char* name) {
    if (parent == nullptr) return nullptr;
    for (const xmlNode* c = parent->children; c != nullptr; c = c->next)
        if (named(c, name)) return c;
    return nullptr;
}

std::string lower(std::string s) {
    for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
}

std::string trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return std::string(s);
}

class Reader {
public:
    explicit Reader(const ParseLimits& l) : limits_(l) {}

    std::string text(const xmlNode* n) const {
        if (n == nullptr) return {};
        std::string out;
        for (const xmlNode* c = n->children; c != nullptr; c = c->next) {
            if (c->type == XML_ENTITY_REF_NODE) throw Hostile("entity reference in <" + name_of(n) + ">");
            if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content != nullptr) {
                out += reinterpret_cast<const char*>(c->content);
                if (out.size() > limits_.max_text) throw Hostile("text of <" + name_of(n) + "> over size limit");
            }
        }
        return trim(out);
    }
    std::string text(const xmlNode* parent, const char* name) const { return text(child(parent, name)); }
    std::string keyword(const xmlNode* parent, const char* name) const { return lower(text(parent, name)); }

    static std::string name_of(const xmlNode* n) { return reinterpret_cast<const char*>(n->name); }

    static std::int64_t timestamp(const std::string& t, const char* what) {
        // Some generators write "1700000000.0" or surround the number with spaces.
        const auto dot = t.find('.');
        const std::string whole = t.substr(0, dot);
        std::int64_t v = 0;
        const auto [p, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), v);
        if (ec != std::errc() || p != whole.data() + whole.size() || whole.empty() || v < 0)
            throw Malformed(std::string("bad ") + what + " '" + t.substr(0, 40) + "'");
        return v;
    }

    std::uint64_t count(const std::string& t) const {
        if (t.empty() || t.size() > 20 || !std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            if (!t.empty() && t[0] == '-') throw Malformed("negative <count> '" + t.substr(0, 40) + "'");
            if (t.size() > 20 && std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; }))
                throw Hostile("<count> " + t.substr(0, 24) + "... is absurdly large");
            throw Malformed("bad <count> '" + t.substr(0, 40) + "'");
        }
        std::uint64_t v = 0;
        const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
        if (ec == std::errc::result_out_of_range || (ec == std::errc() && v > limits_.max_count))
            throw Hostile("<count> " + t + " over the limit of " + std::to_string(limits_.max_count));
        if (ec != std::errc() || p != t.data() + t.size()) throw Malformed("bad <count> '" + t + "'");
        return v;
    }

    AggregateReport report(const xmlNode* root) const {
        if (!named(root, "feedback"))
            throw Malformed("root element is <" + (root ? name_of(root) : std::string("none")) + ">, not <feedback>");
        AggregateReport r;
        const bool ns9990 = root->ns != nullptr && root->ns->href != nullptr &&
                            std::string_view(reinterpret_cast<const char*>(root->ns->href)) == rfc9990_namespace;
        r.version = text(root, "version");
        const auto* md = child(root, "report_metadata");
        if (md == nullptr) throw Malformed("no <report_metadata>");
        auto& m = r.metadata;
        m.org_name = text(md, "org_name");
        m.email = text(md, "email");
        m.extra_contact_info = text(md, "extra_contact_info");
        m.report_id = text(md, "report_id");
        m.generator = text(md, "generator");
        for (const xmlNode* c = md->children; c != nullptr; c = c->next)
            if (named(c, "error") && m.errors.size() < 16) m.errors.push_back(text(c));
        if (m.org_name.empty()) throw Malformed("no <org_name> in <report_metadata>");
        if (m.report_id.empty()) throw Malformed("no <report_id> in <report_metadata>");
        const auto* dr = child(md, "date_range");
        if (dr == nullptr) throw Malformed("no <date_range> in <report_metadata>");
        m.begin = timestamp(text(dr, "begin"), "<begin>");
        m.end = timestamp(text(dr, "end"), "<end>");
        if (m.end < m.begin) throw Malformed("<date_range> ends before it begins");
        const auto* pp = child(root, "policy_published");
        if (pp == nullptr) throw Malformed("no <policy_published>");
        auto& p = r.policy;
        p.domain = lower(text(pp, "domain"));
        if (p.domain.empty()) throw Malformed("no <domain> in <policy_published>");
        p.p = keyword(pp, "p");
        p.sp = keyword(pp, "sp");
        p.np = keyword(pp, "np");
        p.adkim = keyword(pp, "adkim");
        p.aspf = keyword(pp, "aspf");
        p.testing = keyword(pp, "testing");
        p.fo = text(pp, "fo");
        p.discovery_method = keyword(pp, "discovery_method");
        const auto pct = text(pp, "pct");
        p.pct = -1;
        if (!pct.empty()) {
            int v = -1;
            const auto [e, ec] = std::from_chars(pct.data(), pct.data() + pct.size(), v);
            if (ec == std::errc() && e == pct.data() + pct.size() && v >= 0 && v <= 100) p.pct = v;
        }
        const bool has_new = !p.np.empty() || !p.discovery_method.empty() || !p.testing.empty() || !m.generator.empty();
        r.format = (ns9990 || (has_new && p.pct < 0)) ? Format::rfc9990 : Format::rfc7489;
        std::uint64_t total = 0;
        for (const xmlNode* rec = root->children; rec != nullptr; rec = rec->next) {
            if (!named(rec, "record")) continue;
            if (r.rows.size() >= limits_.max_records)
                throw Hostile("more than " + std::to_string(limits_.max_records) + " <record> elements");
            r.rows.push_back(row(rec));
            const auto c = r.rows.back().count;
            if (c > limits_.max_total - std::min(total, limits_.max_total))
                throw Hostile("total message count over the limit of " + std::to_string(limits_.max_total));
            total += c;
        }
        if (r.rows.empty()) throw Malformed("no <record>");
        return r;
    }

    Row row(const xmlNode* rec) const {
        Row out;
        const auto* rw = child(rec, "row");
        if (rw == nullptr) throw Malformed("<record> without <row>");
        out.source_ip = text(rw, "source_ip");
        if (const auto a = util::IpAddress::parse(out.source_ip)) out.source_ip = a->to_string();
        else throw Malformed("bad <source_ip> '" + out.source_ip.substr(0, 60) + "'");
        out.count = count(text(rw, "count"));
        const auto* pe = child(rw, "policy_evaluated");
        if (pe == nullptr) throw Malformed("<row> without <policy_evaluated>");
        out.disposition = keyword(pe, "disposition");
        out.dkim = keyword(pe, "dkim");
        out.spf = keyword(pe, "spf");
        for (const xmlNode* c = pe->children; c != nullptr; c = c->next)
            if (named(c, "reason") && out.reasons.size() < limits_.max_results_per_record)
                out.reasons.push_back({keyword(c, "type"), text(c, "comment")});
        const auto* id = child(rec, "identifiers");
        if (id == nullptr) throw Malformed("<record> without <identifiers>");
        out.header_from = lower(text(id, "header_from"));
        out.envelope_from = lower(text(id, "envelope_from"));
        out.envelope_to = lower(text(id, "envelope_to"));
        const auto* ar = child(rec, "auth_results");
        if (ar != nullptr) {
            for (const xmlNode* c = ar->children; c != nullptr; c = c->next) {
                if (out.dkim_results.size() + out.spf_results.size() >= limits_.max_results_per_record)
                    throw Hostile("more than " + std::to_string(limits_.max_results_per_record) +
                                  " results in one <auth_results>");
                if (named(c, "dkim"))
                    out.dkim_results.push_back(
                        {lower(text(c, "domain")), text(c, "selector"), keyword(c, "result"), text(c, "human_result")});
                else if (named(c, "spf")) {
                    auto scope = keyword(c, "scope");
                    if (scope.empty()) scope = "mfrom";
                    auto result = keyword(c, "result");
                    if (result == "hardfail") result = "fail";
                    out.spf_results.push_back({lower(text(c, "domain")), scope, result});
                }
            }
        }
        return out;
    }

private:
    ParseLimits limits_;
};

bool contains_ci(std::string_view hay, std::string_view needle) {
    return std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), [](char a, char b) {
               return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
           }) != hay.end();
}

void silent_errors(void*, const char*, ...) {}

}  // namespace

ParseResult parse_report_xml(std::string_view xml, const ParseLimits& limits) {
    ParseResult out;
    if (xml.size() > limits.max_bytes) {
        out.status = ParseStatus::hostile;
        out.error = "XML of " + std::to_string(xml.size()) + " bytes over the limit of " +
                    std::to_string(limits.max_bytes);
        return out;
    }
    // Aggregate reports never need a DTD; refusing any is the simplest defence against entity
    // expansion ("billion laughs") and external entities (XXE).
    if (contains_ci(xml, "<!DOCTYPE") || contains_ci(xml, "<!ENTITY")) {
        out.status = ParseStatus::hostile;
        out.error = "document declares a DTD or entities (refused: entity expansion / external entities)";
        return out;
    }
    xmlSetGenericErrorFunc(nullptr, silent_errors);
    const int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA;
    XmlDoc doc(xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "report.xml", nullptr, options));
    if (!doc) {
        const xmlError* e = xmlGetLastError();
        out.status = ParseStatus::malformed;
        out.error = "not well-formed XML";
        if (e != nullptr && e->message != nullptr) {
            out.error += ": " + trim(e->message);
            if (e->line > 0) out.error += " (line " + std::to_string(e->line) + ")";
        }
        return out;
    }
    if (doc->intSubset != nullptr || doc->extSubset != nullptr) {
        out.status = ParseStatus::hostile;
        out.error = "document declares a DTD (refused)";
        return out;
    }
    try {
        out.report = Reader(limits).report(xmlDocGetRootElement(doc.get()));
        out.status = ParseStatus::ok;
    } catch (const Hostile& e) {
        out.status = ParseStatus::hostile;
        out.error = e.what();
    } catch (const Malformed& e) {
        out.status = ParseStatus::malformed;
        out.error = e.what();
    }
    return out;
}

}  // namespace mailmoat::dmarc_report
