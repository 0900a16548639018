// examples/milter/example_session.cpp - mailmoat-example-milter's settings and session logic.
#include "example_session.hpp"

#include <algorithm>
#include <cctype>

#include "common/log/logger.hpp"
#include "common/milter/settings.hpp"

namespace mailmoat::example {
namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

bool field_name(std::string_view n) {  // RFC 5322 §3.6.8
    return !n.empty() && n.size() <= 128 &&
           std::all_of(n.begin(), n.end(), [](char c) { return c >= 33 && c <= 126 && c != ':'; });
}

bool plain_text(std::string_view v) {
    return v.size() <= 900 &&
           std::all_of(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; });
}

}  // namespace

void Settings::add_options(config::Schema& schema) {
    schema.add_string("header-name", "X-Mailmoat-Example", "Name of the header added to every message.");
    schema.add_string("header-value", "seen by mailmoat-example-milter",
                      "Value of that header; \" (queue id QID)\" is appended when the queue id is known.");
    schema.add_string("reject-subject", "REJECTME",
                      "Reject a message whose Subject contains this text (550 5.7.1); empty rejects nothing.");
    schema.add_string("report-header", "",
                      "When set to a header name, add \"X-Saw-<name>: yes|no\" telling whether that header was "
                      "among the headers this milter was shown.");
    milter::add_runner_settings(schema);  // tcp-nodelay ("no" only to measure the Nagle stall), max-connections
}

Settings Settings::from(const config::Values& values) {
    Settings s;
    s.header_name = values.str("header-name");
    s.header_value = values.str("header-value");
    s.reject_subject = values.str("reject-subject");
    s.report_header = values.str("report-header");
    if (!field_name(s.header_name)) throw values.error("header-name", "not a header field name");
    if (!plain_text(s.header_value)) throw values.error("header-value", "control characters or longer than 900");
    if (!plain_text(s.reject_subject)) throw values.error("reject-subject", "control characters or longer than 900");
    if (!s.report_header.empty() && !field_name("X-Saw-" + s.report_header))
        throw values.error("report-header", "not a header field name");
    return s;
}

milter::Status ExampleSession::on_header(std::string_view name, std::string_view value) {
    ++headers_;
    if (!settings_->reject_subject.empty() && iequals(name, "Subject") &&
        value.find(settings_->reject_subject) != std::string_view::npos)
        reject_ = true;
    if (!settings_->report_header.empty() && iequals(name, settings_->report_header)) saw_report_header_ = true;
    return milter::Status::continue_;
}

milter::Status ExampleSession::on_eom(milter::Modifier& modifier) {
    const std::string qid = queue_id();
    if (reject_) {
        if (modifier.set_reply("550", "5.7.1", "example milter rejects this message") != milter::Outcome::ok)
            log::warning().queue_id(qid).msg("could not set the reply text");
        log::info().queue_id(qid).kv("action", "reject").kv("reason", "subject").kv("headers", headers_);
        return milter::Status::reject;
    }
    std::string value = settings_->header_value;
    if (!qid.empty()) value += " (queue id " + qid + ")";
    if (modifier.add_header(settings_->header_name, value) != milter::Outcome::ok) {
        log::error().queue_id(qid).kv("action", "tempfail").kv("reason", "add_header failed");
        return milter::Status::tempfail;
    }
    if (!settings_->report_header.empty()) {
        const char* saw = saw_report_header_ ? "yes" : "no";
        if (modifier.add_header("X-Saw-" + settings_->report_header, saw) != milter::Outcome::ok) {
            log::error().queue_id(qid).kv("action", "tempfail").kv("reason", "add_header failed");
            return milter::Status::tempfail;
        }
    }
    auto line = log::info();
    line.queue_id(qid).kv("action", "continue").kv("header", settings_->header_name).kv("headers", headers_);
    if (!settings_->report_header.empty()) line.kv("saw", saw_report_header_);
    return milter::Status::continue_;
}

void ExampleSession::reset() {
    reject_ = false;
    saw_report_header_ = false;
    headers_ = 0;
}

milter::RunnerOptions runner_options(const util::SocketSpec& socket) {
    milter::RunnerOptions o;
    o.name = "mailmoat-example-milter";
    o.socket = socket;
    o.actions.add_headers = true;
    // Only headers and the end of message matter; headers need no answer (the verdict comes at eom).
    o.stages = {milter::Stage::header, milter::Stage::eom};
    o.no_reply = {milter::Stage::header};
    o.macros[milter::MacroStage::eom] = "i";
    return o;
}

}  // namespace mailmoat::example
