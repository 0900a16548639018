// common/dmarc/evaluator.cpp - RFC 9989 policy discovery (§4.10 DNS tree walk, §4.10.1), organisational
// domains (§4.10.2, or RFC 7489 §3.2 with the PSL), identifier alignment (§4.4) and disposition (§4.7).
#include "common/dmarc/evaluator.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

#include "common/dmarc/domain_name.hpp"
#include "common/dmarc/record.hpp"

namespace mailmoat::dmarc {

const char* result_name(Result r) noexcept {
    switch (r) {
        case Result::none: return "none";
        case Result::pass: return "pass";
        case Result::fail: return "fail";
        case Result::temperror: return "temperror";
        case Result::permerror: return "permerror";
    }
    return "none";
}

const char* disposition_name(Disposition d) noexcept {
    switch (d) {
        case Disposition::none: return "none";
        case Disposition::quarantine: return "quarantine";
        case Disposition::reject: return "reject";
    }
    return "none";
}

namespace {

/// RFC 9989 §4.10: at most this many queries per walk (the first at the name itself).
constexpr std::size_t max_walk_labels = 7;  // a name with >= 8 labels jumps to 7 labels
constexpr std::size_t max_dkim_signatures = 16;  // signatures looked at per message; more are ignored

/// What one `_dmarc.<name>` TXT query gave.
struct NameResult {
    enum class Kind { record, none, nxdomain, tempfail, multiple };
    Kind kind = Kind::none;
    QueryTrace trace;
    Record record;  // kind == record
};

/// The queries of one evaluation, each name asked once (the per-identifier walks share names).
class Walker {
public:
    explicit Walker(dns::Resolver& resolver) : resolver_(resolver) {}

    const NameResult& lookup(const std::string& domain) {
        if (auto it = memo_.find(domain); it != memo_.end()) return it->second;
        NameResult r;
        r.trace.name = "_dmarc." + domain;
        const dns::Answer a = resolver_.query(r.trace.name, dns::RrType::txt);
        switch (a.status) {
            case dns::Status::tempfail:
                r.kind = NameResult::Kind::tempfail;
                r.trace.outcome = "tempfail";
                if (!a.error.empty()) r.trace.outcome += " (" + a.error + ")";
                break;
            case dns::Status::nxdomain:
                r.kind = NameResult::Kind::nxdomain;
                r.trace.outcome = "nxdomain";
                break;
            case dns::Status::nodata:
                r.kind = NameResult::Kind::none;
                r.trace.outcome = "no record";
                break;
            case dns::Status::ok: {
                // §4.10 step 2: records not starting with v=DMARC1 are discarded; several DMARC
                // records at one name are all discarded.
                const std::string* found = nullptr;
                std::size_t n = 0;
                for (const auto& txt : a.txt)
                    if (is_dmarc_record(txt)) {
                        found = &txt;
                        ++n;
                    }
                if (n == 0) {
                    r.kind = NameResult::Kind::none;
                    r.trace.outcome = "no record";
                } else if (n > 1) {
                    r.kind = NameResult::Kind::multiple;
                    r.trace.outcome = "multiple";
                } else {
                    r.kind = NameResult::Kind::record;
                    r.record = parse_record(*found).record;
                    r.trace.record = found->substr(0, max_record_length);
                    r.trace.outcome = r.record.state == PolicyState::unusable
                                          ? "invalid: no valid p= and no valid rua="
                                          : "record";
                }
                break;
            }
        }
        return memo_.emplace(domain, std::move(r)).first->second;
    }

    /// Whether `domain` exists (RFC 9989 §3.2.13, RFC 8020): only an NXDOMAIN answer says it does not.
    dns::Status exists(const std::string& domain, std::vector<QueryTrace>& trace) {
        const dns::Answer a = resolver_.query(domain, dns::RrType::a);
        QueryTrace t;
        t.name = domain;
        t.outcome = a.status == dns::Status::nxdomain   ? "nxdomain"
                    : a.status == dns::Status::tempfail ? "tempfail"
                                                        : "exists";
        trace.push_back(std::move(t));
        return a.status;
    }

