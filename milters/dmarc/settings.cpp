// milters/dmarc/settings.cpp - mailmoat-dmarc settings schema and validation.
#include "milters/dmarc/settings.hpp"

#include <algorithm>
#include <cctype>

#include <unistd.h>

#include "common/mail/address.hpp"
#include "common/milter/settings.hpp"
#include "common/store/dmarc_store_factory.hpp"

namespace mailmoat::dmarcd {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool plain_token(std::string_view t) {
    return !t.empty() && t.size() <= 255 && std::none_of(t.begin(), t.end(), [](char c) {
        return c <= ' ' || c == ';' || c == '"' || c == '(' || c == ')' || c == '\\' || static_cast<unsigned char>(c) >= 0x7f;
    });
}

Source source(const config::Values& v, const char* key) {
    const auto& s = v.str(key);
    if (s == "self") return Source::self;
    if (s == "headers") return Source::headers;
    throw v.error(key, "expected self or headers");
}

}  // namespace

const char* source_name(Source s) noexcept { return s == Source::self ? "self" : "headers"; }

bool valid_override_reason(std::string_view r) noexcept {
    return r == "forwarded" || r == "sampled_out" || r == "trusted_forwarder" || r == "mailing_list" ||
           r == "local_policy" || r == "other";
}

OverrideValue parse_override_value(std::string_view value) {
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    const auto end = value.find_first_of(" \t");
    OverrideValue o;
    const std::string reason = lower(value.substr(0, end));
    if (!valid_override_reason(reason)) return o;
    o.reason = reason;
    if (end != std::string_view::npos) {
        auto c = value.substr(end);
        while (!c.empty() && (c.front() == ' ' || c.front() == '\t')) c.remove_prefix(1);
        while (!c.empty() && (c.back() == ' ' || c.back() == '\t')) c.remove_suffix(1);
        o.comment = std::string(c.substr(0, 256));
    }
    return o;
}

std::string sqlite_path(std::string_view store) {
    if (store.rfind("sqlite:", 0) != 0) return {};
    return std::string(store.substr(7));
}

