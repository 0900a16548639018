// milters/checks/checks_session.cpp - mailmoat-checks milter session (header_checks(5) actions over milter).
#include "milters/checks/checks_session.hpp"

#include <algorithm>

#include "common/log/logger.hpp"

namespace mailmoat::checksd {
namespace {

std::string strip_brackets(std::string_view a) {
    if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
    return std::string(a);
}

}  // namespace

std::pair<std::string, std::string> split_header(std::string_view text) {
    const std::size_t colon = text.find(':');
    if (colon == std::string_view::npos) return {std::string(text), {}};
    std::string_view name = text.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    std::string_view value = text.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    return {std::string(name), std::string(value)};
}

ChecksSession::ChecksSession(std::shared_ptr<const Settings> settings) : settings_(std::move(settings)) {}

void ChecksSession::start() {
    if (!scanner_) {
        scanner_.emplace(settings_->rules);
        // Postfix sends the client address with connect and as {client_addr}; either will do.
        std::string ip = client_ip_.empty() ? client_addr() : client_ip_;
        scanner_->envelope(ip, mail_from_.empty() ? macro_or_empty("{mail_addr}") : mail_from_);
    }
}

milter::Status ChecksSession::on_connect(const milter::ConnectInfo& info) {
    client_ip_ = info.address ? info.address->to_string() : std::string();
    return milter::Status::continue_;
}

milter::Status ChecksSession::on_envfrom(const std::vector<std::string_view>& args) {
    mail_from_ = args.empty() ? std::string() : std::string(args[0].substr(0, 2048));
    return milter::Status::continue_;
}

void ChecksSession::reset() {
    scanner_.reset();
    mail_from_.clear();
    recipients_.clear();
    body_.clear();
    body_complete_ = true;
}

milter::Status ChecksSession::on_envrcpt(const std::vector<std::string_view>& args) {
    if (!args.empty() && recipients_.size() < settings_->max_recipients) recipients_.push_back(strip_brackets(args[0]));
    return milter::Status::continue_;
}

milter::Status ChecksSession::on_header(std::string_view name, std::string_view value) {
    start();
    // Postfix gives folded values with "\n" (as its header_checks see them); drop any CR.
    std::string logical(name);
    logical += ": ";
    for (char c : value)
        if (c != '\r') logical.push_back(c);
    scanner_->header(logical);
    return milter::Status::continue_;
}

milter::Status ChecksSession::on_eoh() {
    start();
    scanner_->end_of_headers();
    return milter::Status::continue_;
}

milter::Status ChecksSession::on_body(std::string_view chunk) {
    start();
    if (body_complete_) {
        if (body_.size() + chunk.size() <= settings_->body_buffer_limit) body_.append(chunk);
        else {
            body_complete_ = false;
            body_.clear();
            body_.shrink_to_fit();
        }
    }
    if (!scanner_->done()) scanner_->body(chunk);
    return milter::Status::continue_;
}

void ChecksSession::log_outcome(const checks::Outcome& o) const {
    const std::string qid = queue_id();
    for (const checks::Hit& h : o.hits) {
        auto line = h.action.kind == checks::ActionKind::warn ? log::warning() : log::info();
        line.kv("queue_id", qid)
            .kv("check", checks::input_class_name(h.input_class))
            .kv("rule", h.where)
            .kv("action", checks::action_name(h.action.kind));
        if (!h.action.text.empty()) line.kv("text", h.action.text);
        line.kv("part", static_cast<std::uint64_t>(h.part)).kv("input", h.input).msg("rule matched");
    }
    for (const std::string& p : o.problems) log::warning().kv("queue_id", qid).kv("problem", p).msg("checks problem");
    if (!o.hits.empty() || o.time_limit_reached)
        log::notice()
            .kv("queue_id", qid)
            .kv("result", checks::final_name(o.final))
            .kv("hits", static_cast<std::uint64_t>(o.hits.size()))
            .kv("hold", o.hold.has_value())
            .kv("header_edits", static_cast<std::uint64_t>(o.header_edits.size()))
            .kv("body_edits", static_cast<std::uint64_t>(o.body_edits.size()))
            .msg("decision");
}

void ChecksSession::apply_header_edits(milter::Modifier& m, const checks::Outcome& o) const {
    // Last header first, so that positions and occurrence numbers of earlier headers stay valid.
    std::vector<const checks::HeaderEdit*> edits;
    for (const auto& e : o.header_edits) edits.push_back(&e);
    std::stable_sort(edits.begin(), edits.end(),
                     [](const auto* a, const auto* b) { return a->position > b->position; });
    for (const checks::HeaderEdit* e : edits) {
        // Milter header index 0 is above Postfix's own (hidden) Received header: primary header p is at p+1.
        const int index = static_cast<int>(e->position) + 1;
        milter::Outcome r = milter::Outcome::ok;
        switch (e->kind) {
        case checks::ActionKind::prepend: {
            auto [n, v] = split_header(e->text);
            r = m.insert_header(index, n, v);
            break;
        }
        case checks::ActionKind::replace: {
            auto [n, v] = split_header(e->text);
            if (n.size() == e->name.size() &&
                std::equal(n.begin(), n.end(), e->name.begin(), [](char a, char b) {
                    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
                })) {
                r = m.change_header(e->name, static_cast<int>(e->occurrence), v);
            } else {
                r = m.insert_header(index, n, v);
                if (r == milter::Outcome::ok) r = m.delete_header(e->name, static_cast<int>(e->occurrence));
            }
            break;
        }
        case checks::ActionKind::ignore:
        case checks::ActionKind::strip: r = m.delete_header(e->name, static_cast<int>(e->occurrence)); break;
        default: break;
        }
        if (r != milter::Outcome::ok)
            log::warning().kv("queue_id", queue_id()).kv("header", e->name).kv("action", checks::action_name(e->kind))
                .msg("header change refused by the MTA");
    }
}

milter::Status ChecksSession::on_eom(milter::Modifier& m) {
    start();
    const checks::Outcome& o = scanner_->finish();
    log_outcome(o);
    using F = checks::Outcome::Final;
    if (o.final == F::tempfail) {
        (void)m.set_reply("451", "4.3.0", "Error: checks table lookup problem");
        return milter::Status::tempfail;
    }
    if (o.final == F::reject) {
        (void)m.set_reply(o.reply.code, o.reply.status, o.reply.text.empty() ? o.reply.status : o.reply.text);
        return o.reply.code[0] == '4' ? milter::Status::tempfail : milter::Status::reject;
    }
    if (o.final == F::discard) return milter::Status::discard;
    if (o.hold && m.quarantine(o.hold->empty() ? "held by header/body checks" : *o.hold) != milter::Outcome::ok)
        log::warning().kv("queue_id", queue_id()).msg("quarantine refused by the MTA");
    if (o.redirect) {
        // Postfix's qmgr sends a redirected message to the REDIRECT address only, BCC recipients included.
        for (const auto& r : recipients_) (void)m.del_rcpt("<" + r + ">");
        (void)m.add_rcpt("<" + *o.redirect + ">");
    } else {
        for (const auto& b : o.bcc) (void)m.add_rcpt("<" + b + ">");
    }
    apply_header_edits(m, o);
    if (!o.body_edits.empty()) {
        if (body_complete_) {
            if (m.replace_body(checks::rewrite_body(body_, o.body_edits, settings_->rules->line_length_limit)) !=
                milter::Outcome::ok)
                log::warning().kv("queue_id", queue_id()).msg("body replacement refused by the MTA");
        } else {
            log::warning().kv("queue_id", queue_id()).kv("limit", static_cast<std::uint64_t>(settings_->body_buffer_limit))
                .msg("body larger than body-buffer-limit: body changes not made");
        }
    }
    return milter::Status::continue_;
}

}  // namespace mailmoat::checksd