    [[nodiscard]] const NameResult* known(const std::string& domain) const {
        auto it = memo_.find(domain);
        return it == memo_.end() ? nullptr : &it->second;
    }

private:
    dns::Resolver& resolver_;
    std::map<std::string, NameResult> memo_;
};

struct WalkResult {
    bool tempfail = false;
    std::vector<std::string> names;  // the domains queried, longest first
    std::string organizational_domain;
    std::string psd_domain;  // the domain whose psd=y record stopped the walk
};

/// RFC 9989 §4.10 DNS tree walk from `start`, then §4.10.2 organisational domain selection.
/// With stop_at_first_record the walk ends after the first query when it found a record (policy
/// discovery needs nothing more then).
WalkResult tree_walk(const std::string& start, Walker& walker, std::vector<QueryTrace>* trace,
                     bool stop_at_first_record = false) {
    WalkResult w;
    std::string target = start;
    for (;;) {
        const NameResult& r = walker.lookup(target);
        if (trace != nullptr) trace->push_back(r.trace);
        w.names.push_back(target);
        if (r.kind == NameResult::Kind::tempfail) {
            w.tempfail = true;
            return w;
        }
        if (r.kind == NameResult::Kind::record) {
            if (stop_at_first_record && target == start) return w;
            if (r.record.psd == "y" || r.record.psd == "n") {  // steps 2 and 6: stop
                if (r.record.psd == "y") w.psd_domain = target;
                break;
            }
        }
        const std::size_t x = label_count(target);
        if (x <= 1) break;
        // Step 4: fewer than 8 labels: drop one; 8 or more: drop down to 7.
        target = last_labels(target, x >= max_walk_labels + 1 ? max_walk_labels : x - 1);
    }
    // §4.10.2 selection, from the longest name to the shortest.
    std::string fewest;
    for (const auto& name : w.names) {
        const NameResult* r = walker.known(name);
        if (r == nullptr || r->kind != NameResult::Kind::record) continue;
        if (r->record.psd == "n") {
            w.organizational_domain = name;
            return w;
        }
        if (r->record.psd == "y" && name != start) {
            w.organizational_domain = last_labels(start, label_count(name) + 1);
            return w;
        }
        fewest = name;
    }
    w.organizational_domain = fewest.empty() ? start : fewest;
    return w;
}

std::string effective_testing(const Record& rec, Discovery discovery, std::vector<std::string>& notes) {
    if (!rec.t.empty()) return rec.t;
    if (rec.pct >= 0 && discovery == Discovery::treewalk) {
        // RFC 9989 Appendix A.6: t=y and t=n stand for the pct values 0 and 100. Other values never
        // meant "do not apply": they keep the policy in force (t=n).
        notes.push_back("pct=" + std::to_string(rec.pct) + " (RFC 7489) read as t=" + (rec.pct == 0 ? "y" : "n") +
                        " (RFC 9989 Appendix A.6)");
        return rec.pct == 0 ? "y" : "n";
    }
    return "n";
}

void fill_policy(PolicyLookup& out, const std::string& domain, const Record& rec, Discovery discovery) {
    PublishedPolicy& p = out.policy;
    p.domain = domain;
    p.p = rec.p;
    p.sp = rec.sp;
    p.np = rec.np;
    p.adkim = rec.adkim;
    p.aspf = rec.aspf;
    p.testing = effective_testing(rec, discovery, out.notes);
    p.pct = rec.pct;
    p.fo = rec.fo;
    p.psd = rec.psd;
    p.discovery_method = discovery == Discovery::psl ? "psl" : "treewalk";
    p.rua = rec.rua;
    p.ruf = rec.ruf_published;
    for (const auto& n : rec.notes) out.notes.push_back("_dmarc." + domain + ": " + n);
}

/// Chooses p, sp or np for `author` given the record found at `policy_domain` (§4.10.1), checking
/// whether the author domain exists only when an np= could apply. False on a DNS tempfail.
bool choose_policy(PolicyLookup& out, const std::string& author, const Record& rec, Walker& walker) {
    if (out.policy.domain == author) {
        out.applied_policy = "p";
        out.effective_policy = rec.p;
        return true;
    }
    bool nonexistent = false;
    if (!rec.np.empty()) {
        // A NODATA answer for _dmarc.<author> already proves the author exists (RFC 8020).
        const NameResult* first = walker.known(author);
        if (first == nullptr || first->kind == NameResult::Kind::nxdomain) {
            const dns::Status s = walker.exists(author, out.trace);
            if (s == dns::Status::tempfail) return false;
            nonexistent = s == dns::Status::nxdomain;
        }
    }
    if (nonexistent && !rec.np.empty()) {
        out.applied_policy = "np";
        out.effective_policy = rec.np;
    } else if (!rec.sp.empty()) {
        out.applied_policy = "sp";
        out.effective_policy = rec.sp;
    } else {
        out.applied_policy = "p";
        out.effective_policy = rec.p;
    }
    return true;
}

/// Policy discovery for `author` (already normalised). With need_org the organisational domain is
/// always determined; otherwise only when the policy needs it.
PolicyLookup discover_in(const std::string& author, Walker& walker, const Options& options, bool need_org) {
    PolicyLookup out;
    if (author.empty()) {
        out.status = Result::permerror;
        out.notes.push_back("not a valid domain name");
        return out;
    }
    std::string policy_domain;
    if (options.discovery == Discovery::psl) {
        if (!options.psl) throw std::logic_error("dmarc: psl discovery without a public suffix list");
        out.organizational_domain = options.psl->organizational_domain(author);
        const NameResult& first = walker.lookup(author);
        out.trace.push_back(first.trace);
        if (first.kind == NameResult::Kind::tempfail) {
            out.status = Result::temperror;
            return out;
        }
        if (first.kind == NameResult::Kind::record) {
            policy_domain = author;
        } else if (!out.organizational_domain.empty() && out.organizational_domain != author) {
            // RFC 7489 §6.6.3 step 3: no record (or several) at the author domain: the org domain's.
            const NameResult& org = walker.lookup(out.organizational_domain);
            out.trace.push_back(org.trace);
            if (org.kind == NameResult::Kind::tempfail) {
                out.status = Result::temperror;
                return out;
            }
            if (org.kind == NameResult::Kind::record) policy_domain = out.organizational_domain;
        }
    } else {
        const WalkResult w = tree_walk(author, walker, &out.trace, !need_org);
        const NameResult* first = walker.known(author);
        if (first != nullptr && first->kind == NameResult::Kind::record) {
            policy_domain = author;  // §4.10.1: the author domain's own record
            if (w.tempfail) out.notes.push_back("organisational domain unknown: DNS temporary failure");
            out.organizational_domain = w.tempfail ? std::string() : w.organizational_domain;
            if (!need_org && w.names.size() == 1) out.organizational_domain.clear();
        } else {
            if (w.tempfail) {
                out.status = Result::temperror;
                return out;
            }
            out.organizational_domain = w.organizational_domain;
            const NameResult* org = walker.known(w.organizational_domain);
            if (org != nullptr && org->kind == NameResult::Kind::record)
                policy_domain = w.organizational_domain;
            else if (!w.psd_domain.empty())
                policy_domain = w.psd_domain;  // the Public Suffix Domain's record
        }
    }
    for (const auto& t : out.trace)
        if (t.outcome == "multiple") out.notes.push_back(t.name + " has several DMARC records: all discarded");
    if (policy_domain.empty()) {
        out.status = Result::none;
        return out;
    }
    const Record& rec = walker.known(policy_domain)->record;
    fill_policy(out, policy_domain, rec, options.discovery);
    if (rec.state == PolicyState::unusable) {
        out.status = Result::permerror;
        return out;
    }
    if (!choose_policy(out, author, rec, walker)) {
        out.status = Result::temperror;
        return out;
    }
    out.status = Result::pass;
    return out;
}

enum class Align { yes, no, unknown };

/// Alignment of identifiers with one author domain; organisational domains computed once each.
class Aligner {
public:
    Aligner(const std::string& author, Walker& walker, const Options& options)
        : author_(author), walker_(walker), options_(options) {}