config::Schema make_schema() {
    config::Schema s("mailmoat-dmarc", "DMARC (RFC 9989) policy milter for Postfix that records evaluations for aggregate reports");
    s.add_common_daemon_options("unix:/run/mailmoat/dmarc.sock", "/etc/mailmoat/mailmoat-dmarc.conf");
    s.add_string("authserv-id", "", "authserv-id of the Authentication-Results header written; empty: this host's name (OpenDMARC AuthservID).");
    s.add_list("trusted-authserv-ids", {}, "authserv-ids whose Authentication-Results (and receiver= of Received-SPF) are trusted as "
               "SPF/DKIM inputs with the headers sources; empty: authserv-id only (OpenDMARC TrustedAuthservIDs).");
    s.add_string("spf-source", "self", "self: check SPF (MAIL FROM identity) here from the milter macros; headers: take the result from a "
                 "trusted Received-SPF or Authentication-Results field (mailmoat-spf).");
    s.add_string("dkim-source", "self", "self: verify DKIM signatures here; headers: take dkim= results from a trusted "
                 "Authentication-Results field (mailmoat-dkim listed before this milter).");
    s.add_string("discovery", "treewalk", "Policy discovery: treewalk (RFC 9989 DNS tree walk) or psl (RFC 7489 with the Public Suffix List).");
    s.add_string("public-suffix-list", "/usr/share/publicsuffix/public_suffix_list.dat",
                 "Public Suffix List used by discovery psl (Debian package publicsuffix); re-read on SIGHUP (OpenDMARC PublicSuffixList).");
    s.add_list("enforce", {"reject", "quarantine"}, "Policies acted upon: reject, quarantine, both, or none (only reported in "
               "Authentication-Results and the store; OpenDMARC RejectFailures).");
    s.add_string("quarantine-action", "hold", "p=quarantine: hold (Postfix hold queue via milter quarantine; OpenDMARC HoldQuarantinedMessages) "
                 "or header (add quarantine-header and deliver).");
    s.add_string("quarantine-header", "X-Mailmoat-DMARC-Quarantine", "Header field added with quarantine-action header.");
    s.add_bool("reject-multiple-from", true, "Reject (550 5.7.1) a message without exactly one author address in exactly one From field "
               "(RFC 7489 §6.6.1); no: evaluate every author domain and apply the strictest result (OpenDMARC RejectMultiValueFrom).");
    s.add_string("override-table", "", "Postfix-style table (cidr:, texthash:, pcre:, inline: ...) keyed by client address/network, "
                 "verified client host name or MAIL FROM domain; value 'REASON [comment]' with REASON forwarded, trusted_forwarder, "
                 "mailing_list, local_policy or other: a failing message is accepted and the reason recorded.");
    s.add_list("trusted-arc-sealers", {}, "Domains (ARC-Seal d=) whose passing ARC chain overrides a DMARC failure (recorded as "
               "trusted_forwarder) (RFC 8617; no sealing).");
    s.add_string("store", "sqlite:/var/lib/mailmoat/dmarc.sqlite", "Where evaluations are recorded for aggregate reports: "
                 "sqlite:/path (embedded), redis://[:PASSWORD@]host:port[/db] or unix:/path/redis.sock[?db=N] (shared by several "
                 "MX hosts), or none (OpenDMARC HistoryFile).");
    s.add_uint("store-timeout-ms", 500, 10, 60000, "Redis store: connect and command timeout; a record not taken within "
               "about twice this is logged as lost and the mail goes on.");
    s.add_duration("store-ttl", std::chrono::hours(40 * 24), "Redis store: records expire this long after their day's last "
                   "write (reported ones are pruned earlier by mailmoat dmarc report).");
    s.add_string("store-write", "before-reply", "before-reply: each reply waits until its evaluation is committed (concurrent "
                 "messages share a transaction), so a crash loses nothing recorded; background: evaluations are queued and "
                 "written by one thread, many per transaction, and the reply does not wait (a stop or reload writes the queue "
                 "first; a crash can lose the last milliseconds).");
    s.add_string("on-dns-error", "accept", "A policy lookup that fails temporarily: accept (with dmarc=temperror) or tempfail (451 4.7.5).");
    s.add_bool("add-auth-results", true, "Also write the spf= and dkim= results this milter computed itself into its Authentication-Results.");
    s.add_uint("max-signatures-to-verify", 5, 1, 64, "DKIM signatures evaluated per message with dkim-source self.");
    s.add_uint("dns-cache-size", 20000, 0, 10000000, "DNS answers kept for their TTL (0 disables).");
    s.add_bool("skip-authenticated", true, "Do not evaluate mail from SASL-authenticated clients (OpenDMARC IgnoreAuthenticatedClients).");
    s.add_list("skip-hosts", {}, "Client addresses or networks whose mail is not evaluated (OpenDMARC IgnoreHosts); mail without a "
               "client address (local submission through non_smtpd_milters) is never evaluated.");
    s.add_bool("failure-reports", false, "Send failure (ruf) reports (RFC 9991, RFC 6591 AFRF) to the ruf= addresses of failing "
               "domains as their fo= asks: header fields only, never the body (OpenDMARC FailureReports). Off by default for privacy.");
    s.add_string("failure-reports-sender", "", "From and envelope sender of failure reports; empty: postmaster@ the authserv-id "
                 "(OpenDMARC FailureReportsSentBy).");
    s.add_list("failure-reports-bcc", {}, "Addresses that receive a copy of every failure report sent (OpenDMARC FailureReportsBcc).");
    s.add_bool("failure-reports-on-none", false, "Also report for domains whose policy is none (OpenDMARC FailureReportsOnNone).");
    s.add_uint("failure-reports-rate-limit", 10, 1, 1000000, "Failure reports sent at most per destination domain per hour; "
               "the rest are dropped and logged (RFC 9991 §2, §8.1).");
    s.add_bool("failure-reports-redact", true, "Replace the local-parts of addresses in reports by opaque tokens (RFC 6590) and "
               "defang links (RFC 9991 §7).");
    s.add_string("failure-reports-sendmail", "/usr/sbin/sendmail -i", "Command (words, no shell) that delivers a report; "
                 "\"-f SENDER -- RCPT\" is appended.");
    s.add_string("failure-reports-smtp", "", "HOST:PORT: deliver reports by SMTP there instead of through the sendmail command.");
    s.add_uint("failure-reports-queue", 100, 1, 100000, "Reports waiting for delivery; a report beyond this is dropped and logged "
               "(mail is never delayed by reporting).");
    milter::add_runner_settings(s);
    return s;
}

