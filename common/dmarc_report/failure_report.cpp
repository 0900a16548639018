// common/dmarc_report/failure_report.cpp - fo= decisions, Identity-Alignment, RFC 6590 redaction and the
// RFC 6591 / RFC 9991 failure report message.
#include "common/dmarc_report/failure_report.hpp"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <ctime>

#include "common/crypto/base64.hpp"
#include "common/crypto/digest.hpp"
#include "common/mail/header.hpp"

namespace mailmoat::dmarc_report {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

bool below_or_equal(std::string_view d, std::string_view org) {
    if (org.empty()) return false;
    return d == org || (d.size() > org.size() && d.substr(d.size() - org.size()) == org && d[d.size() - org.size() - 1] == '.');
}

// RFC 5322 §3.2.3 atext.
bool atext(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || u >= 0x80) return true;
    return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool domain_start(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '[' || static_cast<unsigned char>(c) >= 0x80; }

/// A field value as one logical line: CR dropped, folding kept as LF + WSP, other control characters
/// (NUL, bare LF not followed by WSP) turned into spaces so that they cannot end the header block.
std::string clean_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
        const char c = v[i];
        if (c == '\r') continue;
        if (c == '\n') {
            std::size_t j = i + 1;
            while (j < v.size() && v[j] == '\r') ++j;
            if (j < v.size() && (v[j] == ' ' || v[j] == '\t')) out += '\n';
            else out += ' ';
            continue;
        }
        if (c == '\0') {
            out += ' ';
            continue;
        }
        out += c;
    }
    return out;
}

/// Feedback fields and header values come from mail data: no line breaks of their own.
std::string one_line(std::string_view v) {
    std::string out;
    for (char c : v) out += (c == '\r' || c == '\n' || c == '\0') ? ' ' : c;
    return out;
}

bool is_8bit(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

constexpr std::size_t max_header_bytes = 64 * 1024;

}  // namespace

FailureOptions parse_fo(std::string_view fo) {
    FailureOptions o;
    bool known = false;
    std::size_t pos = 0;
    while (pos <= fo.size()) {
        const auto colon = fo.find(':', pos);
        const auto item = lower(trim(fo.substr(pos, colon == std::string_view::npos ? fo.npos : colon - pos)));
        if (item == "0") o.all = known = true;
        else if (item == "1") o.any = known = true;
        else if (item == "d") o.dkim = known = true;
        else if (item == "s") o.spf = known = true;
        if (colon == std::string_view::npos) break;
        pos = colon + 1;
    }
    if (!known) o.all = true;  // RFC 9989 §4.7: fo defaults to "0"
    return o;
}

const char* failure_kind_name(FailureKind k) noexcept {
    switch (k) {
        case FailureKind::dmarc: return "dmarc";
        case FailureKind::dkim: return "dkim";
        case FailureKind::spf: return "spf";
    }
    return "?";
}

bool identifier_aligned(std::string_view id_in, const FailureFacts& f, bool strict) {
    if (id_in.empty()) return false;
    const auto id = lower(id_in);
    const auto from = lower(f.from_domain);
    if (id == from) return true;
    if (strict) return false;
    const auto org = lower(f.org_domain.empty() ? f.from_domain : f.org_domain);
    // Relaxed (RFC 9989 §4.4.1/§4.4.2): same organizational domain. An identifier at or below the author's
    // organizational domain has it as its own unless a deeper psd= boundary sits between them, which a
    // failure report may ignore.
    return below_or_equal(id, org);
}

std::vector<FailureKind> failure_reports_due(const FailureOptions& fo, const FailureFacts& f) {
    std::vector<FailureKind> out;
    const bool none_aligned = !f.dkim_aligned_pass && !f.spf_aligned_pass;
    const bool some_unaligned = !f.dkim_aligned_pass || !f.spf_aligned_pass;
    if ((fo.all && none_aligned) || (fo.any && some_unaligned)) {
        out.push_back(FailureKind::dmarc);
        return out;
    }
    if (fo.dkim && std::any_of(f.dkim.begin(), f.dkim.end(), [](const dmarc::DkimOutcome& d) {
            const auto r = lower(d.result);
            return r != "pass" && r != "none" && !r.empty();
        }))
        out.push_back(FailureKind::dkim);
    if (fo.spf) {
        const auto r = lower(f.spf_result);
        if (r == "fail" || r == "softfail" || r == "permerror") out.push_back(FailureKind::spf);
    }
    return out;
}

