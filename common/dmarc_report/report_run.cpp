// common/dmarc_report/report_run.cpp - the report run: periods, destinations, bookkeeping.
#include "common/dmarc_report/report_run.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <ostream>

#include "common/dmarc_report/archive.hpp"
#include "common/dmarc_report/destination.hpp"
#include "common/dmarc_report/report_message.hpp"
#include "common/dmarc_report/report_xml.hpp"

namespace mailmoat::dmarc_report {
namespace {

constexpr std::int64_t day = 86400;

bool write_file(const std::string& path, const std::string& data) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
    f.close();
    return static_cast<bool>(f);
}

std::string host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
    return buf;
}

}  // namespace

std::string default_owner() { return host_name() + " " + std::to_string(::getpid()); }

bool owner_gone(const std::string& owner) {
    const auto sp = owner.rfind(' ');
    if (sp == std::string::npos || owner.substr(0, sp) != host_name()) return false;
    long pid = 0;
    const auto* b = owner.data() + sp + 1;
    const auto* e = owner.data() + owner.size();
    const auto r = std::from_chars(b, e, pid);
    if (r.ec != std::errc() || r.ptr != e || pid <= 0) return false;
    return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

RunSummary run_reports(store::DmarcStore& records, store::DmarcReportStore& book, const RunOptions& o,
                       std::ostream& log) {
    RunSummary sum;
    const std::string owner = o.owner.empty() ? default_owner() : o.owner;
    const auto domains = book.record_domains(0, o.until);
    if (domains.status == store::Status::tempfail) {
        log << "error: store: " << domains.error << '\n';
        sum.store_error = true;
        return sum;
    }
    for (const auto& domain : domains.domains) {
        const auto last = book.last_period_end(domain);
        if (last.status == store::Status::tempfail) {
            log << "error: store: " << last.error << '\n';
            sum.store_error = true;
            return sum;
        }
        std::int64_t cursor = last.status == store::Status::ok ? last.value : 0;
        for (int guard = 0; guard < 100000; ++guard) {
            // The next period with records: from the first record at or after the cursor.
            const auto first = records.records(domain, cursor, o.until, 1);
            if (first.status != store::Status::ok) {
                log << "error: store: " << first.error << '\n';
                sum.store_error = true;
                return sum;
            }
            if (first.records.empty()) break;
            const std::int64_t begin = std::max(cursor, utc_day_start(first.records.front().time));
            const std::int64_t end = std::min(utc_day_start(first.records.front().time) + day, o.until);
            if (end <= begin) break;
            cursor = end;
            const auto recs = records.records(domain, begin, end, o.max_records_per_period + 1);
            if (recs.status != store::Status::ok) {
                log << "error: store: " << recs.error << '\n';
                sum.store_error = true;
                return sum;
            }
            if (recs.records.size() > o.max_records_per_period)
                log << "warning: domain=" << domain << " begin=" << begin << " more than " << o.max_records_per_period
                    << " records; the report covers the first ones only\n";
            auto rs = recs.records;
            if (rs.size() > o.max_records_per_period) rs.resize(o.max_records_per_period);
            const auto report = build_report(domain, begin, end, rs, o.reporter);
            const std::string xml = write_report_xml(report);
            const std::string gz = gzip_compress(xml);
            const std::string file = report_file_name(o.reporter.receiver_domain, report);
            ++sum.periods;
            sum.messages += report.message_count();
            log << "report domain=" << domain << " begin=" << begin << " end=" << end << " id=" << report.metadata.report_id
                << " rows=" << report.rows.size() << " messages=" << report.message_count() << " bytes=" << gz.size() << '\n';
            if (o.dry_run) {
                const std::string base = o.output_dir + "/" + file;
                if (!write_file(base, gz) || !write_file(base.substr(0, base.size() - 3), xml)) {
                    log << "error: cannot write " << base << '\n';
                    ++sum.failed;
                } else {
                    ++sum.files;
                }
                continue;
            }
            const auto& rua = rs.back().policy.rua;
            bool all_settled = true;
            for (const auto& uri : rua) {
                const auto dest = parse_rua(uri);
                if (!dest) {
                    log << "skip domain=" << domain << " rua=" << uri.substr(0, 200) << " reason=unsupported_uri\n";
                    continue;
                }
                // Claim first, then look whether it was settled: a run that settled it and let go of its
                // claim before ours is seen; one still delivering holds the claim and we leave it.
                auto claim = book.claim_destination(domain, begin, dest->uri, owner, o.now, o.claim_lease, "");
                if (claim.outcome == store::ClaimOutcome::taken && owner_gone(claim.owner)) {
                    log << "takeover domain=" << domain << " rua=" << dest->uri << " holder=\"" << claim.owner
                        << "\" reason=holder_gone\n";
                    claim = book.claim_destination(domain, begin, dest->uri, owner, o.now, o.claim_lease, claim.owner);
                }
                if (claim.outcome == store::ClaimOutcome::tempfail) {
                    log << "error: store: " << claim.error << '\n';
                    sum.store_error = true;
                    return sum;
                }
                if (claim.outcome == store::ClaimOutcome::taken) {
                    log << "busy domain=" << domain << " rua=" << dest->uri << " holder=\"" << claim.owner.substr(0, 200)
                        << "\"\n";
                    ++sum.busy;
                    all_settled = false;
                    continue;
                }
                struct Release {
                    store::DmarcReportStore& book;
                    const std::string &domain, &uri, &owner;
                    std::int64_t begin;
                    ~Release() { (void)book.release_destination(domain, begin, uri, owner); }
                } release{book, domain, dest->uri, owner, begin};
                const auto settled = book.destination_settled(domain, begin, dest->uri);
                if (settled == store::Status::tempfail) {
                    sum.store_error = true;
                    return sum;
                }
                if (settled == store::Status::ok) continue;  // an earlier run delivered it
                auto settle = [&](store::DeliveryState state) {
                    if (book.settle_destination(domain, begin, end, dest->uri, state, report.metadata.report_id, o.now) !=
                        store::Status::ok) {
                        log << "error: store: cannot record delivery of " << report.metadata.report_id << " to " << dest->uri
                            << '\n';
                        sum.store_error = true;
                        all_settled = false;
                    }
                };
                const auto auth = o.resolver != nullptr
                                      ? verify_destination(*o.resolver, domain, rs.back().organizational_domain, *dest)
                                      : (dest->domain == domain ? Authorization::internal : Authorization::not_authorized);
                if (auth == Authorization::tempfail) {
                    log << "defer domain=" << domain << " rua=" << dest->uri << " reason=dns_tempfail\n";
                    ++sum.failed;
                    all_settled = false;
                    continue;
                }
                if (auth == Authorization::not_authorized) {
                    log << "refuse domain=" << domain << " rua=" << dest->uri << " reason=external_not_authorized ("
                        << domain << "._report._dmarc." << dest->domain << ")\n";
                    ++sum.refused;
                    settle(store::DeliveryState::refused);
                    continue;
                }
                if (dest->max_bytes != 0 && gz.size() > dest->max_bytes) {
                    log << "refuse domain=" << domain << " rua=" << dest->uri << " reason=size_limit bytes=" << gz.size()
                        << " limit=" << dest->max_bytes << '\n';
                    ++sum.refused;
                    settle(store::DeliveryState::refused);
                    continue;
                }
                MessageParts parts{o.reporter.email, dest->address, o.reporter.receiver_domain, o.now};
                const std::string msg = build_report_message(report, gz, parts);
                if (o.hook) o.hook("built");
                const auto sent = o.send ? o.send(o.reporter.email, dest->address, msg)
                                         : DeliveryResult{DeliveryStatus::temporary_failure, "no delivery method"};
                if (sent.status != DeliveryStatus::delivered) {
                    log << "defer domain=" << domain << " rua=" << dest->uri << " reason=" << delivery_status_name(sent.status)
                        << " detail=" << sent.detail.substr(0, 200) << '\n';
                    ++sum.failed;
                    all_settled = false;
                    continue;
                }
                if (o.hook) o.hook("delivered");
                log << "sent domain=" << domain << " rua=" << dest->uri << " id=" << report.metadata.report_id << '\n';
                ++sum.delivered;
                settle(store::DeliveryState::sent);
            }
            if (sum.store_error) return sum;
            if (all_settled) {
                if (book.close_period(domain, begin, end, report.metadata.report_id, report.message_count(), o.now) !=
                    store::Status::ok) {
                    log << "error: store: cannot close period of " << report.metadata.report_id << '\n';
                    sum.store_error = true;
                    return sum;
                }
            } else {
                break;  // later periods wait until this one is done, keeping reports in order
            }
        }
    }
    if (!o.dry_run && o.prune_before > 0) {
        const auto pr = book.prune(o.prune_before);
        if (pr.status != store::Status::ok) {
            log << "error: prune: " << pr.error << '\n';
            sum.store_error = true;
        } else {
            sum.pruned = pr.count;
            if (pr.count) log << "pruned records=" << pr.count << '\n';
        }
    }
    return sum;
}

}  // namespace mailmoat::dmarc_report
