// milters/dmarc/engine.cpp - the session's Engine hooks bound to common/dmarc's evaluate and fill_record.
#include "milters/dmarc/engine.hpp"

namespace mailmoat::dmarcd {

Engine default_engine() {
    Engine e;
    e.evaluate = [](const dmarc::Inputs& in, dns::Resolver& r, const dmarc::Options& o, unsigned sample) {
        return dmarc::evaluate(in, r, o, sample);
    };
    e.fill_record = [](const dmarc::Evaluation& ev, dmarc::ReportRecord& rec) { dmarc::fill_record(ev, rec); };
    return e;
}

std::shared_ptr<const dmarc::PublicSuffixList> load_public_suffix_list(const std::string& path) {
    return dmarc::PublicSuffixList::load(path);
}

}  // namespace mailmoat::dmarcd
