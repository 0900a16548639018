// tests/fuzz/fuzz_arc_headers.cpp - libFuzzer target: ARC header parsing (instance, AMS, AS) and a
// whole header block through the ARC verifier (keys answered from memory), checking the invariants
// of the result: sets in instance order, reasons only on failure, oldest-pass only on pass.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/arc/arc_headers.hpp"
#include "common/arc/arc_verifier.hpp"

namespace {

using namespace mailmoat;

class FixedResolver final : public dns::Resolver {
public:
    dns::Answer query(std::string_view name, dns::RrType) override {
        dns::Answer a;
        if (name.find("temp") != std::string_view::npos) return a;  // tempfail
        a.status = dns::Status::ok;
        a.txt = {"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQi"
                 "Y/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2E"
                 "eC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"};
        return a;
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    for (const auto kind : {arc::FieldKind::aar, arc::FieldKind::ams, arc::FieldKind::seal}) {
        const auto p = arc::parse_instance(kind, text);
        if (p.status == arc::InstanceStatus::ok && (p.instance < 1 || p.instance > arc::max_instance)) std::abort();
    }
    const auto ams = arc::parse_message_signature(text);
    if (ams.status == arc::ParseStatus::ok &&
        (ams.signature.instance < 1 || ams.signature.instance > arc::max_instance || ams.signature.body_hash.size() != 32))
        std::abort();
    const auto seal = arc::parse_seal(text);
    if (seal.status == arc::ParseStatus::ok && (seal.seal.instance < 1 || seal.seal.instance > arc::max_instance))
        std::abort();

    // The input as a message: "Name: value" lines (continuation lines start with SP/HTAB) up to an
    // empty line, then the body.
    FixedResolver dns;
    arc::Verifier v(dns);
    std::size_t pos = 0;
    std::string name, value;
    auto flush = [&] {
        if (!name.empty()) v.add_header(name, value);
        name.clear();
        value.clear();
    };
    while (pos < text.size()) {
        auto nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) break;
        if ((line[0] == ' ' || line[0] == '\t') && !name.empty()) {
            value += "\r\n";
            value += line;
            continue;
        }
        flush();
        const auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) continue;
        name = std::string(line.substr(0, colon));
        value = std::string(line.substr(colon + 1));
    }
    flush();
    v.end_of_headers();
    if (pos < text.size()) v.add_body(text.substr(pos));
    const auto r = v.finish();
    if ((r.status == arc::ChainStatus::pass) != (r.reason == arc::FailReason::none && r.status != arc::ChainStatus::none))
        std::abort();
    if (r.status != arc::ChainStatus::pass && r.oldest_pass != 0) std::abort();
    if (r.status == arc::ChainStatus::pass && (r.sets.size() != r.instances || r.instances == 0 || r.instances > 50))
        std::abort();
    for (std::size_t i = 0; i < r.sets.size(); ++i)
        if (r.sets[i].instance != i + 1) std::abort();
    (void)arc::auth_result_text(r, "192.0.2.1");
    return 0;
}
