// milters/dmarc/dmarc_session.cpp - mailmoat-dmarc session logic: From, inputs, evaluation, disposition, record.
#include "milters/dmarc/dmarc_session.hpp"

#include <algorithm>
#include <cctype>
#include <random>

#include "common/log/logger.hpp"
#include "common/mail/address.hpp"
#include "common/mail/auth_results.hpp"

namespace mailmoat::dmarcd {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool known_spf_result(std::string_view r) {
    return r == "pass" || r == "fail" || r == "softfail" || r == "neutral" || r == "none" || r == "temperror" ||
           r == "permerror";
}

std::string domain_of_address(std::string_view address) {
    const auto at = address.rfind('@');
    const auto d = mail::normalize_domain(at == std::string_view::npos ? address : address.substr(at + 1));
    return d.status == mail::DomainResult::Status::ok ? d.domain : std::string();
}

bool trusted(const std::vector<std::string>& ids, std::string_view id) {
    const auto l = lower(id);
    return std::find(ids.begin(), ids.end(), l) != ids.end();
}

int severity(dmarc::Disposition d) {
    switch (d) {
    case dmarc::Disposition::none: return 0;
    case dmarc::Disposition::quarantine: return 1;
    case dmarc::Disposition::reject: return 2;
    }
    return 0;
}

// Which result wins when several author domains are evaluated: fail over temperror over permerror
// over none over pass (one failing author fails the message).
int badness(dmarc::Result r) {
    switch (r) {
    case dmarc::Result::pass: return 0;
    case dmarc::Result::none: return 1;
    case dmarc::Result::permerror: return 2;
    case dmarc::Result::temperror: return 3;
    case dmarc::Result::fail: return 4;
    }
    return 4;
}

std::string client_key_name(std::string_view host) {
    if (host.empty() || host == "unknown" || host.front() == '[') return {};
    return lower(host);
}

unsigned random_sample() {
    thread_local std::mt19937 gen{std::random_device{}()};
    return static_cast<unsigned>(gen() % 100);
}

}  // namespace

const char* authors_status_name(Authors::Status s) noexcept {
    switch (s) {
    case Authors::Status::one: return "one";
    case Authors::Status::several: return "several";
    case Authors::Status::absent: return "absent";
    case Authors::Status::unparseable: return "unparseable";
    }
    return "unparseable";
}

Authors author_domains(const std::vector<std::string>& from_values, std::size_t fields_seen) {
    Authors a;
    fields_seen = std::max(fields_seen, from_values.size());
    if (fields_seen == 0) {
        a.status = Authors::Status::absent;
        a.why = "no From field";
        return a;
    }
    std::size_t mailboxes = 0;
    for (const auto& v : from_values) {
        // parse_address_list decodes encoded words in display names and normalises IDN domains.
        const auto list = mail::parse_address_list(v);
        if (list.status == mail::AddressList::Status::invalid) {
            a.status = Authors::Status::unparseable;
            a.why = "unparseable From: " + list.error;
            a.domains.clear();
            return a;
        }
        if (!list.groups.empty()) a.group = true;
        for (const auto& m : list.mailboxes) {
            ++mailboxes;
            if (m.domain.empty() || m.domain.front() == '[') {
                a.status = Authors::Status::unparseable;
                a.why = "From address without a domain name";
                a.domains.clear();
                return a;
            }
            if (std::find(a.domains.begin(), a.domains.end(), m.domain) == a.domains.end()) a.domains.push_back(m.domain);
        }
    }
    if (mailboxes == 0) {
        a.status = Authors::Status::absent;
        a.why = a.group ? "From holds an empty group" : "From holds no address";
        return a;
    }
    if (fields_seen == 1 && mailboxes == 1) {
        a.status = Authors::Status::one;
        if (a.group) a.why = "group syntax";
        return a;
    }
    a.status = Authors::Status::several;
    a.why = fields_seen > 1 ? std::to_string(fields_seen) + " From fields" : std::to_string(mailboxes) + " From addresses";
    return a;
}