    Align check(const std::string& id, const std::string& mode) {
        if (id.empty()) return Align::no;
        if (id == author_) return Align::yes;
        if (mode == "s") return Align::no;  // strict: a string comparison only (§4.10.2 note)
        const std::string* a = org(author_);
        const std::string* b = org(id);
        if (a == nullptr || b == nullptr) return Align::unknown;
        return *a == *b && !a->empty() ? Align::yes : Align::no;
    }

    /// The organisational domain of `domain` if an earlier check determined it, else nullptr.
    const std::string* computed(const std::string& domain) const {
        auto it = orgs_.find(domain);
        return it == orgs_.end() || it->second.tempfail ? nullptr : &it->second.org;
    }

    /// The organisational domain of `domain`, nullptr after a DNS tempfail.
    const std::string* org(const std::string& domain) {
        if (auto it = orgs_.find(domain); it != orgs_.end()) return it->second.tempfail ? nullptr : &it->second.org;
        Entry e;
        if (options_.discovery == Discovery::psl) {
            e.org = options_.psl ? options_.psl->organizational_domain(domain) : std::string();
        } else {
            const WalkResult w = tree_walk(domain, walker_, nullptr);
            e.tempfail = w.tempfail;
            e.org = w.organizational_domain;
        }
        auto& stored = orgs_.emplace(domain, std::move(e)).first->second;
        return stored.tempfail ? nullptr : &stored.org;
    }

private:
    struct Entry {
        std::string org;
        bool tempfail = false;
    };
    const std::string& author_;
    Walker& walker_;
    const Options& options_;
    std::map<std::string, Entry> orgs_;
};

Disposition disposition_of(const std::string& policy) {
    if (policy == "reject") return Disposition::reject;
    if (policy == "quarantine") return Disposition::quarantine;
    return Disposition::none;
}

Disposition lower_one(Disposition d) {
    return d == Disposition::reject ? Disposition::quarantine : Disposition::none;
}

}  // namespace

PolicyLookup discover(const std::string& domain, dns::Resolver& resolver, const Options& options) {
    Walker walker(resolver);
    return discover_in(to_a_label(domain), walker, options, true);
}

OrgDomainLookup organizational_domain(const std::string& domain, dns::Resolver& resolver, const Options& options) {
    OrgDomainLookup out;
    const std::string name = to_a_label(domain);
    if (name.empty()) {
        out.status = Result::permerror;
        return out;
    }
    if (options.discovery == Discovery::psl) {
        if (!options.psl) {
            out.status = Result::permerror;
            return out;
        }
        out.domain = options.psl->organizational_domain(name);
        out.status = out.domain.empty() ? Result::permerror : Result::pass;
        return out;
    }
    Walker walker(resolver);
    const WalkResult w = tree_walk(name, walker, &out.trace);
    out.status = w.tempfail ? Result::temperror : Result::pass;
    if (!w.tempfail) out.domain = w.organizational_domain;
    return out;
}

Evaluation evaluate(const Inputs& inputs, dns::Resolver& resolver, const Options& options, unsigned sample) {
    Evaluation e;
    Walker walker(resolver);
    const std::string author = to_a_label(inputs.from_domain);
    e.lookup = discover_in(author, walker, options, false);
    switch (e.lookup.status) {
        case Result::temperror:
            e.result = Result::temperror;
            e.reason = "DNS temporary failure during DMARC policy discovery";
            return e;
        case Result::none:
            e.result = Result::none;
            e.reason = "no DMARC policy for " + author;
            return e;
        case Result::permerror:
            e.result = Result::permerror;
            e.reason = author.empty() ? "the From domain is not a valid domain name"
                                      : "invalid DMARC record at _dmarc." + e.lookup.policy.domain;
            return e;
        default:
            break;
    }
    const PublishedPolicy& pol = e.lookup.policy;
    e.applied_policy = e.lookup.applied_policy;
    Aligner aligner(author, walker, options);
    bool maybe_temp = false;
    std::vector<std::string> why;

    // SPF: the RFC5321.MailFrom identity only (§4.4.2); a null sender has none, and a HELO-scope pass is
    // never used (CVE-2019-20790).
    const std::string mail_from = to_a_label(inputs.mail_from_domain);
    if (mail_from.empty()) {
        why.push_back("no MAIL FROM domain for SPF");
    } else if (inputs.spf_result == "pass") {
        const Align a = aligner.check(mail_from, pol.aspf);
        e.spf_aligned = a == Align::yes;
        if (a == Align::unknown) maybe_temp = true;
        if (a == Align::no)
            why.push_back("SPF pass for " + mail_from + " not aligned (aspf=" + pol.aspf + ")");
        else if (a == Align::unknown)
            why.push_back("SPF alignment of " + mail_from + " unknown (DNS temporary failure)");
    } else {
        const std::string r = inputs.spf_result.empty() ? "none" : inputs.spf_result;
        why.push_back("SPF " + r.substr(0, 16) + " for " + mail_from);
        if (r == "temperror" && aligner.check(mail_from, pol.aspf) != Align::no) maybe_temp = true;
    }

    // DKIM: every passing signature's d= (§4.4.1).
    if (inputs.dkim.empty()) why.push_back("no DKIM signature");
    std::size_t seen = 0;
    for (const auto& sig : inputs.dkim) {
        if (++seen > max_dkim_signatures) break;
        const std::string d = to_a_label(sig.domain);
        const std::string shown_d = d.empty() ? std::string("(invalid d=)") : d;
        if (sig.result == "pass" && !d.empty()) {
            const Align a = aligner.check(d, pol.adkim);
            if (a == Align::yes) {
                if (!e.dkim_aligned) e.aligned_dkim_domain = d;
                e.dkim_aligned = true;
            } else if (a == Align::unknown) {
                maybe_temp = true;
                why.push_back("DKIM alignment of d=" + d + " unknown (DNS temporary failure)");
            } else {
                why.push_back("DKIM pass for d=" + d + " not aligned (adkim=" + pol.adkim + ")");
            }
        } else {
            why.push_back("DKIM " + sig.result.substr(0, 16) + " for d=" + shown_d);
            if (sig.result == "temperror" && !d.empty() && aligner.check(d, pol.adkim) != Align::no) maybe_temp = true;
        }
    }

    if (e.lookup.organizational_domain.empty()) {
        // Known when an alignment check needed it; otherwise the author domain has its own record and
        // every identifier was compared as a string, so it counts as its own (§4.10.2 note).
        const std::string* org = aligner.computed(author);
        e.lookup.organizational_domain = org != nullptr ? *org : author;
    }

    if (e.spf_aligned || e.dkim_aligned) {
        e.result = Result::pass;
        return e;
    }
    std::string reason;
    for (const auto& w : why) {
        if (reason.size() > 300) {
            reason += "; ...";
            break;
        }
        reason += reason.empty() ? w : "; " + w;
    }
    e.reason = reason;
    if (maybe_temp) {
        // §5.3.6: a temporary error on an identifier that could have aligned: neither pass nor fail.
        e.result = Result::temperror;
        return e;
    }
    e.result = Result::fail;
    Disposition d = disposition_of(e.lookup.effective_policy);
    if (pol.testing == "y") {
        // RFC 9989 §4.7 t=y: the policy one level below the one published.
        e.testing = true;
        d = lower_one(d);
    } else if (options.discovery == Discovery::psl && pol.pct >= 0 && pol.pct < 100 &&
               sample >= static_cast<unsigned>(pol.pct)) {
        // RFC 7489 §6.6.4: a message not selected by pct= gets the next less strict policy.
        e.testing = true;
        e.sampled_out = true;
        d = lower_one(d);
    }
    e.disposition = d;
    return e;
}

void fill_record(const Evaluation& e, ReportRecord& record) {
    record.organizational_domain = e.lookup.organizational_domain;
    record.policy = e.lookup.policy;
    record.dmarc_result = result_name(e.result);
    record.disposition = disposition_name(e.disposition);
    record.dkim_aligned = e.dkim_aligned ? "pass" : "fail";
    record.spf_aligned = e.spf_aligned ? "pass" : "fail";
    if (e.sampled_out) {
        const bool have = std::any_of(record.overrides.begin(), record.overrides.end(),
                                      [](const Override& o) { return o.type == "sampled_out"; });
        if (!have) record.overrides.push_back({"sampled_out", "pct=" + std::to_string(e.lookup.policy.pct)});
    }
}

}  // namespace mailmoat::dmarc
