// common/table/prefilter.cpp - Hyperscan prefilter for pattern tables (HS_FLAG_PREFILTER: never misses a
// match, may report extra candidates, which PCRE2 then rejects).
#include "common/table/prefilter.hpp"

#include <algorithm>
#include <cstdlib>
#include <mutex>

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#ifdef MAILMOAT_HAVE_HYPERSCAN
#include "common/table/hs_handles.hpp"
#endif

namespace mailmoat::table {

#ifdef MAILMOAT_HAVE_HYPERSCAN

struct Prefilter::Impl {
    HsDatabase db;
    std::vector<std::uint32_t> always;  // rule indexes Hyperscan could not take, ascending
    mutable std::mutex lock;            // guards the scratch pool
    mutable std::vector<HsScratch> pool;
    HsScratch prototype;
};

namespace {

unsigned hs_flags(std::uint32_t options) {
    unsigned f = HS_FLAG_PREFILTER | HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY;
    if (options & PCRE2_CASELESS) f |= HS_FLAG_CASELESS;
    if (options & PCRE2_DOTALL) f |= HS_FLAG_DOTALL;
    if (options & PCRE2_MULTILINE) f |= HS_FLAG_MULTILINE;
    return f;
}

/// The pattern as Hyperscan reads it: PCRE2_EXTENDED has no flag there, an inline (?x) does the same.
/// ANCHORED, DOLLAR_ENDONLY and UNGREEDY are left out: without them a pattern matches at least as
/// often, which a prefilter may do.
std::string hs_text(const Prefilter::Pattern& p) {
    return (p.options & PCRE2_EXTENDED) ? "(?x)" + p.text : p.text;
}

int on_match(unsigned int id, unsigned long long, unsigned long long, unsigned int, void* ctx) {
    static_cast<std::vector<std::uint32_t>*>(ctx)->push_back(id);
    return 0;
}

}  // namespace

Prefilter::Prefilter() : impl_(std::make_unique<Impl>()) {}
Prefilter::~Prefilter() = default;

std::unique_ptr<Prefilter> Prefilter::build(const std::vector<Pattern>& patterns) {
    std::unique_ptr<Prefilter> pf(new Prefilter());
    std::vector<std::string> texts;
    std::vector<unsigned> flags, ids;
    for (const Pattern& p : patterns) {
        const std::uint32_t i = p.id;
        std::string t = hs_text(p);
        const unsigned f = hs_flags(p.options);
        hs_expr_info_t* info = nullptr;
        hs_compile_error_t* err = nullptr;
        if (hs_expression_info(t.c_str(), f, &info, &err) != HS_SUCCESS) {
            HsCompileError owned(err);
            pf->impl_->always.push_back(i);
            continue;
        }
        std::free(info);  // allocated by Hyperscan's default allocator (malloc)
        texts.push_back(std::move(t));
        flags.push_back(f);
        ids.push_back(i);
    }
    if (texts.empty()) return nullptr;
    // A pattern can pass hs_expression_info and still fail to compile (resource limits): drop it and retry.
    for (int attempt = 0; attempt < 64 && !texts.empty(); ++attempt) {
        std::vector<const char*> ptrs;
        for (const auto& t : texts) ptrs.push_back(t.c_str());
        hs_database_t* db = nullptr;
        hs_compile_error_t* err = nullptr;
        if (hs_compile_multi(ptrs.data(), flags.data(), ids.data(), static_cast<unsigned>(ptrs.size()), HS_MODE_BLOCK,
                             nullptr, &db, &err) == HS_SUCCESS) {
            pf->impl_->db.reset(db);
            break;
        }
        HsCompileError owned(err);
        if (err == nullptr || err->expression < 0 || static_cast<std::size_t>(err->expression) >= texts.size())
            return nullptr;
        const auto bad = static_cast<std::size_t>(err->expression);
        pf->impl_->always.push_back(ids[bad]);
        texts.erase(texts.begin() + static_cast<long>(bad));
        flags.erase(flags.begin() + static_cast<long>(bad));
        ids.erase(ids.begin() + static_cast<long>(bad));
    }
    if (!pf->impl_->db) return nullptr;
    std::sort(pf->impl_->always.begin(), pf->impl_->always.end());
    hs_scratch_t* scratch = nullptr;
    if (hs_alloc_scratch(pf->impl_->db.get(), &scratch) != HS_SUCCESS) return nullptr;
    pf->impl_->prototype.reset(scratch);
    return pf;
}

Candidates Prefilter::candidates(std::string_view key) const {
    HsScratch scratch;
    {
        std::lock_guard<std::mutex> g(impl_->lock);
        if (!impl_->pool.empty()) {
            scratch = std::move(impl_->pool.back());
            impl_->pool.pop_back();
        }
    }
    if (!scratch) {
        hs_scratch_t* s = nullptr;
        if (hs_clone_scratch(impl_->prototype.get(), &s) != HS_SUCCESS) return {Candidates::Status::error, {}};
        scratch.reset(s);
    }
    Candidates c;
    c.status = Candidates::Status::some;
    const hs_error_t rc = hs_scan(impl_->db.get(), key.data(), static_cast<unsigned>(key.size()), 0, scratch.get(),
                                  on_match, &c.rules);
    {
        std::lock_guard<std::mutex> g(impl_->lock);
        if (impl_->pool.size() < 64) impl_->pool.push_back(std::move(scratch));
    }
    if (rc != HS_SUCCESS) return {Candidates::Status::error, {}};
    if (!impl_->always.empty()) c.rules.insert(c.rules.end(), impl_->always.begin(), impl_->always.end());
    std::sort(c.rules.begin(), c.rules.end());
    c.rules.erase(std::unique(c.rules.begin(), c.rules.end()), c.rules.end());
    return c;
}

std::size_t Prefilter::unfiltered() const noexcept { return impl_->always.size(); }

bool prefilter_available() noexcept { return true; }

#else  // no Hyperscan: every rule is tried

struct Prefilter::Impl {};
Prefilter::Prefilter() : impl_(std::make_unique<Impl>()) {}
Prefilter::~Prefilter() = default;
std::unique_ptr<Prefilter> Prefilter::build(const std::vector<Pattern>&) { return nullptr; }
Candidates Prefilter::candidates(std::string_view) const { return {}; }
std::size_t Prefilter::unfiltered() const noexcept { return 0; }
bool prefilter_available() noexcept { return false; }

#endif

}  // namespace mailmoat::table
