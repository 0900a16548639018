// milters/dkim/dkim_session.cpp - mailmoat-dkim session logic: choose sign or verify, stream, modify at eom.
#include "milters/dkim/dkim_session.hpp"

#include <algorithm>

#include "common/log/logger.hpp"
#include "common/mail/auth_results.hpp"

namespace mailmoat::dkimd {
namespace {

bool has_sign(Mode m) { return m != Mode::verify; }
bool has_verify(Mode m) { return m != Mode::sign; }

// Skips an RFC 5322 comment starting at i ('('), nested; returns the index after it.
std::size_t skip_comment(std::string_view v, std::size_t i) {
    int depth = 0;
    for (; i < v.size(); ++i) {
        if (v[i] == '\\') ++i;
        else if (v[i] == '(') ++depth;
        else if (v[i] == ')' && --depth == 0) return i + 1;
    }
    return v.size();
}

}  // namespace

std::string first_from_address(std::string_view v) {
    // Outside quoted strings and comments: the first <addr-spec>, else the first bare word with '@'.
    std::string bare;
    std::string word;
    bool quoted = false;
    for (std::size_t i = 0; i < v.size(); ++i) {
        const char c = v[i];
        if (quoted) {
            if (c == '\\') ++i;
            else if (c == '"') quoted = false;
            continue;
        }
        if (c == '"') {
            quoted = true;
        } else if (c == '(') {
            i = skip_comment(v, i) - 1;
        } else if (c == '<') {
            const auto end = v.find('>', i);
            if (end == std::string_view::npos) return {};
            std::string a(v.substr(i + 1, end - i - 1));
            if (const auto colon = a.find(':'); colon != std::string::npos) a = a.substr(colon + 1);  // obs-route
            a.erase(std::remove_if(a.begin(), a.end(), [](char x) { return x == ' ' || x == '\t' || x == '\r' || x == '\n'; }), a.end());
            return a.find('@') != std::string::npos ? a : std::string();
        } else if (c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';') {
            if (bare.empty() && word.find('@') != std::string::npos) bare = word;
            word.clear();
        } else {
            word.push_back(c);
        }
    }
    if (bare.empty() && word.find('@') != std::string::npos) bare = word;
    return bare;
}

milter::Status DkimSession::on_connect(const milter::ConnectInfo& info) {
    connected_ = true;
    internal_client_ = false;
    if (info.address)
        internal_client_ = std::any_of(rt_->settings->internal_hosts.begin(), rt_->settings->internal_hosts.end(),
                                       [&](const util::IpNetwork& n) { return n.contains(*info.address); });
    return milter::Status::continue_;
}

milter::Status DkimSession::on_envfrom(const std::vector<std::string_view>& args) {
    (void)args;
    reset();
    const auto& s = *rt_->settings;
    if (!connected_) {
        // The session was made after the connect event (its first creation failed): whether to sign
        // or verify is unknown, so this message is tempfailed rather than handled the wrong way.
        log::error().queue_id(queue_id()).kv("action", "tempfail").kv("reason", "no connect event for this session");
        (void)set_reply("451", "4.7.0", "DKIM milter not ready, try again later");
        return milter::Status::tempfail;
    }
    authenticated_ = !auth_authen().empty();
    if ((internal_client_ || authenticated_) && has_sign(s.mode)) {
        action_ = Action::sign;
    } else if (has_verify(s.mode)) {  // external mail, or everything in mode v
        action_ = Action::verify;
        dkim::VerifierConfig vc;
        vc.max_signatures = s.max_signatures_to_verify;
        vc.key_cache = rt_->key_cache;
        verifier_ = std::make_unique<dkim::Verifier>(*rt_->resolver, *rt_->clock, vc);
    } else {
        action_ = Action::none;
    }
    return milter::Status::continue_;
}

milter::Status DkimSession::on_header(std::string_view name, std::string_view value) {
    if (action_ == Action::none) return milter::Status::continue_;
    // Signing keeps the fields it may sign (From among them: it picks the key), and converts nothing
    // else; verifying feeds every field to the verifier and keeps only the Authentication-Results
    // fields (forged ones are deleted at the end).
    if (action_ == Action::sign) {
        const auto& st = *rt_->settings;
        auto listed = [&](const std::vector<std::string>& names) {
            return std::any_of(names.begin(), names.end(), [&](const std::string& n) { return mail::header_name_equal(n, name); });
        };
        if (!listed(st.sign_headers) && !listed(st.oversign_headers)) return milter::Status::continue_;
    }
    std::string raw = wire_value(value);
    if (verifier_) verifier_->add_header(name, raw);
    if (action_ == Action::verify && !mail::header_name_equal(name, "Authentication-Results"))
        return milter::Status::continue_;
    if (headers_.size() >= max_kept_headers || header_bytes_ + name.size() + raw.size() > max_kept_header_bytes) {
        header_overflow_ = true;
        return milter::Status::continue_;
    }
    header_bytes_ += name.size() + raw.size();
    mail::HeaderField f;
    f.name = std::string(name);
    f.raw_value = std::move(raw);
    headers_.push_back(std::move(f));
    return milter::Status::continue_;
}

milter::Status DkimSession::on_eoh() {
    if (action_ == Action::verify) {
        verifier_->end_of_headers();
        return milter::Status::continue_;
    }
    if (action_ != Action::sign) return milter::Status::continue_;
    const auto& s = *rt_->settings;
    if (header_overflow_) {
        no_sign_reason_ = "too many header fields";
        return milter::Status::continue_;
    }
    const auto from = std::find_if(headers_.begin(), headers_.end(),
                                   [](const mail::HeaderField& f) { return mail::header_name_equal(f.name, "From"); });
    if (from == headers_.end()) {
        no_sign_reason_ = "no From header";
        return milter::Status::continue_;
    }
    const auto address = first_from_address(from->raw_value);
    if (address.empty()) {
        no_sign_reason_ = "no address in From";
        return milter::Status::continue_;
    }
    choices_ = choose_keys(s, address);
    if (choices_.empty()) {
        no_sign_reason_ = "no signing-table match for the From address";
        return milter::Status::continue_;
    }
    for (const auto& c : choices_) {
        dkim::SignerConfig sc;
        sc.domain = c.domain;
        sc.selector = c.key->selector;
        sc.header_canon = s.header_canon;
        sc.body_canon = s.body_canon;
        sc.sign_headers = s.sign_headers;
        sc.oversign_headers = s.oversign_headers;
        auto signer = std::make_unique<dkim::Signer>(sc, c.key->key, *rt_->clock);
        for (const auto& h : headers_) signer->add_header(h.name, h.raw_value);
        signers_.push_back(std::move(signer));
    }
    return milter::Status::continue_;
}

milter::Status DkimSession::on_body(std::string_view chunk) {
    if (verifier_) verifier_->add_body(chunk);
    for (auto& sg : signers_) sg->add_body(chunk);
    return milter::Status::continue_;
}

milter::Status DkimSession::sign_eom(milter::Modifier& m, const std::string& qid) {
    if (signers_.empty()) {
        log::info().queue_id(qid).kv("action", "none").kv("mode", "sign").kv("reason", no_sign_reason_);
        return milter::Status::continue_;
    }
    std::vector<dkim::SignResult> results;
    for (std::size_t i = 0; i < signers_.size(); ++i) {
        auto r = signers_[i]->finish();
        if (r.status == dkim::SignStatus::too_many_headers) {
            // Retrying cannot help: pass the message on unsigned and say why.
            log::warning().queue_id(qid).kv("action", "none").kv("mode", "sign").kv("d", choices_[i].domain)
                .kv("s", choices_[i].key->selector).kv("reason", r.error);
            return milter::Status::continue_;
        }
        if (r.status != dkim::SignStatus::ok) {
            log::error().queue_id(qid).kv("action", "tempfail").kv("mode", "sign").kv("d", choices_[i].domain)
                .kv("s", choices_[i].key->selector).kv("status", dkim::sign_status_name(r.status)).kv("error", r.error);
            (void)m.set_reply("451", "4.7.0", "DKIM signing failed, try again later");
            return milter::Status::tempfail;
        }
        results.push_back(std::move(r));
    }
    // Insert bottom-up so that the first choice ends on top; nothing else is touched.
    for (std::size_t i = results.size(); i-- > 0;) {
        if (m.insert_header(0, results[i].header_name, milter_value(results[i].value)) != milter::Outcome::ok) {
            log::error().queue_id(qid).kv("action", "tempfail").kv("mode", "sign").kv("reason", "insert_header failed");
            return milter::Status::tempfail;
        }
    }
    std::string sigs;
    for (const auto& c : choices_) {
        if (!sigs.empty()) sigs += ',';
        sigs += c.domain + "/" + c.key->selector + "/" + c.key->key->algorithm();
    }
    log::info().queue_id(qid).kv("action", "sign").kv("auth", authenticated_).kv("signatures", sigs);
    return milter::Status::continue_;
}

milter::Status DkimSession::verify_eom(milter::Modifier& m, const std::string& qid) {
    const auto& s = *rt_->settings;
    const auto results = verifier_->finish();
    mail::AuthResults ar;
    ar.authserv_id = s.authserv_id;
    bool temperror = false;
    std::string summary;
    for (const auto& r : results) {
        mail::AuthResult a;
        a.method = "dkim";
        a.result = dkim::result_name(r.result);
        if (r.result != dkim::Result::pass && !r.reason.empty()) a.reason = r.reason;
        if (!r.domain.empty()) a.properties.push_back({"header", "d", r.domain});
        if (!r.selector.empty()) a.properties.push_back({"header", "s", r.selector});
        if (!r.identity.empty()) a.properties.push_back({"header", "i", r.identity});
        if (!r.b_text.empty()) a.properties.push_back({"header", "b", r.b_text.substr(0, 8)});
        if (r.result == dkim::Result::temperror) temperror = true;
        ar.results.push_back(std::move(a));
        if (!summary.empty()) summary += ',';
        summary += (r.domain.empty() ? "?" : r.domain) + "/" + (r.selector.empty() ? "?" : r.selector) + "=" +
                   dkim::result_name(r.result);
    }
    if (results.empty()) {
        ar.results.push_back({"dkim", "", "none", "", "", {}});
        summary = "none";
    }
    if (temperror && s.tempfail_on_dns_error) {
        log::info().queue_id(qid).kv("action", "tempfail").kv("mode", "verify").kv("dkim", summary);
        (void)m.set_reply("451", "4.7.5", "DKIM key lookup failed temporarily, try again later");
        return milter::Status::tempfail;
    }
    // RFC 8601 §5: remove fields claiming our authserv-id; from the last so occurrences stay valid.
    auto forged = mail::forged_auth_results(headers_, s.authserv_id);
    std::sort(forged.begin(), forged.end(), [](const auto& a, const auto& b) { return a.occurrence > b.occurrence; });
    for (const auto& f : forged) {
        if (m.delete_header("Authentication-Results", static_cast<int>(f.occurrence)) != milter::Outcome::ok) {
            log::error().queue_id(qid).kv("action", "tempfail").kv("reason", "delete_header failed");
            return milter::Status::tempfail;
        }
    }
    // Folded (LF + space, the milter protocol's form) so that many results never exceed Postfix's line limit.
    const std::string name = "Authentication-Results";
    const auto field = mail::fold_header(name, mail::auth_results_value(ar), 78, "\n");
    if (m.insert_header(0, name, milter_value(std::string_view(field).substr(name.size() + 1))) != milter::Outcome::ok) {
        log::error().queue_id(qid).kv("action", "tempfail").kv("reason", "insert_header failed");
        return milter::Status::tempfail;
    }
    log::info().queue_id(qid).kv("action", "verify").kv("dkim", summary).kv("removed_ar", forged.size());
    return milter::Status::continue_;
}

milter::Status DkimSession::on_eom(milter::Modifier& modifier) {
    const std::string qid = queue_id();
    switch (action_) {
    case Action::sign: return sign_eom(modifier, qid);
    case Action::verify: return verify_eom(modifier, qid);
    case Action::none: break;
    }
    log::info().queue_id(qid).kv("action", "none").kv("mode", mode_name(rt_->settings->mode))
        .kv("internal", internal_client_ || authenticated_);
    return milter::Status::continue_;
}

void DkimSession::reset() {
    action_ = Action::none;
    authenticated_ = false;
    headers_.clear();
    header_bytes_ = 0;
    header_overflow_ = false;
    signers_.clear();
    choices_.clear();
    no_sign_reason_.clear();
    verifier_.reset();
}

milter::RunnerOptions runner_options(const util::SocketSpec& socket) {
    milter::RunnerOptions o;
    o.name = "mailmoat-dkim";
    o.socket = socket;
    o.actions.add_headers = true;
    o.actions.change_headers = true;
    o.stages = {milter::Stage::connect, milter::Stage::envfrom, milter::Stage::header, milter::Stage::eoh,
                milter::Stage::body, milter::Stage::eom};
    // Every callback but end-of-message always continues (a failure there is kept and given at end
    // of message), so the MTA is told not to wait for those replies: one reply per message besides
    // the negotiation, instead of four round trips that cost both Postfix and us a wake-up each.
    o.no_reply = {milter::Stage::connect, milter::Stage::envfrom, milter::Stage::header, milter::Stage::eoh,
                  milter::Stage::body};
    o.macros[milter::MacroStage::envfrom] = "{auth_authen}";
    o.macros[milter::MacroStage::eom] = "i";
    return o;
}

}  // namespace mailmoat::dkimd
