// tests/fuzz/fuzz_dmarc_record.cpp - libFuzzer target: DMARC record parsing (RFC 9989 §4.7-§4.8) and
// policy discovery over a record served from a fake zone, checking the parser's invariants.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/dmarc/evaluator.hpp"
#include "common/dmarc/record.hpp"
#include "common/dns/resolver.hpp"

using namespace mailmoat;

namespace {

/// Answers every TXT query for _dmarc.example.com with the fuzz input; everything else is NXDOMAIN.
class OneRecord final : public dns::Resolver {
public:
    explicit OneRecord(std::string text) : text_(std::move(text)) {}
    dns::Answer query(std::string_view name, dns::RrType type) override {
        dns::Answer a;
        if (name == "_dmarc.example.com" && type == dns::RrType::txt) {
            a.status = dns::Status::ok;
            a.txt.push_back(text_);
        } else {
            a.status = dns::Status::nxdomain;
        }
        return a;
    }

private:
    std::string text_;
};

bool one_of(const std::string& v, std::initializer_list<const char*> allowed) {
    for (const char* a : allowed)
        if (v == a) return true;
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const auto parsed = dmarc::parse_record(text);
    if (parsed.status == dmarc::RecordStatus::not_dmarc) {
        if (dmarc::is_dmarc_record(text)) std::abort();
        return 0;
    }
    const auto& r = parsed.record;
    switch (r.state) {
        case dmarc::PolicyState::valid:
            if (!one_of(r.p, {"none", "quarantine", "reject"})) std::abort();
            if (!r.sp.empty() && !one_of(r.sp, {"none", "quarantine", "reject"})) std::abort();
            if (!r.np.empty() && !one_of(r.np, {"none", "quarantine", "reject"})) std::abort();
            break;
        case dmarc::PolicyState::none_for_rua:
            if (r.p != "none" || r.rua.empty() || !r.sp.empty() || !r.np.empty()) std::abort();
            break;
        case dmarc::PolicyState::unusable:
            if (!r.p.empty() || !r.rua.empty()) std::abort();
            break;
    }
    if (!one_of(r.adkim, {"r", "s"}) || !one_of(r.aspf, {"r", "s"}) || !one_of(r.psd, {"y", "n", "u"})) std::abort();
    if (!r.t.empty() && !one_of(r.t, {"y", "n"})) std::abort();
    if (r.pct < -1 || r.pct > 100) std::abort();
    if (r.rua.size() > dmarc::max_report_uris || r.ruf.size() > dmarc::max_report_uris) std::abort();
    for (const auto& u : r.rua) {
        std::string again;
        if (!dmarc::parse_report_uri(u, again) || again != u) std::abort();
    }

    OneRecord dns(text);
    const auto l = dmarc::discover("example.com", dns, {});
    if (l.trace.size() > 8) std::abort();
    if (l.status == dmarc::Result::pass && !one_of(l.effective_policy, {"none", "quarantine", "reject"})) std::abort();
    return 0;
}
