// common/dmarc/record.cpp - RFC 9989 §4.7-§4.8 DMARC policy record parsing.
#include "common/dmarc/record.hpp"

#include <algorithm>
#include <cctype>

namespace mailmoat::dmarc {

namespace {

bool is_wsp(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
    return s;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

/// dmarc-value = %x20-3A / %x3C-7E (printable, no ';'); the caller already split at ';'.
bool printable(std::string_view v) noexcept {
    return std::all_of(v.begin(), v.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u >= 0x20 && u <= 0x7e;
    });
}

/// Quotes a value for a note, shortened: notes end up on a terminal.
std::string shown(std::string_view v) {
    std::string out;
    for (char c : v.substr(0, 40)) out.push_back(std::isprint(static_cast<unsigned char>(c)) ? c : '?');
    if (v.size() > 40) out += "...";
    return "\"" + out + "\"";
}

bool is_request(const std::string& v) noexcept { return v == "none" || v == "quarantine" || v == "reject"; }

/// dmarc-fo: "0"/"1"/"d"/"s" joined by ':', 0 and 1 exclusive, each at most once.
bool valid_fo(std::string_view v) {
    bool seen0 = false, seen1 = false, seend = false, seens = false;
    if (v.empty()) return false;
    std::size_t pos = 0;
    for (;;) {
        std::size_t colon = v.find(':', pos);
        std::string_view item = trim(v.substr(pos, colon == std::string_view::npos ? v.npos : colon - pos));
        bool* seen = item == "0" ? &seen0 : item == "1" ? &seen1 : item == "d" ? &seend : item == "s" ? &seens : nullptr;
        if (seen == nullptr || *seen) return false;
        *seen = true;
        if (colon == std::string_view::npos) break;
        pos = colon + 1;
    }
    return !(seen0 && seen1);
}

void parse_uri_list(std::string_view value, const char* tag, std::vector<std::string>& out,
                    std::vector<std::string>& notes, std::vector<std::string>* published = nullptr) {
    std::size_t pos = 0;
    for (;;) {
        std::size_t comma = value.find(',', pos);
        std::string_view item = trim(value.substr(pos, comma == std::string_view::npos ? value.npos : comma - pos));
        std::string uri;
        if (out.size() >= max_report_uris) {
            notes.push_back(std::string(tag) + "= has more than " + std::to_string(max_report_uris) +
                            " URIs; the rest are ignored");
            return;
        }
        if (parse_report_uri(item, uri)) {
            out.push_back(std::move(uri));
            if (published) published->emplace_back(item);
        }
        else
            notes.push_back(std::string(tag) + "= URI " + shown(item) + " is not a valid URI: ignored");
        if (comma == std::string_view::npos) return;
        pos = comma + 1;
    }
}

}  // namespace

bool is_dmarc_record(std::string_view text) noexcept {
    text = trim(text);
    if (text.empty() || (text.front() != 'v' && text.front() != 'V')) return false;
    text.remove_prefix(1);
    while (!text.empty() && is_wsp(text.front())) text.remove_prefix(1);
    if (text.empty() || text.front() != '=') return false;
    text.remove_prefix(1);
    while (!text.empty() && is_wsp(text.front())) text.remove_prefix(1);
    if (text.substr(0, 6) != "DMARC1") return false;
    text.remove_prefix(6);
    while (!text.empty() && is_wsp(text.front())) text.remove_prefix(1);
    return text.empty() || text.front() == ';';
}

bool parse_report_uri(std::string_view text, std::string& out) {
    text = trim(text);
    // Obsolete size limit (RFC 7489 §6.2, RFC 9989 §4.8 obs-dmarc-report-size): "!" 1*DIGIT [k/m/g/t].
    if (std::size_t bang = text.rfind('!'); bang != std::string_view::npos) {
        std::string_view size = text.substr(bang + 1);
        if (!size.empty() && std::string_view("kmgtKMGT").find(size.back()) != std::string_view::npos)
            size.remove_suffix(1);
        if (size.empty() || !std::all_of(size.begin(), size.end(), is_digit)) return false;
        text = text.substr(0, bang);
    }
    std::size_t colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 >= text.size()) return false;
    if (!is_alpha(text.front())) return false;
    for (std::size_t i = 1; i < colon; ++i) {
        char c = text[i];
        if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') return false;
    }
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f || c == ',' || c == '!' || c == ';') return false;
    }
    out.assign(text);
    return true;
}