Settings build_settings(const config::Values& v) {
    Settings s;
    s.common = daemon::CommonSettings::from(v);
    s.authserv_id = v.str("authserv-id");
    if (s.authserv_id.empty()) {
        char host[256] = {};
        if (::gethostname(host, sizeof host - 1) == 0) s.authserv_id = host;
        if (s.authserv_id.empty()) s.authserv_id = "localhost";
    }
    if (!plain_token(s.authserv_id)) throw v.error("authserv-id", "must be a plain token (no spaces, quotes, ';' or parentheses)");
    for (const auto& id : v.list("trusted-authserv-ids")) {
        if (!plain_token(id)) throw v.error("trusted-authserv-ids", "not a plain token: '" + id + "'");
        s.trusted_authserv_ids.push_back(lower(id));
    }
    if (s.trusted_authserv_ids.empty()) s.trusted_authserv_ids.push_back(lower(s.authserv_id));
    s.spf_source = source(v, "spf-source");
    s.dkim_source = source(v, "dkim-source");

    const auto& disc = v.str("discovery");
    if (disc == "treewalk") s.discovery = dmarc::Discovery::treewalk;
    else if (disc == "psl") s.discovery = dmarc::Discovery::psl;
    else throw v.error("discovery", "expected treewalk or psl");
    s.public_suffix_list = v.str("public-suffix-list");
    if (s.discovery == dmarc::Discovery::psl && s.public_suffix_list.empty())
        throw v.error("public-suffix-list", "discovery psl needs a Public Suffix List file");

    s.enforce_reject = s.enforce_quarantine = false;
    for (const auto& e : v.list("enforce")) {
        const auto l = lower(e);
        if (l == "reject") s.enforce_reject = true;
        else if (l == "quarantine") s.enforce_quarantine = true;
        else if (l == "none" && v.list("enforce").size() == 1) {}
        else throw v.error("enforce", "expected reject, quarantine, both, or none alone; got '" + e + "'");
    }
    const auto& qa = v.str("quarantine-action");
    if (qa == "hold") s.quarantine_action = QuarantineAction::hold;
    else if (qa == "header") s.quarantine_action = QuarantineAction::header;
    else throw v.error("quarantine-action", "expected hold or header");
    s.quarantine_header = v.str("quarantine-header");
    if (s.quarantine_header.empty() || s.quarantine_header.size() > 128 ||
        !std::all_of(s.quarantine_header.begin(), s.quarantine_header.end(), [](char c) { return c >= 33 && c <= 126 && c != ':'; }))
        throw v.error("quarantine-header", "not a header field name");
    s.reject_multiple_from = v.flag("reject-multiple-from");

    s.override_table = v.str("override-table");
    for (const auto& d : v.list("trusted-arc-sealers")) {
        const auto n = mail::normalize_domain(d);
        if (n.status != mail::DomainResult::Status::ok || n.domain.find('.') == std::string::npos || n.domain.front() == '[')
            throw v.error("trusted-arc-sealers", "not a domain name: '" + d + "'");
        s.trusted_arc_sealers.push_back(n.domain);
    }
    s.store = v.str("store");
    if (!store::parse_dmarc_store_url(s.store))
        throw v.error("store", "expected sqlite:/absolute/path, redis://[:PASSWORD@]host[:port][/db], "
                               "unix:/path/redis.sock[?db=N] or none");
    s.store_timeout = std::chrono::milliseconds(v.uint("store-timeout-ms"));
    s.store_ttl = v.duration("store-ttl");
    if (s.store_ttl.count() < 86400) throw v.error("store-ttl", "at least one day (1d)");
    const auto& write = v.str("store-write");
    if (write == "background") s.store_write_background = true;
    else if (write == "before-reply") s.store_write_background = false;
    else throw v.error("store-write", "expected before-reply or background");
    const auto& dns = v.str("on-dns-error");
    if (dns == "accept") s.tempfail_on_dns_error = false;
    else if (dns == "tempfail") s.tempfail_on_dns_error = true;
    else throw v.error("on-dns-error", "expected accept or tempfail");
    s.add_spf_dkim_results = v.flag("add-auth-results");
    s.max_signatures_to_verify = static_cast<std::size_t>(v.uint("max-signatures-to-verify"));
    s.dns_cache_size = static_cast<std::size_t>(v.uint("dns-cache-size"));
    s.skip_authenticated = v.flag("skip-authenticated");
    for (const auto& n : v.list("skip-hosts")) {
        auto net = util::IpNetwork::parse(n);
        if (!net) throw v.error("skip-hosts", "not an address or network: '" + n + "'");
        s.skip_hosts.push_back(*net);
    }
    auto& fr = s.failure_reports;
    fr.enabled = v.flag("failure-reports");
    fr.sender = v.str("failure-reports-sender");
    if (fr.sender.empty()) fr.sender = "postmaster@" + s.authserv_id;
    auto check_address = [&](const std::string& a, const char* key) {
        const auto at = a.rfind('@');
        if (a.size() > 254 || at == std::string::npos || at == 0 || at + 1 == a.size() ||
            std::any_of(a.begin(), a.end(), [](char c) { return c <= ' ' || c == '<' || c == '>' || c == ',' || c == '"' || c == 0x7f; }))
            throw v.error(key, "not a plain e-mail address: '" + a + "'");
    };
    check_address(fr.sender, "failure-reports-sender");
    for (const auto& b : v.list("failure-reports-bcc")) {
        check_address(b, "failure-reports-bcc");
        fr.bcc.push_back(b);
    }
    fr.on_none = v.flag("failure-reports-on-none");
    fr.rate_per_hour = static_cast<unsigned>(v.uint("failure-reports-rate-limit"));
    fr.redact = v.flag("failure-reports-redact");
    {
        const auto& cmd = v.str("failure-reports-sendmail");
        std::size_t i = 0;
        while (i < cmd.size()) {
            while (i < cmd.size() && (cmd[i] == ' ' || cmd[i] == '\t')) ++i;
            const auto start = i;
            while (i < cmd.size() && cmd[i] != ' ' && cmd[i] != '\t') ++i;
            if (i > start) fr.sendmail.push_back(cmd.substr(start, i - start));
        }
    }
    const auto& smtp = v.str("failure-reports-smtp");
    if (!smtp.empty()) {
        const auto colon = smtp.rfind(':');
        std::uint64_t port = 0;
        const auto digits = colon == std::string::npos ? std::string() : smtp.substr(colon + 1);
        const bool ok = colon != std::string::npos && colon > 0 && !digits.empty() && digits.size() <= 5 &&
                        std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                        (port = std::stoull(digits)) >= 1 && port <= 65535;
        if (!ok) throw v.error("failure-reports-smtp", "expected HOST:PORT");
        fr.smtp_host = smtp.substr(0, colon);
        if (fr.smtp_host.size() > 2 && fr.smtp_host.front() == '[' && fr.smtp_host.back() == ']')
            fr.smtp_host = fr.smtp_host.substr(1, fr.smtp_host.size() - 2);
        fr.smtp_port = static_cast<std::uint16_t>(port);
    } else if (fr.sendmail.empty() || fr.sendmail.front().empty() || fr.sendmail.front().front() != '/') {
        throw v.error("failure-reports-sendmail", "expected an absolute command path (and arguments)");
    }
    fr.queue_size = static_cast<std::size_t>(v.uint("failure-reports-queue"));
    return s;
}

}  // namespace mailmoat::dmarcd
