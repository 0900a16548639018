// common/dmarc/evaluator.hpp - the DMARC engine's interface (RFC 9989, RFC 7489 where psl mode needs it):
// policy discovery, identifier alignment and the resulting disposition. Pure: DNS through dns::Resolver,
// no sockets, no libmilter. Implemented in common/dmarc/*.cpp.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/dmarc/report_record.hpp"
#include "common/dns/resolver.hpp"

namespace mailmoat::dmarc {

/// RFC 9989 result names (RFC 8601 registry): pass, fail, none, temperror, permerror.
enum class Result { none, pass, fail, temperror, permerror };
[[nodiscard]] const char* result_name(Result r) noexcept;

enum class Disposition { none, quarantine, reject };
[[nodiscard]] const char* disposition_name(Disposition d) noexcept;

/// How the organisational domain and the policy are found (RFC 9989 §4.10 tree walk, or RFC 7489
/// with the Public Suffix List).
enum class Discovery { treewalk, psl };

/// A loaded Public Suffix List (Debian's publicsuffix package: /usr/share/publicsuffix/
/// public_suffix_list.dat). Immutable once loaded; shared between evaluations; reloaded on SIGHUP by
/// building a new one.
class PublicSuffixList {
public:
    /// Throws std::runtime_error naming the file when it cannot be read or holds no rule.
    static std::shared_ptr<const PublicSuffixList> load(const std::string& path);
    /// The organisational domain of `domain` (RFC 7489 §3.2): the public suffix plus one label;
    /// `domain` itself when it is shorter; empty for an empty or invalid name.
    [[nodiscard]] virtual std::string organizational_domain(const std::string& domain) const = 0;
    /// The public suffix of `domain` (the longest matching rule, wildcards and exceptions applied, "*"
    /// when none matches); empty for an empty or invalid name. The default (for test doubles) is empty.
    [[nodiscard]] virtual std::string public_suffix(const std::string& domain) const {
        (void)domain;
        return {};
    }
    virtual ~PublicSuffixList() = default;
};

struct Options {
    Discovery discovery = Discovery::treewalk;
    std::shared_ptr<const PublicSuffixList> psl;  // required in psl mode
};

/// What the engine needs to know about one message. Domains are lower case A-labels.
struct Inputs {
    std::string from_domain;          // the single RFC5322.From domain (the milter rejects or refuses
                                      // multiple/absent From before calling, per its configuration)
    std::string mail_from_domain;     // RFC5321.MailFrom domain; empty for the null sender (then HELO's
                                      // identity is NOT used for alignment: CVE-2019-20790)
    std::string spf_result;           // SPF result for the MailFrom identity: none|neutral|pass|fail|
                                      // softfail|temperror|permerror
    std::vector<DkimOutcome> dkim;    // every verified signature with its d= and result
};

/// One DNS query of the discovery, for `mailmoat dmarc check` and debugging.
struct QueryTrace {
    std::string name;       // e.g. _dmarc.mail.example.com
    std::string outcome;    // "record", "no record", "nxdomain", "tempfail", "invalid: <why>", "multiple";
                            // an existence check of the author domain (for np=) is "exists" / "nxdomain"
    std::string record;     // the DMARC record's text when exactly one was found
};

/// The result of policy discovery for one domain.
struct PolicyLookup {
    Result status = Result::none;   // pass here means "a valid record was found"; none: no record;
                                    // temperror: DNS failure; permerror: invalid/multiple records
    PublishedPolicy policy;         // filled when found (policy.domain = where it was found)
    std::string organizational_domain;
    std::vector<QueryTrace> trace;
    std::string applied_policy;       // "p", "sp" or "np": the tag that applies to the queried domain
    std::string effective_policy;     // that tag's value: none | quarantine | reject (empty when not found)
    std::vector<std::string> notes;   // ignored tags, defaults, mappings (pct -> t), discarded records
};

/// The outcome of evaluating one message.
struct Evaluation {
    Result result = Result::none;
    Disposition disposition = Disposition::none;  // what the policy asks for (before local enforcement)
    PolicyLookup lookup;
    bool dkim_aligned = false;
    bool spf_aligned = false;
    std::string aligned_dkim_domain;  // d= of the first aligned passing signature
    std::string applied_policy;       // "p", "sp" or "np": which tag gave the disposition
    bool testing = false;             // t=y (or pct sampling said "not this one" in psl mode)
    std::string reason;               // short human text for the A-R comment when not pass
    bool sampled_out = false;         // psl mode: legacy pct= sampling lowered the disposition
};

/// Finds the DMARC policy for `domain` (RFC 9989 §4.10: at most 8 queries; psd handling) or, in psl
/// mode, at the domain and then its organisational domain (RFC 7489 §6.6.3). Never throws for DNS or
/// record problems: they are the status.
[[nodiscard]] PolicyLookup discover(const std::string& domain, dns::Resolver& resolver, const Options& options);

/// The result of one organisational-domain determination (RFC 9989 §4.10.2, or the PSL in psl mode).
struct OrgDomainLookup {
    Result status = Result::none;  // pass: determined; temperror: DNS failure during the walk;
                                   // permerror: invalid domain name (or no PSL in psl mode)
    std::string domain;            // the organisational domain when status is pass
    std::vector<QueryTrace> trace;
};

/// Finds the organisational domain of `domain` on its own walk (RFC 9989 §4.10.2: psd=n stops there,
/// psd=y above the start makes the name one label below it the answer, otherwise the record with the
/// fewest labels, otherwise `domain` itself), or with the PSL in psl mode (no DNS). Never throws for DNS
/// problems.
[[nodiscard]] OrgDomainLookup organizational_domain(const std::string& domain, dns::Resolver& resolver,
                                                    const Options& options);

/// Evaluates one message (RFC 9989 §4.7-4.8): discovery for inputs.from_domain, relaxed/strict
/// alignment of SPF (MailFrom only) and each passing DKIM signature, the disposition from p/sp/np.
/// `sample` in [0,100) is used only for a legacy pct= in psl mode.
[[nodiscard]] Evaluation evaluate(const Inputs& inputs, dns::Resolver& resolver, const Options& options,
                                  unsigned sample = 0);

/// Fills the report record's DMARC part (policy, result, disposition, alignment) from an evaluation.
void fill_record(const Evaluation& e, ReportRecord& record);

}  // namespace mailmoat::dmarc