ParsedRecord parse_record(std::string_view text) {
    ParsedRecord result;
    if (!is_dmarc_record(text)) return result;
    result.status = RecordStatus::ok;
    Record& r = result.record;
    if (text.size() > max_record_length) {
        r.notes.push_back("record longer than " + std::to_string(max_record_length) +
                          " octets: the rest is ignored");
        text = text.substr(0, max_record_length);
    }

    bool have_p = false, have_sp = false, have_np = false;
    bool bad_p = false, bad_sp = false, bad_np = false;
    std::vector<std::string> seen;
    std::size_t pos = text.find(';');  // the version tag was checked above
    std::size_t count = 0;
    while (pos != std::string_view::npos && pos < text.size()) {
        std::size_t start = pos + 1;
        pos = text.find(';', start);
        std::string_view spec = trim(text.substr(start, pos == std::string_view::npos ? text.npos : pos - start));
        if (spec.empty()) continue;
        if (++count > max_record_tags) {
            r.notes.push_back("more than " + std::to_string(max_record_tags) + " tags: the rest are ignored");
            break;
        }
        std::size_t eq = spec.find('=');
        std::string_view name = eq == std::string_view::npos ? spec : trim(spec.substr(0, eq));
        if (eq == std::string_view::npos || name.empty() || !std::all_of(name.begin(), name.end(), is_alpha)) {
            r.notes.push_back("malformed tag " + shown(spec) + " ignored");
            continue;
        }
        std::string tag = lower(name);
        std::string_view raw = trim(spec.substr(eq + 1));
        if (raw.empty() || !printable(raw)) {
            r.notes.push_back("tag " + tag + "= has an empty or unprintable value: ignored");
            if (tag == "p") bad_p = true;
            if (tag == "sp") bad_sp = true;
            if (tag == "np") bad_np = true;
            continue;
        }
        if (std::find(seen.begin(), seen.end(), tag) != seen.end()) {
            r.notes.push_back("repeated tag " + tag + "= ignored (the first one counts)");
            continue;
        }
        seen.push_back(tag);
        std::string value = lower(raw);
        auto bad = [&](const char* why) { r.notes.push_back(tag + "=" + shown(raw) + " " + why); };
        if (tag == "v") {
            bad("is not the first tag: ignored");
        } else if (tag == "p" || tag == "sp" || tag == "np") {
            bool& have = tag == "p" ? have_p : tag == "sp" ? have_sp : have_np;
            bool& invalid = tag == "p" ? bad_p : tag == "sp" ? bad_sp : bad_np;
            std::string& field = tag == "p" ? r.p : tag == "sp" ? r.sp : r.np;
            if (is_request(value)) {
                have = true;
                field = value;
            } else {
                invalid = true;
                bad("is not none, quarantine or reject");
            }
        } else if (tag == "adkim" || tag == "aspf") {
            if (value == "r" || value == "s")
                (tag == "adkim" ? r.adkim : r.aspf) = value;
            else
                bad("is not r or s: default r used");
        } else if (tag == "t") {
            if (value == "y" || value == "n")
                r.t = value;
            else
                bad("is not y or n: default n used");
        } else if (tag == "psd") {
            if (value == "y" || value == "n" || value == "u")
                r.psd = value;
            else
                bad("is not y, n or u: default u used");
        } else if (tag == "pct") {
            if (raw.size() <= 3 && std::all_of(raw.begin(), raw.end(), is_digit) && std::stoi(std::string(raw)) <= 100)
                r.pct = std::stoi(std::string(raw));
            else
                bad("is not an integer 0-100: ignored");
        } else if (tag == "fo") {
            if (valid_fo(value))
                r.fo = value;
            else
                bad("is not a valid failure reporting option list: default 0 used");
        } else if (tag == "rua") {
            parse_uri_list(raw, "rua", r.rua, r.notes);
        } else if (tag == "ruf") {
            parse_uri_list(raw, "ruf", r.ruf, r.notes, &r.ruf_published);
        } else if (tag == "rf" || tag == "ri") {
            r.notes.push_back("tag " + tag + "= (RFC 7489, removed by RFC 9989) ignored");
        } else {
            r.notes.push_back("unknown tag " + tag + "= ignored");
        }
    }

    // RFC 9989 §4.10.1: no valid p=, or an invalid sp=/np=: p=none when rua= has a valid URI, else no
    // DMARC processing.
    if (!have_p || bad_p || bad_sp || bad_np) {
        const char* why = !have_p && !bad_p ? "p= is missing" : bad_p ? "p= is invalid" : "sp= or np= is invalid";
        if (!r.rua.empty()) {
            r.state = PolicyState::none_for_rua;
            r.notes.push_back(std::string(why) + "; rua= is valid, so the record counts as p=none");
            r.p = "none";
        } else {
            r.state = PolicyState::unusable;
            r.notes.push_back(std::string(why) + " and there is no valid rua=: no DMARC policy applies");
            r.p.clear();
        }
        r.sp.clear();
        r.np.clear();
    }
    return result;
}

}  // namespace mailmoat::dmarc
