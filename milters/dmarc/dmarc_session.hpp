// milters/dmarc/dmarc_session.hpp - mailmoat-dmarc per-connection session: collect inputs, evaluate, act.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/arc/arc_verifier.hpp"
#include "common/dkim/key_cache.hpp"
#include "common/dkim/verifier.hpp"
#include "common/dmarc/evaluator.hpp"
#include "common/dns/resolver.hpp"
#include "common/mail/header.hpp"
#include "common/milter/header_value.hpp"
#include "common/milter/runner.hpp"
#include "common/milter/session.hpp"
#include "common/spf/evaluator.hpp"
#include "common/store/dmarc_store.hpp"
#include "common/table/table.hpp"
#include "common/util/clock.hpp"
#include "milters/dmarc/failure_reports.hpp"
#include "milters/dmarc/record_writer.hpp"
#include "milters/dmarc/settings.hpp"

namespace mailmoat::dmarcd {

/// The DMARC engine's entry points, injectable so that the session can be tested on its own.
struct Engine {
    std::function<dmarc::Evaluation(const dmarc::Inputs&, dns::Resolver&, const dmarc::Options&, unsigned)> evaluate;
    std::function<void(const dmarc::Evaluation&, dmarc::ReportRecord&)> fill_record;
};

/// What an ARC validation (RFC 8617 §5.2) of the message said: the chain's status and the d= of the
/// newest ARC-Seal. Runtime::arc replaces common/arc's verifier when set (tests).
struct ArcVerdict {
    enum class Status { none, pass, fail };
    Status status = Status::none;
    std::string sealer;
};
using ArcCheck = std::function<ArcVerdict(const std::vector<mail::HeaderField>& arc_headers)>;

/// Counters kept for the life of the daemon (across reloads).
struct Counters {
    std::atomic<std::uint64_t> store_failures{0};
    std::atomic<std::uint64_t> evaluations{0};
};

/// What every session of one configuration shares (replaced as a whole on SIGHUP).
struct Runtime {
    std::shared_ptr<const Settings> settings;
    std::shared_ptr<dns::Resolver> resolver;
    std::shared_ptr<dkim::PublicKeyCache> key_cache;
    std::shared_ptr<const util::Clock> clock;
    dmarc::Options options;                       // discovery method and PSL
    std::shared_ptr<const table::Table> overrides;  // nullptr: none
    std::shared_ptr<store::DmarcStore> store;       // nullptr: store none
    std::shared_ptr<RecordWriter> writer;           // set: records go through it (store-write background)
    std::shared_ptr<Counters> counters = std::make_shared<Counters>();
    Engine engine;
    ArcCheck arc;                                   // empty: common/arc's verifier (with trusted-arc-sealers)
    std::function<unsigned()> sample;               // [0,100) for legacy pct=; empty: random
    std::shared_ptr<FailureReporter> failure_reporter;  // nullptr: no failure reports (RFC 9991)
};

/// Header fields kept per message (From, Authentication-Results, Received-SPF, ARC-*).
inline constexpr std::size_t max_kept_fields = 1000;
inline constexpr std::size_t max_kept_bytes = 1024 * 1024;
/// Distinct author domains evaluated when several are allowed; more are rejected.
inline constexpr std::size_t max_author_domains = 8;

/// The author domains of a message's From fields (RFC 5322 §3.6.2; RFC 7489 §6.6.1; RFC 9989 §4.4).
struct Authors {
    enum class Status {
        one,           // exactly one From field with exactly one mailbox
        several,       // several From fields or several mailboxes (domains lists each distinct domain)
        absent,        // no From field, or one without any mailbox (empty group)
        unparseable,   // a From field that is not an address list, or a domain that does not normalise
    };
    Status status = Status::absent;
    std::vector<std::string> domains;  // distinct, lower-case A-labels, in order of appearance
    std::string why;                   // for logs: "2 From fields", "3 addresses", "group syntax", parse error
    bool group = false;                // group syntax was used
};
[[nodiscard]] const char* authors_status_name(Authors::Status s) noexcept;

/// Classifies the From field values (as the milter gives them). `fields_seen` counts every From
/// field even when only the first values were kept. Address literals are unparseable (no DNS policy).
/// Never throws.
[[nodiscard]] Authors author_domains(const std::vector<std::string>& from_values, std::size_t fields_seen);

/// A Received-SPF field (RFC 7208 §9.1) as far as DMARC needs it.
struct ReceivedSpf {
    std::string result;         // lower case; empty when the value does not start with a known result
    std::string identity;       // identity= value, lower case
    std::string envelope_from;  // envelope-from= value
    std::string helo;
    std::string receiver;       // receiver= value, lower case
};
/// Parses a Received-SPF value: result, comment, key=value pairs ('=' values may be quoted-strings).
/// Returns an empty result for anything that does not start with an RFC 7208 §2.6 result. Never throws.
[[nodiscard]] ReceivedSpf parse_received_spf(std::string_view value);

/// SPF and DKIM inputs taken from trusted header fields.
struct HeaderInputs {
    std::optional<dmarc::SpfOutcome> spf;  // nullopt: no trusted SPF result for this MAIL FROM domain
    std::vector<dmarc::DkimOutcome> dkim;  // every dkim= result of trusted Authentication-Results
    bool dkim_seen = false;                // a trusted Authentication-Results field had dkim results
};
/// Reads the Authentication-Results fields (RFC 8601) whose authserv-id is in trusted_ids (lower-case)
/// and the topmost Received-SPF with a trusted receiver=. SPF counts only for the MAIL FROM identity
/// (smtp.mailfrom / identity=mailfrom) and only when its domain equals mail_from_domain: a HELO result
/// never stands in for it (CVE-2019-20790). Results of untrusted ids are ignored. Never throws.
[[nodiscard]] HeaderInputs inputs_from_headers(const std::vector<mail::HeaderField>& auth_results,
                                               const std::vector<std::string>& received_spf,
                                               const std::vector<std::string>& trusted_ids,
                                               std::string_view mail_from_domain);

// Header values cross between the milter protocol's form and the wire form with milter::wire_value/milter_value.
using milter::milter_value;
using milter::wire_value;

/// Per connection. Not evaluated (passed on untouched, logged): mail without a client address (local
/// submission), from skip-hosts, or SASL-authenticated with skip-authenticated. (ARC: verified only when trusted-arc-sealers is set; a passing chain whose newest
/// seal is by a trusted sealer overrides a DMARC failure, and arc= goes into Authentication-Results).
/// Collects the client address, HELO, MAIL FROM, first recipient, the From fields,
/// Authentication-Results, Received-SPF and ARC fields (and streams the message to a DKIM verifier
/// with dkim-source self). At end of message: classifies the author, gets SPF and DKIM results,
/// evaluates DMARC per author domain, applies overrides and the enforce/quarantine settings, then
/// rejects (550 5.7.1 naming the domain), holds (milter quarantine) or adds a header, deletes
/// Authentication-Results fields that claim our authserv-id when it is not trusted (RFC 8601 §5),
/// inserts its own at the top, records every evaluation in the store (a store failure is logged and
/// counted, never blocks mail), hands failure reports to Runtime::failure_reporter when failure-reports
/// is on (decided here, sent by its worker) and logs one line. An unexpected failure tempfails the message.
class DmarcSession final : public milter::Session {
public:
    explicit DmarcSession(std::shared_ptr<const Runtime> rt) : rt_(std::move(rt)) {}

