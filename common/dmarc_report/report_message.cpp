// common/dmarc_report/report_message.cpp - report mail composition and a small bounded MIME walker for
// received reports (only what reports use: multipart/*, base64, quoted-printable, 7bit/8bit).
#include "common/dmarc_report/report_message.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <stdexcept>

#include "common/crypto/base64.hpp"
#include "common/mail/header.hpp"

namespace mailmoat::dmarc_report {
namespace {

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string domain_of(std::string_view addr) {
    const auto at = addr.rfind('@');
    return at == std::string_view::npos ? std::string() : lower(std::string(addr.substr(at + 1)));
}

/// Characters safe in a Message-ID's id-left and the boundary.
std::string token(std::string_view s) {
    std::string out;
    for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_') ? c : '_';
    return out;
}

// --- parsing helpers ---

/// Value and parameters of a structured field like Content-Type (RFC 2045 §5.1): "type/sub; a=b; c=\"d\"".
struct Structured {
    std::string value;
    std::vector<std::pair<std::string, std::string>> params;
    [[nodiscard]] std::string param(std::string_view name) const {
        for (const auto& [k, v] : params)
            if (k == name) return v;
        return {};
    }
};

Structured parse_structured(std::string_view text) {
    Structured out;
    std::size_t i = 0;
    auto skip_ws = [&] {
        while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    };
    skip_ws();
    const auto semi = text.find(';', i);
    out.value = lower(std::string(text.substr(i, semi == std::string_view::npos ? text.npos : semi - i)));
    while (!out.value.empty() && std::isspace(static_cast<unsigned char>(out.value.back()))) out.value.pop_back();
    if (const auto paren = out.value.find('('); paren != std::string::npos) out.value.resize(paren);
    i = semi == std::string_view::npos ? text.size() : semi + 1;
    while (i < text.size() && out.params.size() < 32) {
        skip_ws();
        const auto eq = text.find('=', i);
        if (eq == std::string_view::npos) break;
        std::string name = lower(std::string(text.substr(i, eq - i)));
        while (!name.empty() && std::isspace(static_cast<unsigned char>(name.back()))) name.pop_back();
        i = eq + 1;
        skip_ws();
        std::string val;
        if (i < text.size() && text[i] == '"') {
            ++i;
            while (i < text.size() && text[i] != '"') {
                if (text[i] == '\\' && i + 1 < text.size()) ++i;
                val += text[i++];
            }
            ++i;
            const auto next = text.find(';', i);
            i = next == std::string_view::npos ? text.size() : next + 1;
        } else {
            const auto next = text.find(';', i);
            val = std::string(text.substr(i, next == std::string_view::npos ? text.npos : next - i));
            while (!val.empty() && std::isspace(static_cast<unsigned char>(val.back()))) val.pop_back();
            i = next == std::string_view::npos ? text.size() : next + 1;
        }
        // RFC 2231 "filename*=utf-8''x.xml.gz" is used by some providers.
        if (!name.empty() && name.back() == '*') {
            name.pop_back();
            if (const auto q = val.find("''"); q != std::string::npos) val = val.substr(q + 2);
        }
        out.params.emplace_back(std::move(name), std::move(val));
    }
    return out;
}

std::string header_value(const mail::HeaderBlock& h, std::string_view name) {
    const auto idx = h.find(name);
    return idx.empty() ? std::string() : h.fields[idx.front()].unfolded();
}

int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string decode_qp(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '=' && i + 1 < s.size()) {
            if (s[i + 1] == '\n') { ++i; continue; }
            if (s[i + 1] == '\r' && i + 2 < s.size() && s[i + 2] == '\n') { i += 2; continue; }
            if (i + 2 < s.size() && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
                out += static_cast<char>(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
                i += 2;
                continue;
            }
        }
        out += s[i];
    }
    return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && lower(std::string(s.substr(s.size() - suffix.size()))) == suffix;
}

bool report_like(const std::string& type, const std::string& name) {
    static const char* types[] = {"application/gzip", "application/x-gzip", "application/zip",
                                  "application/x-zip-compressed", "application/x-zip", "text/xml",
                                  "application/xml", "application/gzip-compressed"};
    for (const char* t : types)
        if (type == t) return true;
    return ends_with(name, ".xml") || ends_with(name, ".gz") || ends_with(name, ".zip") || ends_with(name, ".xml.gz");
}

class Walker {
public:
    explicit Walker(const ExtractLimits& l) : limits_(l) {}

