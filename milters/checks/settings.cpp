// milters/checks/settings.cpp - mailmoat-checks settings schema, validation and table compilation.
#include "milters/checks/settings.hpp"

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

config::Schema make_schema() {
    config::Schema s("mailmoat-checks", "header and body checks milter with Postfix's regexp:/pcre: table syntax");
    s.add_common_daemon_options("unix:/run/mailmoat/checks.sock", "/etc/mailmoat/mailmoat-checks.conf");
    s.add_list("header-checks", {}, "Tables for primary message headers (Postfix header_checks), e.g. pcre:/etc/mailmoat/header_checks.");
    s.add_list("mime-header-checks", {}, "Tables for MIME headers and part headers (mime_header_checks); empty: header-checks; 'none': no tables.");
    s.add_list("nested-header-checks", {}, "Tables for headers of attached messages (nested_header_checks); empty: header-checks; 'none': no tables.");
    s.add_list("body-checks", {}, "Tables for body lines (body_checks).");
    s.add_list("decoded-body-checks", {}, "Tables for the decoded lines (UTF-8) of base64 and quoted-printable text parts; not in Postfix.");
    s.add_uint("body-checks-size-limit", 51200, 0, 1U << 30, "Body bytes of each MIME part inspected (body_checks_size_limit); 0: no limit.");
    s.add_uint("match-time-limit", 2000, 0, 600000, "Milliseconds of matching per message; beyond it the rest is not inspected (logged). 0: no limit.");
    s.add_uint("pcre-match-limit", 1000000, 1000, 100000000, "PCRE2 match limit per lookup; a match over it counts as no match (logged), as in Postfix.");
    s.add_uint("body-buffer-limit", 64U << 20, 0, 1U << 30, "Body bytes kept to apply body REPLACE/PREPEND/IGNORE; a larger body is delivered unchanged (logged).");
    s.add_bool("tcp-nodelay", true, "Set TCP_NODELAY on a TCP listening socket.");
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
    rules->mime_set = mime_set;
    rules->nested_set = nested_set;
    rules->body_size_limit = v.uint("body-checks-size-limit");
    rules->time_limit = std::chrono::milliseconds(v.uint("match-time-limit"));
    s.rules = std::move(rules);
    s.body_buffer_limit = v.uint("body-buffer-limit");
    s.tcp_nodelay = v.flag("tcp-nodelay");
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
    o.stages = {milter::Stage::envrcpt, milter::Stage::header, milter::Stage::eoh, milter::Stage::body,
                milter::Stage::eom};
    o.no_reply = {milter::Stage::header, milter::Stage::body};
    o.macros[milter::MacroStage::eom] = "i";
    return o;
}

}  // namespace mailmoat::checksd