std::string identity_alignment(const FailureFacts& f) {
    const bool strict_dkim = lower(f.adkim) == "s";
    const bool strict_spf = lower(f.aspf) == "s";
    const bool dkim = std::any_of(f.dkim.begin(), f.dkim.end(), [&](const dmarc::DkimOutcome& d) {
        return identifier_aligned(d.domain, f, strict_dkim) && lower(d.result) != "pass";
    });
    const bool spf = identifier_aligned(f.mail_from_domain, f, strict_spf) && lower(f.spf_result) != "pass";
    if (dkim && spf) return "dkim, spf";
    if (dkim) return "dkim";
    if (spf) return "spf";
    return "none";
}

std::string redact_local_parts(std::string_view text, std::string_view key) {
    auto token = [&](std::string_view local) {
        crypto::Digest d(crypto::HashAlgorithm::sha256);
        d.update(key);
        d.update(local);
        return crypto::base64_encode(d.finish()).substr(0, 16);
    };
    std::string out;
    out.reserve(text.size());
    std::size_t copied = 0;  // text[0, copied) is in out
    for (std::size_t at = text.find('@'); at != std::string_view::npos; at = text.find('@', at + 1)) {
        if (at < copied || at + 1 >= text.size() || !domain_start(text[at + 1])) continue;
        std::size_t start = at;
        if (at > 0 && text[at - 1] == '"') {
            // quoted-string local-part: back to the opening quote (RFC 5322 §3.2.4), escapes skipped.
            std::size_t i = at - 1;
            bool found = false;
            while (i > copied) {
                --i;
                if (text[i] == '"' && (i == 0 || text[i - 1] != '\\')) {
                    found = true;
                    break;
                }
            }
            if (!found || at - i > 256) continue;
            start = i;
        } else {
            while (start > copied && (atext(text[start - 1]) || text[start - 1] == '.')) --start;
            // '=' is atext, but "smtp.mailfrom=user@d" (RFC 8601) or "envelope-from=user@d" (RFC 7208 §9.1)
            // name a property before it: that name stays readable, the rest (an SRS address too) is hidden.
            const auto span = text.substr(start, at - start);
            if (const auto eq = span.find('='); eq != std::string_view::npos && eq > 0 &&
                std::all_of(span.begin(), span.begin() + static_cast<std::ptrdiff_t>(eq), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
                }))
                start += eq + 1;
        }
        if (start == at) continue;  // "@domain" (DKIM i= without a local-part): nothing to hide
        out.append(text.substr(copied, start - copied));
        out += token(text.substr(start, at - start));
        copied = at;
    }
    out.append(text.substr(copied));
    return out;
}

std::string defang_uris(std::string_view text) {
    std::string out(text);
    for (std::size_t i = 0; i + 7 <= out.size(); ++i) {
        if ((out[i] != 'h' && out[i] != 'H') || lower(out.substr(i, 4)) != "http") continue;
        const auto rest = out.substr(i + 4, 4);
        if (rest.rfind("://", 0) == 0 || lower(rest) == "s://") {
            out[i + 1] = 'x';
            out[i + 2] = 'x';
        }
    }
    return out;
}

bool identifier_field(std::string_view name) noexcept {
    for (const char* n : {"Message-ID", "In-Reply-To", "References", "Content-ID", "Resent-Message-ID"})
        if (mail::header_name_equal(name, n)) return true;
    return false;
}

