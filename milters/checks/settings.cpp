// milters/checks/settings.cpp - mailmoat-checks settings schema, validation and table compilation.
#include "milters/checks/settings.hpp"

#include <sys/stat.h>

#include <cerrno>

#include "common/log/logger.hpp"
#include "common/milter/settings.hpp"

namespace mailmoat::checksd {
namespace {

/// A table list, or the one value "none" for an explicitly empty list (Postfix's "mime_header_checks =").
std::vector<std::string> specs(const config::Values& v, const char* key, bool& set) {
    const auto& l = v.list(key);
    set = !l.empty();
    if (l.size() == 1 && l[0] == "none") return {};
    for (const auto& s : l)
        if (s == "none") throw v.error(key, "'none' cannot be combined with tables");
    return l;
}

}  // namespace

std::string blocklist_spec(const std::string& value) {
    if (value.empty() || value.find(':') != std::string::npos) return value;
    return "pcre:" + value;
}

std::string blocklist_path(const std::string& spec) {
    const std::size_t colon = spec.find(':');
    return colon == std::string::npos ? spec : spec.substr(colon + 1);
}

config::Schema make_schema() {
    config::Schema s("mailmoat-checks", "header and body checks milter with Postfix's regexp:/pcre: table syntax");
    s.add_common_daemon_options("unix:/run/mailmoat/checks.sock", "/etc/mailmoat/mailmoat-checks.conf");
    s.add_list("header-checks", {}, "Tables for primary message headers (Postfix header_checks), e.g. pcre:/etc/mailmoat/header_checks.");
    s.add_list("mime-header-checks", {}, "Tables for MIME headers and part headers (mime_header_checks); empty: header-checks; 'none': no tables.");
    s.add_list("nested-header-checks", {}, "Tables for headers of attached messages (nested_header_checks); empty: header-checks; 'none': no tables.");
    s.add_list("body-checks", {}, "Tables for body lines (body_checks).");
    s.add_list("decoded-body-checks", {}, "Tables for the decoded lines (UTF-8) of base64 and quoted-printable text parts; not in Postfix.");
    s.add_string("attachment-rules", "", "Attachment rules file: rules on file name, extension, declared and sniffed type, also inside zip archives; not in Postfix.");
    s.add_uint("attachment-size-limit", 10U << 20, 1024, 1U << 30, "Decoded bytes of one attachment kept to sniff it and open an archive; a larger archive is not opened (archive=limit).");
    s.add_uint("archive-max-entries", 1000, 1, 1000000, "Entries of one zip archive inspected; more give archive=limit.");
    s.add_uint("archive-max-depth", 3, 1, 16, "Zip archives inside zip archives opened; deeper gives archive=limit.");
    s.add_uint("archive-max-uncompressed", 64U << 20, 1024, 1ULL << 34, "Bytes one archive may inflate to, nested ones included; more gives archive=bomb.");
    s.add_uint("archive-max-ratio", 200, 2, 100000, "Expansion ratio above which an entry of more than 1 MiB is a bomb (archive=bomb).");
    s.add_string("blocklist-table", "", "The managed blocklist of 'mailmoat checks block' (a pcre table; a path means pcre:path), matched against envelope and header keys; a missing file is an empty table.");
    s.add_uint("body-checks-size-limit", 51200, 0, 1U << 30, "Body bytes of each MIME part inspected (body_checks_size_limit); 0: no limit.");
    s.add_uint("match-time-limit", 2000, 0, 600000, "Milliseconds of matching per message; beyond it the rest is not inspected (logged). 0: no limit.");
    s.add_uint("pcre-match-limit", 1000000, 1000, 100000000, "PCRE2 match limit per lookup; a match over it counts as no match (logged), as in Postfix.");
    s.add_uint("body-buffer-limit", 64U << 20, 0, 1U << 30, "Body bytes kept to apply body REPLACE/PREPEND/IGNORE; a larger body is delivered unchanged (logged).");
    milter::add_runner_settings(s);
    return s;
}

Settings build_settings(const config::Values& v) {
    Settings s;
    s.common = daemon::CommonSettings::from(v);
    bool unused = false, mime_set = false, nested_set = false;
    s.header_checks = specs(v, "header-checks", unused);
    s.mime_header_checks = specs(v, "mime-header-checks", mime_set);
    s.nested_header_checks = specs(v, "nested-header-checks", nested_set);
    s.body_checks = specs(v, "body-checks", unused);
    s.decoded_body_checks = specs(v, "decoded-body-checks", unused);
    table::Limits limits;
    limits.match_limit = static_cast<std::uint32_t>(v.uint("pcre-match-limit"));
    auto rules = std::make_shared<checks::RuleSet>();
    rules->header = checks::open_tables(s.header_checks, limits);
    rules->mime_header = checks::open_tables(s.mime_header_checks, limits);
    rules->nested_header = checks::open_tables(s.nested_header_checks, limits);
    rules->body = checks::open_tables(s.body_checks, limits);
    rules->decoded_body = checks::open_tables(s.decoded_body_checks, limits);
    s.attachment_rules = v.str("attachment-rules");
    if (!s.attachment_rules.empty()) rules->attachments = checks::AttachmentRules::load(s.attachment_rules);
    rules->attachment_size_limit = v.uint("attachment-size-limit");
    rules->archive_limits.max_entries = v.uint("archive-max-entries");
    rules->archive_limits.max_depth = v.uint("archive-max-depth");
    rules->archive_limits.max_uncompressed = v.uint("archive-max-uncompressed");
    rules->archive_limits.max_ratio = v.uint("archive-max-ratio");
    s.blocklist_table = blocklist_spec(v.str("blocklist-table"));
    if (!s.blocklist_table.empty()) {
        const std::string spec = s.blocklist_table;
        if (spec.rfind("pcre:", 0) != 0 && spec.rfind("regexp:", 0) != 0)
            throw v.error("blocklist-table", "must be a pcre: or regexp: table file");
        struct stat st {};
        if (::stat(blocklist_path(spec).c_str(), &st) != 0 && errno == ENOENT)
            log::notice().kv("table", spec).msg("blocklist table does not exist yet: empty");
        else
            rules->blocklist = checks::open_tables({spec}, limits);
    }
    rules->mime_set = mime_set;
    rules->nested_set = nested_set;
    rules->body_size_limit = v.uint("body-checks-size-limit");
    rules->time_limit = std::chrono::milliseconds(v.uint("match-time-limit"));
    s.rules = std::move(rules);
    s.body_buffer_limit = v.uint("body-buffer-limit");
    return s;
}

milter::RunnerOptions runner_options(const util::SocketSpec& socket) {
    milter::RunnerOptions o;
    o.name = "mailmoat-checks";
    o.socket = socket;
    o.actions.add_headers = true;
    o.actions.change_headers = true;
    o.actions.change_body = true;
    o.actions.add_rcpt = true;
    o.actions.del_rcpt = true;
    o.actions.quarantine = true;
    o.stages = {milter::Stage::connect, milter::Stage::envfrom, milter::Stage::envrcpt, milter::Stage::header, milter::Stage::eoh, milter::Stage::body,
                milter::Stage::eom};
    o.no_reply = {milter::Stage::connect, milter::Stage::envfrom, milter::Stage::header, milter::Stage::body};
    o.macros[milter::MacroStage::eom] = "i";
    return o;
}

}  // namespace mailmoat::checksd
