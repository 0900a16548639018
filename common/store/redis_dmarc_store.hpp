// common/store/redis_dmarc_store.hpp - the shared DMARC store on Redis: several MX hosts running
// mailmoat-dmarc record into one server, one `mailmoat dmarc report` (on any host) reports from it.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "common/store/dmarc_report_store.hpp"
#include "common/store/group_commit.hpp"
#include "common/store/redis_connection.hpp"

namespace mailmoat::store {

struct RedisDmarcOptions : RedisOptions {
    RedisDmarcOptions() {
        prefix = "mmdmarc:";
        ttl = std::chrono::hours(40 * 24);  // records not reported within this are dropped by Redis itself
        timeout = std::chrono::milliseconds(500);
    }
    std::size_t max_pending = 10000;  // add() calls waiting for a write; more are refused at once
    std::size_t max_batch = 1000;     // records written in one pipelined MULTI/EXEC
};

/// Key layout (P is the prefix, DAY = Unix time / 86400, the UTC day):
///   P r:DOMAIN:DAY      list of records (record_text form) of one policy domain and day; TTL ttl
///   P rd:DOMAIN         sorted set of the DAYs with records of DOMAIN; TTL ttl
///   P dd:DAY            set of the DOMAINs with records on DAY; TTL ttl
///   P days              sorted set of DAYs with records (trimmed by prune)
///   P pe:DOMAIN         end of DOMAIN's last closed report period (where the next run starts)
///   P period:DOMAIN:BEGIN  hash end/id/messages/time of a closed period; TTL ttl
///   P sent:DOMAIN:BEGIN:DEST  hash state/id/end/time of a settled destination; TTL ttl
///   P claim:DOMAIN:BEGIN:DEST owner of a delivery in progress; TTL the lease (SET NX / Lua)
///   P rep:LEN:ORG:REPORT_ID   an ingested report (record_text form); SET NX detects duplicates
///   P reps, P reps:DOMAIN     sorted sets of ingested report keys by period end
/// A report query reads only the day lists of one domain's period; pruning deletes whole day lists.
/// add() queues its record; whichever caller finds no write in progress writes the queue in one
/// pipelined MULTI/EXEC while the others wait, so each add() returns ok only after Redis took its record,
/// and at most about two command timeouts after it was called. While the server is down every call
/// fails at once (the pool's backoff); the milter logs and counts each lost record. The constructor
/// never fails: an unreachable server is a runtime condition.
class RedisDmarcStore final : public DmarcFullStore {
public:
    explicit RedisDmarcStore(RedisDmarcOptions options, const util::Clock& clock = util::SystemClock::instance());
    ~RedisDmarcStore() override;

    RecordResult add(const dmarc::ReportRecord& record) override;
    RecordsResult records(const std::string& policy_domain, std::int64_t from, std::int64_t until,
                          std::size_t limit) override;
    [[nodiscard]] std::string describe() const override { return pool_.describe(); }

    DomainsResult record_domains(std::int64_t from, std::int64_t until) override;
    TimeResult last_period_end(const std::string& domain) override;
    Status destination_settled(const std::string& domain, std::int64_t begin, const std::string& destination) override;
    ClaimResult claim_destination(const std::string& domain, std::int64_t begin, const std::string& destination,
                                  const std::string& owner, std::int64_t now, std::int64_t lease,
                                  const std::string& stale_owner) override;
    Status release_destination(const std::string& domain, std::int64_t begin, const std::string& destination,
                               const std::string& owner) override;
    Status settle_destination(const std::string& domain, std::int64_t begin, std::int64_t end,
                              const std::string& destination, DeliveryState state, const std::string& report_id,
                              std::int64_t now) override;
    Status close_period(const std::string& domain, std::int64_t begin, std::int64_t end, const std::string& report_id,
                        std::uint64_t messages, std::int64_t now) override;
    CountResult64 prune(std::int64_t before) override;
    IngestResult add_report(const dmarc_report::AggregateReport& report, std::int64_t now) override;
    ReportsResult reports(const std::string& domain, std::int64_t since, std::size_t limit) override;

private:
    void write_batch(const std::vector<GroupCommit::Entry*>& batch);
    [[nodiscard]] std::string key(std::string_view kind, std::string_view rest) const;

    RedisDmarcOptions options_;
    RedisPool pool_;
    GroupCommit commit_;  // concurrent add() calls share one MULTI/EXEC
};

}  // namespace mailmoat::store