std::string build_failure_report(const FailureReport& r) {
    auto hide = [&](std::string_view v) -> std::string {
        if (!r.redact) return std::string(v);
        return defang_uris(redact_local_parts(v, r.redaction_key));
    };
    const std::string boundary = "=_mailmoat_" + std::to_string(r.date) + "_" + r.message_id.substr(0, r.message_id.find('@'));
    const std::string date = mail::rfc5322_date(r.date);
    const char* auth_failure = "dmarc";
    if (r.kind == FailureKind::spf) {
        auth_failure = "spf";
    } else if (r.kind == FailureKind::dkim) {
        // RFC 6591 §3.2.1 auth-failure: bodyhash when the body hash did not verify, signature otherwise.
        auth_failure = std::any_of(r.dkim_failures.begin(), r.dkim_failures.end(),
                                   [](const dmarc::DkimOutcome& d) { return lower(d.human_result).find("body hash") != std::string::npos; })
                           ? "bodyhash"
                           : "signature";
    }

    std::string m;
    m += "From: " + one_line(r.from) + "\n";
    m += "To: " + one_line(r.to) + "\n";
    m += "Date: " + date + "\n";
    m += "Subject: DMARC failure report for " + one_line(r.reported_domain) + " (" + failure_kind_name(r.kind) +
         ") from " + one_line(r.source_ip) + "\n";
    m += "Message-ID: <" + one_line(r.message_id) + ">\n";
    m += "Auto-Submitted: auto-generated\n";  // RFC 3834 §5: no automatic answers to a report
    m += "MIME-Version: 1.0\n";
    m += "Content-Type: multipart/report; report-type=feedback-report;\n boundary=\"" + boundary + "\"\n";
    m += "\nThis is a MIME-formatted message.\n\n";

    // 1. Human-readable part (RFC 5965 §2 item b).
    m += "--" + boundary + "\n";
    m += "Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n";
    m += std::string("This is an authentication failure report (") + auth_failure + ") for a message claiming to be\n";
    m += "from " + one_line(r.reported_domain) + ", received from IP " + one_line(r.source_ip) + " on " + date + ".\n";
    m += "Only the message's header fields are included, not its body.\n";
    if (r.redact)
        m += "The local-parts of e-mail addresses have been replaced by opaque tokens (RFC 6590) and\n"
             "links defanged (hxxp), as RFC 9991 section 7 recommends.\n";
    m += "\n";

    // 2. Machine-readable part (RFC 5965 §3, RFC 6591 §3, RFC 9991 §4).
    std::string fb;
    fb += "Feedback-Type: auth-failure\n";
    fb += "Version: 1\n";
    fb += "User-Agent: " + one_line(r.user_agent) + "\n";
    fb += std::string("Auth-Failure: ") + auth_failure + "\n";
    fb += mail::fold_header("Authentication-Results", hide(one_line(r.auth_results)), 78, "\n") + "\n";
    if (r.kind == FailureKind::dmarc) fb += "Identity-Alignment: " + (r.identity_alignment.empty() ? std::string("none") : r.identity_alignment) + "\n";
    for (const auto& d : r.dkim_failures) {
        if (d.domain.empty()) continue;
        fb += "DKIM-Domain: " + one_line(d.domain) + "\n";
        fb += "DKIM-Identity: @" + one_line(d.domain) + "\n";
        if (!d.selector.empty()) fb += "DKIM-Selector: " + one_line(d.selector) + "\n";
    }
    if (!r.spf_dns.empty()) fb += "SPF-DNS: " + one_line(r.spf_dns) + "\n";
    if (!r.envelope_id.empty()) fb += "Original-Envelope-Id: " + one_line(r.envelope_id) + "\n";
    fb += "Original-Mail-From: <" + hide(one_line(r.original_mail_from)) + ">\n";
    fb += "Arrival-Date: " + date + "\n";
    fb += "Source-IP: " + one_line(r.source_ip) + "\n";
    fb += "Reported-Domain: " + one_line(r.reported_domain) + "\n";
    if (!r.delivery_result.empty()) fb += "Delivery-Result: " + one_line(r.delivery_result) + "\n";
    m += "--" + boundary + "\n";
    m += "Content-Type: message/feedback-report\nContent-Transfer-Encoding: 7bit\n\n";
    m += fb + "\n";

    // 3. The original header fields, without the body (RFC 9991 Appendix A: text/rfc822-headers).
    std::string hdrs;
    std::size_t dropped = 0;
    for (const auto& h : r.headers) {
        std::string line = one_line(h.name) + ":" + clean_value(h.raw_value);
        if (r.redact && !identifier_field(h.name)) line = hide(line);
        if (hdrs.size() + line.size() + 1 > max_header_bytes) {
            ++dropped;
            continue;
        }
        hdrs += line + "\n";
    }
    if (dropped > 0) hdrs += "X-Mailmoat-Omitted: " + std::to_string(dropped) + " header fields over the report's size bound\n";
    m += "--" + boundary + "\n";
    m += std::string("Content-Type: text/rfc822-headers") + (is_8bit(hdrs) ? "; charset=utf-8\nContent-Transfer-Encoding: 8bit" : "\nContent-Transfer-Encoding: 7bit") + "\n\n";
    m += hdrs + "\n";
    m += "--" + boundary + "--\n";
    return m;
}

}  // namespace mailmoat::dmarc_report
