// common/store/dmarc_store.hpp - where mailmoat-dmarc records evaluations and `mailmoat dmarc report`
// reads them back: the interface, shared by the embedded (SQLite) and any shared store.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/dmarc/report_record.hpp"
#include "common/store/grey_store.hpp"  // Status

namespace mailmoat::store {

/// Outcome of a write. tempfail carries the store's message; the milter logs and counts it and lets
/// the mail through (recording never blocks mail).
struct RecordResult {
    Status status = Status::ok;
    std::string error;
};

struct RecordsResult {
    Status status = Status::ok;
    std::string error;
    std::vector<dmarc::ReportRecord> records;
};

class DmarcStore {
public:
    virtual ~DmarcStore() = default;
    /// Stores one evaluation durably before returning ok (a crash after ok loses nothing).
    [[nodiscard]] virtual RecordResult add(const dmarc::ReportRecord& record) = 0;
    /// Stores several evaluations as add() does; result i belongs to records[i] (null pointers are
    /// refused with Status::tempfail). This default calls add() for each; a store may write them in
    /// one transaction.
    [[nodiscard]] virtual std::vector<RecordResult> add_batch(const std::vector<const dmarc::ReportRecord*>& records) {
        std::vector<RecordResult> out;
        out.reserve(records.size());
        for (const auto* r : records) out.push_back(r != nullptr ? add(*r) : RecordResult{Status::tempfail, "no record"});
        return out;
    }
    /// Evaluations whose policy.domain is `policy_domain` (empty: every domain) with
    /// from <= time < until, oldest first; at most `limit`.
    [[nodiscard]] virtual RecordsResult records(const std::string& policy_domain, std::int64_t from,
                                                std::int64_t until, std::size_t limit) = 0;
    /// "sqlite:/path" or the shared store's URL, for logs.
    [[nodiscard]] virtual std::string describe() const = 0;
};

}  // namespace mailmoat::store