    milter::Status on_connect(const milter::ConnectInfo& info) override;
    milter::Status on_helo(std::string_view helo) override;
    milter::Status on_envfrom(const std::vector<std::string_view>& args) override;
    milter::Status on_envrcpt(const std::vector<std::string_view>& args) override;
    milter::Status on_header(std::string_view name, std::string_view value) override;
    milter::Status on_eoh() override;
    milter::Status on_body(std::string_view chunk) override;
    milter::Status on_eom(milter::Modifier& modifier) override;
    void reset() override;

private:
    struct Decision;
    void keep(std::vector<mail::HeaderField>& where, std::string_view name, std::string_view value);

    std::shared_ptr<const Runtime> rt_;
    std::optional<util::IpAddress> client_ip_;
    std::string client_name_;
    std::string helo_;
    std::string sender_;            // MAIL FROM address without <>
    std::string mail_from_domain_;  // normalised; empty for <>
    bool mail_from_invalid_ = false;
    std::string skip_reason_;       // set: this message is not evaluated
    std::string rcpt_domain_;
    std::vector<std::string> from_values_;
    std::size_t from_fields_ = 0;
    std::vector<mail::HeaderField> auth_results_;
    std::vector<std::string> received_spf_;
    std::vector<mail::HeaderField> arc_;
    std::size_t kept_bytes_ = 0;
    bool overflow_ = false;
    std::unique_ptr<dkim::Verifier> verifier_;
    std::unique_ptr<arc::Verifier> arc_verifier_;  // only with trusted-arc-sealers
    bool copy_headers_ = false;                    // failure-reports on: keep the header for a report
    HeaderCopy header_copy_;
};

/// Actions, stages and macros mailmoat-dmarc asks of the MTA.
[[nodiscard]] milter::RunnerOptions runner_options(const util::SocketSpec& socket);

}  // namespace mailmoat::dmarcd
