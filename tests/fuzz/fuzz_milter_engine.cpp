// tests/fuzz/fuzz_milter_engine.cpp - libFuzzer target: the milter side of the protocol (Conversation),
// fed an MTA byte stream after a valid negotiation, with a session that makes every kind of reply and
// modification. Every reply must be a well-formed packet; the engine must never read past its input.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common/log/logger.hpp"
#include "common/milter/engine.hpp"
#include "common/milter/milter_client.hpp"

using namespace mailmoat::milter;

namespace {

class FuzzSession final : public Session {
public:
    Status on_connect(const ConnectInfo& info) override { return info.host_name == "r" ? Status::reject : Status::continue_; }
    Status on_header(std::string_view name, std::string_view value) override {
        if (name == "T") throw std::runtime_error("fuzz");
        if (name == "R") (void)set_reply("550", "5.7.1", value);
        return name == "S" ? Status::skip : Status::continue_;
    }
    Status on_body(std::string_view chunk) override { return chunk.size() == 7 ? Status::skip : Status::continue_; }
    Status on_eom(Modifier& m) override {
        (void)m.add_header("X-F", macro("i").value_or(""));
        (void)m.insert_header(0, "X-G", macro("{auth_authen}").value_or(""));
        (void)m.change_header("Subject", 1, "");
        (void)m.replace_body("b");
        (void)m.add_rcpt("<r@x>", "A=B");
        return macro("j") ? Status::accept : Status::continue_;
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bool quiet = [] {
        mailmoat::log::init("fuzz", true, mailmoat::log::Level::error);
        return true;
    }();
    (void)quiet;
    if (size < 1) return 0;
    RunnerOptions o;
    o.actions.add_headers = o.actions.change_headers = o.actions.change_body = o.actions.add_rcpt = true;
    const unsigned mode = data[0];
    if ((mode & 1) != 0) o.no_reply = {Stage::connect, Stage::helo, Stage::envfrom, Stage::header, Stage::body};
    if ((mode & 2) != 0) o.macros[MacroStage::envfrom] = "i {auth_authen}";
    Conversation conv(o, [] { return std::make_unique<FuzzSession>(); });
    std::string in = (mode & 4) != 0 ? std::string() : wire::optneg(6, wire::postfix_actions, wire::postfix_protocol);
    in.append(reinterpret_cast<const char*>(data + 1), size - 1);
    std::string out;
    std::string_view rest(in);
    // Feed in two pieces, split where the mode byte says, as reads would deliver it.
    const std::size_t split = std::min(rest.size(), static_cast<std::size_t>(mode) * 7);
    std::string pending(rest.substr(0, split));
    rest.remove_prefix(split);
    for (int round = 0; round < 2; ++round) {
        std::size_t used = 0;
        const auto r = conv.process(pending, &used, out);
        if (used > pending.size()) std::abort();
        if (r == Conversation::Result::close) break;
        pending.erase(0, used);
        pending.append(rest);
        rest = {};
    }
    conv.finish();
    std::string_view o_view(out);
    while (!o_view.empty()) {
        wire::Packet p;
        std::size_t used = 0;
        if (wire::decode(o_view, Conversation::max_packet, &p, &used) != wire::Decode::ok) std::abort();
        o_view.remove_prefix(used);
    }
    return 0;
}