ReceivedSpf parse_received_spf(std::string_view v) {
    ReceivedSpf r;
    std::size_t i = 0;
    auto skip_ws = [&] { while (i < v.size() && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n')) ++i; };
    skip_ws();
    const auto start = i;
    while (i < v.size() && std::isalpha(static_cast<unsigned char>(v[i]))) ++i;
    const auto result = lower(v.substr(start, i - start));
    if (!known_spf_result(result)) return r;
    r.result = result;
    // key=value pairs after the optional comment; comments skipped anywhere.
    std::string key;
    while (i < v.size()) {
        skip_ws();
        if (i >= v.size()) break;
        if (v[i] == '(') {
            int depth = 0;
            for (; i < v.size(); ++i) {
                if (v[i] == '\\') ++i;
                else if (v[i] == '(') ++depth;
                else if (v[i] == ')' && --depth == 0) { ++i; break; }
            }
            continue;
        }
        if (v[i] == ';') { ++i; continue; }
        const auto ks = i;
        while (i < v.size() && v[i] != '=' && v[i] != ';' && v[i] != ' ' && v[i] != '\t') ++i;
        key = lower(v.substr(ks, i - ks));
        if (i >= v.size() || v[i] != '=') continue;
        ++i;
        std::string value;
        if (i < v.size() && v[i] == '"') {
            for (++i; i < v.size() && v[i] != '"'; ++i) {
                if (v[i] == '\\' && i + 1 < v.size()) ++i;
                value.push_back(v[i]);
            }
            if (i < v.size()) ++i;
        } else {
            const auto vs = i;
            while (i < v.size() && v[i] != ';' && v[i] != ' ' && v[i] != '\t' && v[i] != '\r' && v[i] != '\n') ++i;
            value = std::string(v.substr(vs, i - vs));
        }
        if (key == "identity") r.identity = lower(value);
        else if (key == "envelope-from") r.envelope_from = value;
        else if (key == "helo") r.helo = value;
        else if (key == "receiver") r.receiver = lower(value);
    }
    return r;
}

HeaderInputs inputs_from_headers(const std::vector<mail::HeaderField>& auth_results,
                                 const std::vector<std::string>& received_spf, const std::vector<std::string>& trusted_ids,
                                 std::string_view mail_from_domain) {
    HeaderInputs in;
    for (const auto& f : auth_results) {
        const auto parsed = mail::parse_auth_results(f.raw_value);
        if (parsed.status == mail::ParsedAuthResults::Status::invalid) continue;
        if (!trusted(trusted_ids, parsed.value.authserv_id)) continue;
        for (const auto& r : parsed.value.results) {
            if (r.method == "dkim") {
                dmarc::DkimOutcome d;
                d.result = lower(r.result);
                for (const auto& p : r.properties) {
                    if (p.ptype == "header" && lower(p.property) == "d") d.domain = lower(p.value);
                    if (p.ptype == "header" && lower(p.property) == "s") d.selector = p.value;
                }
                d.human_result = r.reason.empty() ? r.comment : r.reason;
                in.dkim_seen = true;
                if (d.result != "none") in.dkim.push_back(std::move(d));
            } else if (r.method == "spf" && !in.spf) {
                for (const auto& p : r.properties) {
                    if (p.ptype != "smtp" || lower(p.property) != "mailfrom") continue;  // smtp.helo never counts
                    const auto domain = domain_of_address(p.value);
                    if (mail_from_domain.empty() || domain != mail_from_domain || !known_spf_result(lower(r.result))) continue;
                    in.spf = dmarc::SpfOutcome{domain, "mfrom", lower(r.result)};
                }
            }
        }
    }
    if (!in.spf) {
        for (const auto& v : received_spf) {
            const auto r = parse_received_spf(v);
            if (r.result.empty() || !trusted(trusted_ids, r.receiver)) continue;
            // Only the topmost trusted field: one written further down came from elsewhere.
            if (r.identity == "mailfrom" && !mail_from_domain.empty() && domain_of_address(r.envelope_from) == mail_from_domain)
                in.spf = dmarc::SpfOutcome{std::string(mail_from_domain), "mfrom", r.result};
            break;
        }
    }
    return in;
}

milter::Status DmarcSession::on_connect(const milter::ConnectInfo& info) {
    client_ip_ = info.address;
    client_name_ = client_key_name(info.host_name);
    return milter::Status::continue_;
}

milter::Status DmarcSession::on_helo(std::string_view helo) {
    helo_ = std::string(helo.substr(0, 255));
    return milter::Status::continue_;
}

milter::Status DmarcSession::on_envfrom(const std::vector<std::string_view>& args) {
    reset();
    std::string_view a = args.empty() ? std::string_view() : args[0];
    if (a.size() > 1024) a = a.substr(0, 1024);
    sender_ = std::string(a);
    if (!sender_.empty() && sender_.front() == '<') sender_.erase(0, 1);
    if (!sender_.empty() && sender_.back() == '>') sender_.pop_back();
    if (const auto colon = sender_.find(':'); colon != std::string::npos && !sender_.empty() && sender_.front() == '@')
        sender_ = sender_.substr(colon + 1);  // source route
    const auto& st = *rt_->settings;
    if (!client_ip_) skip_reason_ = "no client address";
    else if (std::any_of(st.skip_hosts.begin(), st.skip_hosts.end(), [&](const util::IpNetwork& n) { return n.contains(*client_ip_); }))
        skip_reason_ = "skip-hosts";
    else if (st.skip_authenticated && !auth_authen().empty()) skip_reason_ = "authenticated";
    if (!skip_reason_.empty()) return milter::Status::continue_;
    const auto d = mail::envelope_domain(a);
    if (d.status == mail::DomainResult::Status::ok) mail_from_domain_ = d.domain;
    else if (d.status == mail::DomainResult::Status::invalid) mail_from_invalid_ = true;
    if (rt_->settings->dkim_source == Source::self) {
        dkim::VerifierConfig vc;
        vc.max_signatures = rt_->settings->max_signatures_to_verify;
        vc.key_cache = rt_->key_cache;
        verifier_ = std::make_unique<dkim::Verifier>(*rt_->resolver, *rt_->clock, vc);
    }
    copy_headers_ = rt_->failure_reporter && rt_->settings->failure_reports.enabled;
    if (!rt_->settings->trusted_arc_sealers.empty() && !rt_->arc) {
        arc::VerifierConfig ac;
        ac.key_cache = rt_->key_cache;
        arc_verifier_ = std::make_unique<arc::Verifier>(*rt_->resolver, ac);
    }
    return milter::Status::continue_;
}

milter::Status DmarcSession::on_envrcpt(const std::vector<std::string_view>& args) {
    if (rcpt_domain_.empty() && !args.empty()) {
        const auto d = mail::envelope_domain(args[0]);
        if (d.status == mail::DomainResult::Status::ok) rcpt_domain_ = d.domain;
    }
    return milter::Status::continue_;
}

void DmarcSession::keep(std::vector<mail::HeaderField>& where, std::string_view name, std::string_view value) {
    if (auth_results_.size() + arc_.size() + received_spf_.size() + from_values_.size() >= max_kept_fields ||
        kept_bytes_ + value.size() > max_kept_bytes) {
        overflow_ = true;
        return;
    }
    kept_bytes_ += value.size();
    mail::HeaderField f;
    f.name = std::string(name);
    f.raw_value = wire_value(value);
    where.push_back(std::move(f));
}

milter::Status DmarcSession::on_header(std::string_view name, std::string_view value) {
    if (!skip_reason_.empty()) return milter::Status::continue_;
    if (copy_headers_) header_copy_.add(name, value);
    if (verifier_ || arc_verifier_) {
        const auto wire = wire_value(value);
        if (verifier_) verifier_->add_header(name, wire);
        if (arc_verifier_) arc_verifier_->add_header(name, wire);
    }
    if (mail::header_name_equal(name, "From")) {
        ++from_fields_;
        if (from_values_.size() < 64 && kept_bytes_ + value.size() <= max_kept_bytes) {
            kept_bytes_ += value.size();
            from_values_.emplace_back(value);
        }
    } else if (mail::header_name_equal(name, "Authentication-Results")) {
        keep(auth_results_, name, value);
    } else if (mail::header_name_equal(name, "Received-SPF")) {
        if (received_spf_.size() < 16) received_spf_.emplace_back(value.substr(0, 4096));
    } else if (name.size() > 4 && mail::header_name_equal(name.substr(0, 4), "ARC-")) {
        keep(arc_, name, value);
    }
    return milter::Status::continue_;
}

milter::Status DmarcSession::on_eoh() {
    if (verifier_) verifier_->end_of_headers();
    if (arc_verifier_) {
        arc_verifier_->end_of_headers();
        if (!arc_verifier_->needs_body() && arc_.empty()) arc_verifier_.reset();  // no ARC fields at all
    }
    return milter::Status::continue_;
}

milter::Status DmarcSession::on_body(std::string_view chunk) {
    if (verifier_) verifier_->add_body(chunk);
    if (arc_verifier_) arc_verifier_->add_body(chunk);
    return milter::Status::continue_;
}

milter::Status DmarcSession::on_eom(milter::Modifier& m) {
    const auto& s = *rt_->settings;
    const std::string qid = queue_id();
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(rt_->clock->now().time_since_epoch()).count();
    const std::string ip_text = client_ip_ ? client_ip_->to_string() : std::string();
    if (!skip_reason_.empty()) {
        log::info().queue_id(qid).kv("action", "skip").kv("reason", skip_reason_).kv("ip", ip_text);
        return milter::Status::continue_;
    }

    // 1. Forged Authentication-Results (RFC 8601 §5): fields claiming our authserv-id are removed,
    //    unless our id is trusted - then an earlier milter on this host wrote them (and removed forgeries).
    std::vector<mail::ForgedField> forged;
    if (!trusted(s.trusted_authserv_ids, s.authserv_id)) forged = mail::forged_auth_results(auth_results_, s.authserv_id);
    std::vector<mail::HeaderField> usable_ar;
    for (std::size_t i = 0; i < auth_results_.size(); ++i)
        if (std::none_of(forged.begin(), forged.end(), [&](const mail::ForgedField& f) { return f.field_index == i; }))
            usable_ar.push_back(auth_results_[i]);
    auto remove_forged = [&]() -> bool {
        std::sort(forged.begin(), forged.end(), [](const auto& a, const auto& b) { return a.occurrence > b.occurrence; });
        for (const auto& f : forged)
            if (m.delete_header("Authentication-Results", static_cast<int>(f.occurrence)) != milter::Outcome::ok) return false;
        return true;
    };

    // 2. The author.
    const auto authors = author_domains(from_values_, from_fields_);
    const bool single = authors.status == Authors::Status::one;
    if (!single && (s.reject_multiple_from || authors.domains.size() > max_author_domains)) {
        const char* text = authors.status == Authors::Status::absent        ? "message has no author address in From"
                           : authors.status == Authors::Status::unparseable ? "From header field cannot be parsed"
                                                                             : "message has more than one author (From) address";
        log::info().queue_id(qid).kv("action", "reject").kv("from", authors_status_name(authors.status)).kv("why", authors.why)
            .kv("ip", ip_text);
        (void)m.set_reply("550", "5.7.1", std::string("Rejected: ") + text + " (RFC 5322 3.6.2, DMARC needs exactly one)");
        return milter::Status::reject;
    }

    mail::AuthResults ar;
    ar.authserv_id = s.authserv_id;
    auto add_ar = [&]() -> bool {
        const std::string name = "Authentication-Results";
        const auto field = mail::fold_header(name, mail::auth_results_value(ar), 78, "\n");
        return m.insert_header(0, name, milter_value(std::string_view(field).substr(name.size() + 1))) == milter::Outcome::ok;
    };
    if (authors.domains.empty()) {
        // Not rejected by configuration: nothing to evaluate (no record: a report row needs a header_from).
        const bool invalid = authors.status == Authors::Status::unparseable;
        ar.results.push_back({"dmarc", "", invalid ? "permerror" : "none", authors.why, "", {}});
        if (!remove_forged() || !add_ar()) {
            log::error().queue_id(qid).kv("action", "tempfail").kv("reason", "header change failed");
            return milter::Status::tempfail;
        }
        log::info().queue_id(qid).kv("action", "accept").kv("dmarc", invalid ? "permerror" : "none").kv("why", authors.why)
            .kv("ip", ip_text);
        return milter::Status::continue_;
    }

    // 3. SPF input (MAIL FROM identity only).
    dmarc::SpfOutcome spf_out;
    spf_out.domain = mail_from_domain_;
    spf_out.result = "none";
    bool spf_computed = false;
    std::string spf_text;
    if (s.spf_source == Source::self) {
        if (client_ip_ && !mail_from_invalid_) {
            spf::Evaluator ev(*rt_->resolver, *rt_->clock);
            const auto r = sender_.empty() ? ev.check_helo(*client_ip_, helo_) : ev.check_mail_from(*client_ip_, sender_, helo_);
            spf_out.result = spf::code_name(r.code);
            if (sender_.empty()) {
                spf_out.domain = lower(helo_);
                spf_out.scope = "helo";
            }
            spf_computed = true;
        }
    } else {
        const auto hi = inputs_from_headers(usable_ar, received_spf_, s.trusted_authserv_ids, mail_from_domain_);
        if (hi.spf) spf_out = *hi.spf;
    }

    // 4. DKIM input.
    std::vector<dmarc::DkimOutcome> dkim_out;
    if (verifier_) {
        for (const auto& r : verifier_->finish()) {
            dmarc::DkimOutcome d;
            d.domain = lower(r.domain);
            d.selector = r.selector;
            d.result = dkim::result_name(r.result);
            d.human_result = r.reason;
            dkim_out.push_back(std::move(d));
        }
    } else {
        dkim_out = inputs_from_headers(usable_ar, {}, s.trusted_authserv_ids, mail_from_domain_).dkim;
    }

    // 5. ARC (RFC 8617 §5.2): the chain status and the newest sealer.
    std::optional<ArcVerdict> arc;
    std::optional<mail::AuthResult> arc_ar;
    if (arc_verifier_) {
        const auto r = arc_verifier_->finish();
        ArcVerdict v;
        v.status = r.status == arc::ChainStatus::pass ? ArcVerdict::Status::pass
                   : r.status == arc::ChainStatus::none ? ArcVerdict::Status::none
                                                        : ArcVerdict::Status::fail;
        if (!r.sealers.empty()) v.sealer = r.sealers.back();
        arc = v;
        if (r.instances > 0) arc_ar = arc::auth_result(r, ip_text);
    }

    // 6. Evaluate each author domain.
    struct One {
        std::string domain;
        dmarc::Evaluation e;
        dmarc::Disposition applied = dmarc::Disposition::none;
        std::vector<dmarc::Override> overrides;
    };
    std::vector<One> evals;
    const unsigned sample = rt_->sample ? rt_->sample() : random_sample();
    for (const auto& domain : authors.domains) {
        dmarc::Inputs in;
        in.from_domain = domain;
        in.mail_from_domain = spf_out.scope == "mfrom" ? mail_from_domain_ : std::string();
        in.spf_result = spf_out.scope == "mfrom" ? spf_out.result : "none";
        in.dkim = dkim_out;
        One one;
        one.domain = domain;
        one.e = rt_->engine.evaluate(in, *rt_->resolver, rt_->options, sample);
        evals.push_back(std::move(one));
    }
    rt_->counters->evaluations.fetch_add(evals.size(), std::memory_order_relaxed);

    dmarc::Result worst = dmarc::Result::pass;
    for (const auto& o : evals)
        if (badness(o.e.result) > badness(worst)) worst = o.e.result;
    if (worst == dmarc::Result::temperror && s.tempfail_on_dns_error) {
        const auto& d = std::find_if(evals.begin(), evals.end(), [](const One& o) { return o.e.result == dmarc::Result::temperror; })->domain;
        log::info().queue_id(qid).kv("action", "tempfail").kv("dmarc", "temperror").kv("header_from", d).kv("ip", ip_text);
        (void)m.set_reply("451", "4.7.5", "DMARC policy lookup for " + d + " failed temporarily, try again later");
        return milter::Status::tempfail;
    }

    // 7. Local policy: testing mode, overrides, what is enforced.
    std::optional<dmarc::Override> table_override;
    bool table_checked = false;
    auto lookup_override = [&]() -> std::optional<dmarc::Override> {
        if (table_checked) return table_override;
        table_checked = true;
        if (!rt_->overrides) return std::nullopt;
        std::vector<std::pair<std::string, table::Match>> tries;
        if (client_ip_) tries.emplace_back("client", table::lookup_client(*rt_->overrides, client_ip_->to_string()));
        if (!client_name_.empty()) tries.emplace_back("client_name", table::lookup_domain(*rt_->overrides, client_name_));
        if (!mail_from_domain_.empty()) tries.emplace_back("mail_from", table::lookup_domain(*rt_->overrides, mail_from_domain_));
        for (const auto& [what, match] : tries) {
            if (match.status == table::Lookup::Status::tempfail) {
                log::warning().queue_id(qid).kv("table", rt_->overrides->name()).kv("key", match.key).kv("problem", "lookup failed");
                continue;
            }
            if (!match.found()) continue;
            const auto v = parse_override_value(match.value);
            if (v.reason.empty()) {
                log::warning().queue_id(qid).kv("table", rt_->overrides->name()).kv("key", match.key)
                    .kv("problem", "value is not an override reason").kv("value", match.value);
                continue;
            }
            table_override = dmarc::Override{v.reason, v.comment.empty() ? what + " " + match.key : v.comment};
            return table_override;
        }
        return std::nullopt;
    };
    for (auto& o : evals) {
        if (o.e.result != dmarc::Result::fail) continue;
        // The engine already applied RFC 9989 t=y (and a legacy pct= sample that missed): the next
        // less strict policy.
        const auto d = o.e.disposition;
        if (d == dmarc::Disposition::none) {
            o.applied = d;
            continue;
        }
        if (auto ov = lookup_override()) {
            o.overrides.push_back(*ov);
            o.applied = dmarc::Disposition::none;
            continue;
        }
        if (!s.trusted_arc_sealers.empty() && (arc || rt_->arc)) {
            if (!arc) arc = rt_->arc(arc_);
            if (arc->status == ArcVerdict::Status::pass &&
                std::find(s.trusted_arc_sealers.begin(), s.trusted_arc_sealers.end(), lower(arc->sealer)) != s.trusted_arc_sealers.end()) {
                o.overrides.push_back({"trusted_forwarder", "arc=pass sealer " + lower(arc->sealer)});
                o.applied = dmarc::Disposition::none;
                continue;
            }
        }
        const bool enforced = d == dmarc::Disposition::reject ? s.enforce_reject : s.enforce_quarantine;
        if (!enforced) {
            o.overrides.push_back({"local_policy", std::string(dmarc::disposition_name(d)) + " not enforced"});
            o.applied = dmarc::Disposition::none;
            continue;
        }
        o.applied = d;
    }
    const One* strictest = &evals.front();
    for (const auto& o : evals)
        if (severity(o.applied) > severity(strictest->applied) ||
            (severity(o.applied) == severity(strictest->applied) && badness(o.e.result) > badness(strictest->e.result)))
            strictest = &o;

    // 8. Record every evaluation (never blocks mail).
    std::string store_state = rt_->store ? "ok" : "none";
    if (rt_->store) {
        for (const auto& o : evals) {
            dmarc::ReportRecord rec;
            rec.time = now;
            rec.source_ip = ip_text;
            rec.header_from = o.domain;
            rec.envelope_from = mail_from_domain_;
            rec.envelope_to = rcpt_domain_;
            if (rt_->engine.fill_record) rt_->engine.fill_record(o.e, rec);
            rec.disposition = dmarc::disposition_name(o.applied);
            rec.overrides.insert(rec.overrides.end(), o.overrides.begin(), o.overrides.end());
            rec.dkim = dkim_out;
            if (!spf_out.domain.empty()) rec.spf.push_back(spf_out);
            if (rt_->writer) {
                // Written a moment later by the writer thread, which logs and counts a failure.
                if (!rt_->writer->submit(std::move(rec), qid)) {
                    log::warning().queue_id(qid).kv("store", rt_->store->describe()).kv("error", "store queue full")
                        .kv("store_failures", rt_->counters->store_failures.load(std::memory_order_relaxed))
                        .msg("evaluation not recorded");
                    store_state = "failed";
                } else if (store_state == "ok") {
                    store_state = "queued";
                }
                continue;
            }
            const auto r = rt_->store->add(rec);
            if (r.status != store::Status::ok) {
                const auto n = rt_->counters->store_failures.fetch_add(1, std::memory_order_relaxed) + 1;
                log::warning().queue_id(qid).kv("store", rt_->store->describe()).kv("error", r.error).kv("store_failures", n)
                    .msg("evaluation not recorded");
                store_state = "failed";
            }
        }
    }

    // 8b. Failure reports (RFC 9991): decided here, built and sent by the reporter's worker thread.
    if (copy_headers_) {
        FailureMessage fm{qid, ip_text, sender_, mail_from_domain_, s.authserv_id,
                          delivery_result(strictest->applied, s.quarantine_action), spf_out, dkim_out};
        std::vector<std::pair<std::string, const dmarc::Evaluation*>> evaluated;
        for (const auto& o : evals) evaluated.emplace_back(o.domain, &o.e);
        offer_failure_reports(*rt_->failure_reporter, rt_->settings, rt_->resolver, fm, header_copy_.fields(), evaluated);
    }

    // 9. Act and log one line.
    std::string dkim_summary;
    for (const auto& d : dkim_out) {
        if (!dkim_summary.empty()) dkim_summary += ',';
        dkim_summary += (d.domain.empty() ? "?" : d.domain) + "=" + d.result;
    }
    std::string overrides_text;
    for (const auto& o : evals)
        for (const auto& ov : o.overrides) overrides_text += (overrides_text.empty() ? "" : ",") + ov.type;
    auto log_decision = [&](const char* action) {
        log::info().queue_id(qid).kv("action", action).kv("header_from", strictest->domain)
            .kv("dmarc", dmarc::result_name(strictest->e.result))
            .kv("p", strictest->e.lookup.policy.p).kv("policy", strictest->e.applied_policy)
            .kv("dis", dmarc::disposition_name(strictest->applied)).kv("testing", strictest->e.testing)
            .kv("spf", spf_out.result).kv("spf_domain", spf_out.domain).kv("spf_aligned", strictest->e.spf_aligned)
            .kv("dkim", dkim_summary.empty() ? std::string("none") : dkim_summary).kv("dkim_aligned", strictest->e.dkim_aligned)
            .kv("override", overrides_text.empty() ? std::string("none") : overrides_text)
            .kv("ip", ip_text).kv("authors", evals.size()).kv("store", store_state)
            .kv("reason", strictest->e.reason);
    };

    if (strictest->applied == dmarc::Disposition::reject) {
        log_decision("reject");
        std::string why = strictest->e.reason.empty() ? std::string() : " (" + strictest->e.reason + ")";
        (void)m.set_reply("550", "5.7.1", "Message rejected: the DMARC policy of " + strictest->domain +
                                              " says reject and the message failed authentication" + why);
        return milter::Status::reject;
    }

    for (const auto& o : evals) {
        mail::AuthResult r;
        r.method = "dmarc";
        r.result = dmarc::result_name(o.e.result);
        const auto& pol = o.e.lookup.policy;
        const bool has_policy = o.e.lookup.status == dmarc::Result::pass;
        r.comment = "p=" + (has_policy ? pol.p : std::string("none")) + " dis=" + lower(dmarc::disposition_name(o.applied));
        if (o.e.result != dmarc::Result::pass && !o.e.reason.empty()) r.comment += "; " + o.e.reason;
        if (!o.overrides.empty()) r.comment += "; override " + o.overrides.front().type;
        r.properties.push_back({"header", "from", o.domain});
        if (has_policy) r.properties.push_back({"policy", "dmarc", o.e.lookup.effective_policy.empty() ? pol.p : o.e.lookup.effective_policy});
        ar.results.push_back(std::move(r));
    }
    if (arc_ar) ar.results.push_back(*arc_ar);
    if (s.add_spf_dkim_results) {
        if (spf_computed) {
            mail::AuthResult r;
            r.method = "spf";
            r.result = spf_out.result;
            if (spf_out.scope == "helo") r.properties.push_back({"smtp", "helo", spf_out.domain});
            else r.properties.push_back({"smtp", "mailfrom", sender_});
            ar.results.push_back(std::move(r));
        }
        if (verifier_) {
            for (const auto& d : dkim_out) {
                mail::AuthResult r;
                r.method = "dkim";
                r.result = d.result;
                if (d.result != "pass" && !d.human_result.empty()) r.reason = d.human_result;
                if (!d.domain.empty()) r.properties.push_back({"header", "d", d.domain});
                if (!d.selector.empty()) r.properties.push_back({"header", "s", d.selector});
                ar.results.push_back(std::move(r));
            }
            if (dkim_out.empty()) ar.results.push_back({"dkim", "", "none", "", "", {}});
        }
    }
    if (!remove_forged() || !add_ar()) {
        log::error().queue_id(qid).kv("action", "tempfail").kv("reason", "header change failed");
        return milter::Status::tempfail;
    }
    if (strictest->applied == dmarc::Disposition::quarantine) {
        const std::string why = "DMARC policy of " + strictest->domain + " says quarantine";
        if (s.quarantine_action == QuarantineAction::hold) {
            if (m.quarantine(why) != milter::Outcome::ok) {
                log::error().queue_id(qid).kv("action", "tempfail").kv("reason", "quarantine failed");
                return milter::Status::tempfail;
            }
            log_decision("hold");
        } else {
            if (m.add_header(s.quarantine_header, why) != milter::Outcome::ok) {
                log::error().queue_id(qid).kv("action", "tempfail").kv("reason", "add_header failed");
                return milter::Status::tempfail;
            }
            log_decision("quarantine-header");
        }
        return milter::Status::continue_;
    }
    log_decision("accept");
    return milter::Status::continue_;
}

void DmarcSession::reset() {
    skip_reason_.clear();
    sender_.clear();
    mail_from_domain_.clear();
    mail_from_invalid_ = false;
    rcpt_domain_.clear();
    from_values_.clear();
    from_fields_ = 0;
    auth_results_.clear();
    received_spf_.clear();
    arc_.clear();
    kept_bytes_ = 0;
    overflow_ = false;
    verifier_.reset();
    arc_verifier_.reset();
    copy_headers_ = false;
    header_copy_.clear();
}

milter::RunnerOptions runner_options(const util::SocketSpec& socket) {
    milter::RunnerOptions o;
    o.name = "mailmoat-dmarc";
    o.socket = socket;
    o.actions.add_headers = true;
    o.actions.change_headers = true;
    o.actions.quarantine = true;
    o.stages = {milter::Stage::connect, milter::Stage::helo, milter::Stage::envfrom, milter::Stage::envrcpt,
                milter::Stage::header, milter::Stage::eoh, milter::Stage::body, milter::Stage::eom};
    o.no_reply = {milter::Stage::connect, milter::Stage::helo, milter::Stage::envrcpt, milter::Stage::header,
                  milter::Stage::body};
    o.macros[milter::MacroStage::envfrom] = "{auth_authen}";
    o.macros[milter::MacroStage::eom] = "i";
    return o;
}

}  // namespace mailmoat::dmarcd