    void walk(std::string_view entity, std::size_t depth, ExtractResult& out) {
        if (++parts_ > limits_.max_parts) throw std::length_error("more than " + std::to_string(limits_.max_parts) + " MIME parts");
        if (depth > limits_.max_depth) throw std::length_error("MIME nesting deeper than " + std::to_string(limits_.max_depth));
        const auto h = mail::parse_header_block(entity);
        const std::string_view body = entity.substr(std::min(h.body_offset, entity.size()));
        const auto ct = parse_structured(header_value(h, "Content-Type"));
        const std::string type = ct.value.empty() ? "text/plain" : ct.value;
        if (type.rfind("multipart/", 0) == 0) {
            const std::string boundary = ct.param("boundary");
            if (boundary.empty()) throw std::invalid_argument("multipart without boundary");
            for (const auto part : split_multipart(body, boundary)) walk(part, depth + 1, out);
            return;
        }
        if (type == "message/rfc822") {
            walk(body, depth + 1, out);
            return;
        }
        const auto cd = parse_structured(header_value(h, "Content-Disposition"));
        std::string name = cd.param("filename");
        if (name.empty()) name = ct.param("name");
        if (!report_like(type, name)) return;
        const std::string cte = lower(header_value(h, "Content-Transfer-Encoding"));
        Attachment a;
        a.content_type = type;
        a.file_name = name;
        if (cte == "base64") {
            if (body.size() / 4 * 3 > limits_.max_attachment_bytes)
                throw std::length_error("attachment over " + std::to_string(limits_.max_attachment_bytes) + " bytes");
            // Tolerate trailing garbage lines some MTAs append: decode up to the first non-base64 line.
            auto decoded = crypto::base64_decode(body);
            if (!decoded) throw std::invalid_argument("attachment '" + name.substr(0, 80) + "' is not valid base64");
            a.data = std::move(*decoded);
        } else if (cte == "quoted-printable") {
            a.data = decode_qp(body);
        } else {
            a.data = std::string(body);
        }
        if (a.data.size() > limits_.max_attachment_bytes)
            throw std::length_error("attachment over " + std::to_string(limits_.max_attachment_bytes) + " bytes");
        out.attachments.push_back(std::move(a));
    }

private:
    /// The body parts between "--boundary" lines (RFC 2046 §5.1.1), up to the closing one.
    std::vector<std::string_view> split_multipart(std::string_view body, const std::string& boundary) const {
        std::vector<std::string_view> parts;
        const std::string delim = "--" + boundary;
        std::size_t pos = 0;
        std::size_t start = std::string_view::npos;
        while (pos <= body.size()) {
            const auto eol = body.find('\n', pos);
            std::string_view line = body.substr(pos, eol == std::string_view::npos ? body.npos : eol - pos);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            const std::size_t next = eol == std::string_view::npos ? body.size() + 1 : eol + 1;
            if (line.rfind(delim, 0) == 0) {
                const auto rest = line.substr(delim.size());
                const bool closing = rest.rfind("--", 0) == 0;
                if (start != std::string_view::npos) {
                    std::size_t end = pos;
                    // The line break before the delimiter belongs to the delimiter.
                    if (end > start && body[end - 1] == '\n') --end;
                    if (end > start && body[end - 1] == '\r') --end;
                    parts.push_back(body.substr(start, end - start));
                    if (parts.size() > limits_.max_parts)
                        throw std::length_error("more than " + std::to_string(limits_.max_parts) + " MIME parts");
                }
                if (closing) return parts;
                start = std::min(next, body.size());
            }
            pos = next;
        }
        if (start != std::string_view::npos) parts.push_back(body.substr(start));  // unterminated: tolerate
        return parts;
    }

    ExtractLimits limits_;
    std::size_t parts_ = 0;
};

}  // namespace

std::string report_file_name(std::string_view receiver_domain, const AggregateReport& r) {
    return std::string(receiver_domain) + "!" + r.policy.domain + "!" + std::to_string(r.metadata.begin) + "!" +
           std::to_string(r.metadata.end) + ".xml.gz";
}

std::string build_report_message(const AggregateReport& r, const std::string& gzip_xml, const MessageParts& parts) {
    const auto& m = r.metadata;
    const std::string file = report_file_name(parts.receiver_domain, r);
    const std::string boundary = "=_mailmoat_" + token(m.report_id);
    const std::string submitter = parts.receiver_domain.empty() ? m.org_name : parts.receiver_domain;
    std::string msg;
    auto field = [&](std::string_view name, std::string_view value) { msg += mail::fold_header(name, value, 78, "\n") + "\n"; };
    field("From", parts.from);
    field("To", parts.to);
    field("Date", mail::rfc5322_date(parts.date));
    field("Subject", "Report Domain: " + r.policy.domain + " Submitter: " + submitter + " Report-ID: <" + m.report_id + ">");
    field("Message-ID", "<" + token(m.report_id) + "." + token(parts.to) + "@" + (domain_of(parts.from).empty() ? "localhost" : domain_of(parts.from)) + ">");
    field("MIME-Version", "1.0");
    field("Content-Type", "multipart/mixed; boundary=\"" + boundary + "\"");
    field("Auto-Submitted", "auto-generated");
    msg += "\nThis is a DMARC aggregate report in MIME format.\n\n--" + boundary + "\n";
    msg += "Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n";
    msg += "DMARC aggregate report for " + r.policy.domain + " from " + m.org_name + ",\nperiod " +
           mail::rfc5322_date(m.begin) + " to " + mail::rfc5322_date(m.end) + ", " + std::to_string(r.message_count()) +
           " messages.\nReport-ID: " + m.report_id + "\n\n--" + boundary + "\n";
    msg += "Content-Type: application/gzip; name=\"" + file + "\"\nContent-Transfer-Encoding: base64\n";
    msg += "Content-Disposition: attachment; filename=\"" + file + "\"\n\n";
    const std::string b64 = crypto::base64_encode(gzip_xml);
    for (std::size_t i = 0; i < b64.size(); i += 76) msg += b64.substr(i, 76) + "\n";
    msg += "\n--" + boundary + "--\n";
    return msg;
}

ExtractResult extract_report_attachments(std::string_view message, const ExtractLimits& limits) {
    ExtractResult out;
    try {
        Walker(limits).walk(message, 0, out);
    } catch (const std::length_error& e) {
        out.status = ExtractStatus::malformed;
        out.error = e.what();
        out.attachments.clear();
        return out;
    } catch (const std::invalid_argument& e) {
        out.status = ExtractStatus::malformed;
        out.error = e.what();
        out.attachments.clear();
        return out;
    }
    out.status = out.attachments.empty() ? ExtractStatus::none : ExtractStatus::ok;
    if (out.attachments.empty()) out.error = "no report attachment (gzip, zip or XML) in the message";
    return out;
}

}  // namespace mailmoat::dmarc_report
