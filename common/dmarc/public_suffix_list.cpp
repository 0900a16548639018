// common/dmarc/public_suffix_list.cpp - PublicSuffixList on libpsl (RFC 7489 §3.2 organisational
// domains: the publicsuffix.org algorithm with wildcard and exception rules and the implicit "*" rule).
#include <stdexcept>
#include <string>

#include "common/dmarc/domain_name.hpp"
#include "common/dmarc/evaluator.hpp"
#include "common/dmarc/psl_handles.hpp"

namespace mailmoat::dmarc {

namespace {

class LibpslList final : public PublicSuffixList {
public:
    explicit LibpslList(PslHandle psl) : psl_(std::move(psl)) {}

    std::string organizational_domain(const std::string& domain) const override {
        const std::string name = to_a_label(domain);
        if (name.empty()) return {};
        // NULL: the name is itself a public suffix (or shorter), so it is its own organisational domain.
        const char* reg = psl_registrable_domain(psl_.get(), name.c_str());
        return reg == nullptr ? name : std::string(reg);
    }

    std::string public_suffix(const std::string& domain) const override {
        const std::string name = to_a_label(domain);
        if (name.empty()) return {};
        const char* suffix = psl_unregistrable_domain(psl_.get(), name.c_str());
        return suffix == nullptr ? std::string() : std::string(suffix);
    }

private:
    PslHandle psl_;
};

}  // namespace

std::shared_ptr<const PublicSuffixList> PublicSuffixList::load(const std::string& path) {
    PslHandle psl(psl_load_file(path.c_str()));
    if (!psl) throw std::runtime_error("cannot read public suffix list " + path);
    // psl_suffix_count() is -1 for a DAFSA file (counts unknown) and 0 for a file without any rule.
    if (psl_suffix_count(psl.get()) == 0) throw std::runtime_error("public suffix list " + path + " holds no rule");
    return std::make_shared<const LibpslList>(std::move(psl));
}

}  // namespace mailmoat::dmarc
