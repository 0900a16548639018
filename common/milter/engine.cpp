// common/milter/engine.cpp - milter protocol v6, milter side: packet parsing, negotiation, macros per
// stage, session callbacks behind an exception wall, replies and end-of-message modifications.
#include "common/milter/engine.hpp"

#include <algorithm>
#include <exception>
#include <stdexcept>

#include "common/log/logger.hpp"
#include "common/milter/protocol.hpp"

namespace mailmoat::milter {
namespace {

constexpr std::size_t max_args = 64;  // ESMTP arguments per MAIL/RCPT looked at
constexpr std::size_t max_header_name = 256;

std::uint32_t stage_no_flag(Stage s) {
    switch (s) {
    case Stage::connect: return proto::p_noconnect;
    case Stage::helo: return proto::p_nohelo;
    case Stage::envfrom: return proto::p_nomail;
    case Stage::envrcpt: return proto::p_norcpt;
    case Stage::data: return proto::p_nodata;
    case Stage::header: return proto::p_nohdrs;
    case Stage::eoh: return proto::p_noeoh;
    case Stage::body: return proto::p_nobody;
    case Stage::unknown: return proto::p_nounknown;
    case Stage::eom: return 0;
    }
    return 0;
}

std::uint32_t stage_nr_flag(Stage s) {
    switch (s) {
    case Stage::connect: return proto::p_nr_conn;
    case Stage::helo: return proto::p_nr_helo;
    case Stage::envfrom: return proto::p_nr_mail;
    case Stage::envrcpt: return proto::p_nr_rcpt;
    case Stage::data: return proto::p_nr_data;
    case Stage::header: return proto::p_nr_hdr;
    case Stage::eoh: return proto::p_nr_eoh;
    case Stage::body: return proto::p_nr_body;
    case Stage::unknown: return proto::p_nr_unkn;
    case Stage::eom: return 0;
    }
    return 0;
}

const char* stage_name(Stage s) {
    switch (s) {
    case Stage::connect: return "connect";
    case Stage::helo: return "helo";
    case Stage::envfrom: return "mail";
    case Stage::envrcpt: return "rcpt";
    case Stage::data: return "data";
    case Stage::header: return "header";
    case Stage::eoh: return "eoh";
    case Stage::body: return "body";
    case Stage::eom: return "eom";
    case Stage::unknown: return "unknown";
    }
    return "?";
}

std::uint32_t action_flags(const Actions& a) {
    std::uint32_t f = 0;
    if (a.add_headers) f |= proto::f_addhdrs;
    if (a.change_headers) f |= proto::f_chghdrs;
    if (a.change_body) f |= proto::f_chgbody;
    if (a.add_rcpt) f |= proto::f_addrcpt | proto::f_addrcpt_par;
    if (a.del_rcpt) f |= proto::f_delrcpt;
    if (a.change_from) f |= proto::f_chgfrom;
    if (a.quarantine) f |= proto::f_quarantine;
    return f;
}

/// Index into the per-stage macro sets for SMFIC_MACRO's command byte; -1 for others.
int macro_index(char cmd) {
    switch (cmd) {
    case proto::cmd_connect: return static_cast<int>(MacroStage::connect);
    case proto::cmd_helo: return static_cast<int>(MacroStage::helo);
    case proto::cmd_mail: return static_cast<int>(MacroStage::envfrom);
    case proto::cmd_rcpt: return static_cast<int>(MacroStage::envrcpt);
    case proto::cmd_data: return static_cast<int>(MacroStage::data);
    case proto::cmd_bodyeob: return static_cast<int>(MacroStage::eom);
    case proto::cmd_eoh: return static_cast<int>(MacroStage::eoh);
    default: return -1;
    }
}

/// Takes one NUL-terminated string off the front of d; false when there is no NUL.
bool take_string(std::string_view& d, std::string_view& out) {
    const auto nul = d.find('\0');
    if (nul == std::string_view::npos) return false;
    out = d.substr(0, nul);
    d.remove_prefix(nul + 1);
    return true;
}

/// NUL-terminated strings filling d exactly; false if the last one is unterminated.
bool split_strings(std::string_view d, std::vector<std::string_view>& out, std::size_t max) {
    while (!d.empty()) {
        std::string_view s;
        if (!take_string(d, s)) return false;
        if (out.size() < max) out.push_back(s);
    }
    return true;
}

bool valid_header_name(std::string_view name) {
    if (name.empty() || name.size() > max_header_name) return false;
    for (char c : name)  // RFC 5322 §3.6.8 ftext
        if (c < 33 || c > 126 || c == ':') return false;
    return true;
}

bool valid_header_value(std::string_view value) { return value.find('\0') == std::string_view::npos; }

bool valid_mailbox_arg(std::string_view text) {
    return !text.empty() && text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

void put_str(std::string& s, std::string_view v) {
    s.append(v);
    s += '\0';
}

/// True when a verdict ends the mail transaction without an abort from the MTA: a final verdict
/// inside a message (a rejected recipient ends only that recipient).
bool ends_message(Stage stage, Status s) {
    if (s == Status::continue_ || s == Status::skip) return false;
    switch (stage) {
    case Stage::envfrom:
    case Stage::data:
    case Stage::header:
    case Stage::eoh:
    case Stage::body: return true;
    case Stage::envrcpt: return s == Status::accept || s == Status::discard;
    default: return false;  // connection stages; eom ends itself; unknown commands
    }
}

std::string printable(std::string_view s, std::size_t max = 64) {
    std::string out;
    for (char c : s.substr(0, max)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
    return out;
}

}  // namespace

/// The Context a Session sees: macros, reply text, and modifications (queued during end of message).
class Conversation::Ctx final : public Context {
public:
    explicit Ctx(Conversation& c) : c_(c) {}

    std::optional<std::string> macro(std::string_view name) const override { return c_.macro(name); }

    Outcome set_reply(std::string_view rcode, std::string_view xcode, const std::vector<std::string>& lines) override {
        if (!valid_reply(rcode, xcode, lines)) return Outcome::invalid;
        // libmilter's smfi_setreply / smfi_setmlreply text: "550 5.7.1 text" (no xcode: "550 text");
        // several lines "550-5.7.1 l1\r\n550 5.7.1 l2" (no xcode: 4.0.0 / 5.0.0).
        std::string r;
        if (lines.size() == 1) {
            r.append(rcode).append(" ");
            if (!xcode.empty()) r.append(xcode).append(" ");
            r.append(lines[0]);
        } else {
            const std::string_view xc = !xcode.empty() ? xcode : (rcode[0] == '4' ? "4.0.0" : "5.0.0");
            for (std::size_t i = 0; i < lines.size(); ++i) {
                r.append(rcode).append(i + 1 < lines.size() ? "-" : " ").append(xc).append(" ").append(lines[i]);
                if (i + 1 < lines.size()) r.append("\r\n");
            }
        }
        c_.reply_ = std::move(r);
        return Outcome::ok;
    }

    Outcome add_header(std::string_view name, std::string_view value) override {
        if (!c_.options_.actions.add_headers || !valid_header_name(name) || !valid_header_value(value))
            return Outcome::invalid;
        if (!c_.in_eom_) return Outcome::failed;
        std::string d;
        put_str(d, name);
        put_str(d, value);
        proto::append_packet(c_.mods_, proto::rep_addheader, d);
        return Outcome::ok;
    }
    Outcome insert_header(int index, std::string_view name, std::string_view value) override {
        if (!c_.options_.actions.add_headers || index < 0 || !valid_header_name(name) || !valid_header_value(value))
            return Outcome::invalid;
        return indexed_header(proto::rep_insheader, static_cast<std::uint32_t>(index), name, value);
    }
    Outcome change_header(std::string_view name, int index, std::string_view value) override {
        if (!c_.options_.actions.change_headers || index < 1 || !valid_header_name(name) || !valid_header_value(value))
            return Outcome::invalid;
        return indexed_header(proto::rep_chgheader, static_cast<std::uint32_t>(index), name, value);
    }
    Outcome add_rcpt(std::string_view rcpt, std::string_view args) override {
        if (!c_.options_.actions.add_rcpt || !valid_mailbox_arg(rcpt)) return Outcome::invalid;
        if (!args.empty() && !valid_mailbox_arg(args)) return Outcome::invalid;
        if (!c_.in_eom_) return Outcome::failed;
        std::string d;
        put_str(d, rcpt);
        if (args.empty()) {
            proto::append_packet(c_.mods_, proto::rep_addrcpt, d);
        } else {
            put_str(d, args);
            proto::append_packet(c_.mods_, proto::rep_addrcpt_par, d);
        }
        return Outcome::ok;
    }
    Outcome del_rcpt(std::string_view rcpt) override {
        if (!c_.options_.actions.del_rcpt || !valid_mailbox_arg(rcpt)) return Outcome::invalid;
        return one_string(proto::rep_delrcpt, rcpt);
    }
    Outcome change_from(std::string_view sender, std::string_view args) override {
        if (!c_.options_.actions.change_from || !valid_mailbox_arg(sender)) return Outcome::invalid;
        if (!args.empty() && !valid_mailbox_arg(args)) return Outcome::invalid;
        if (!c_.in_eom_) return Outcome::failed;
        std::string d;
        put_str(d, sender);
        if (!args.empty()) put_str(d, args);
        proto::append_packet(c_.mods_, proto::rep_chgfrom, d);
        return Outcome::ok;
    }
    Outcome quarantine(std::string_view reason) override {
        if (!c_.options_.actions.quarantine || !valid_mailbox_arg(reason)) return Outcome::invalid;
        return one_string(proto::rep_quarantine, reason);
    }
    Outcome replace_body_chunk(std::string_view chunk) override {
        if (!c_.options_.actions.change_body || chunk.size() > proto::max_chunk) return Outcome::invalid;
        if (!c_.in_eom_) return Outcome::failed;
        proto::append_packet(c_.mods_, proto::rep_replbody, chunk);
        return Outcome::ok;
    }

private:
    Outcome indexed_header(char cmd, std::uint32_t index, std::string_view name, std::string_view value) {
        if (!c_.in_eom_) return Outcome::failed;
        std::string d;
        proto::put32(d, index);
        put_str(d, name);
        put_str(d, value);
        proto::append_packet(c_.mods_, cmd, d);
        return Outcome::ok;
    }
    Outcome one_string(char cmd, std::string_view s) {
        if (!c_.in_eom_) return Outcome::failed;
        std::string d;
        put_str(d, s);
        proto::append_packet(c_.mods_, cmd, d);
        return Outcome::ok;
    }

    Conversation& c_;
};

Conversation::Conversation(const RunnerOptions& options, std::function<std::unique_ptr<Session>()> make_session)
    : options_(options), make_session_(std::move(make_session)), ctx_(std::make_unique<Ctx>(*this)) {}

Conversation::~Conversation() { finish(); }

Conversation::Result Conversation::process(std::string_view in, std::size_t* consumed, std::string& out) {
    std::size_t used = 0;
    Result result = Result::more;
    while (result == Result::more && in.size() - used >= 4) {
        const std::uint32_t len = proto::get32(in.substr(used));
        if (len == 0 || len > max_packet) {
            log::error().queue_id(queue_id_).kv("length", static_cast<std::uint64_t>(len))
                .kv("max", static_cast<std::uint64_t>(max_packet))
                .msg("milter packet length out of range; closing the connection");
            result = Result::close;
            break;
        }
        if (in.size() - used - 4 < len) break;
        const char cmd = in[used + 4];
        const std::string_view data = in.substr(used + 5, len - 1);
        used += 4 + static_cast<std::size_t>(len);
        result = handle(cmd, data, out);
    }
    *consumed = used;
    return result;
}

Conversation::Result Conversation::protocol_error(std::string_view what) {
    log::error().queue_id(queue_id_).kv("error", what).msg("milter protocol error; closing the connection");
    return Result::close;
}

bool Conversation::no_reply(Stage stage) const noexcept {
    const auto nr = stage_nr_flag(stage);
    return nr != 0 && (protocol_ & nr) != 0;
}

Session& Conversation::session() {
    if (!session_) {
        if (!make_session_) throw std::runtime_error("no session factory");
        session_ = make_session_();
        if (!session_) throw std::runtime_error("session factory returned no session");
        session_->attach(ctx_.get());
    }
    return *session_;
}

std::optional<std::string> Conversation::macro(std::string_view name) const {
    // Postfix and sendmail spell long names "{name}"; callers may use either spelling.
    std::string_view bare = name;
    if (bare.size() >= 2 && bare.front() == '{' && bare.back() == '}') bare = bare.substr(1, bare.size() - 2);
    if (bare.empty()) return std::nullopt;
    // Most recent stage first: eom, eoh, data, rcpt, mail, helo, connect.
    static constexpr std::array<MacroStage, 7> order{MacroStage::eom,     MacroStage::eoh,  MacroStage::data,
                                                     MacroStage::envrcpt, MacroStage::envfrom, MacroStage::helo,
                                                     MacroStage::connect};
    for (const auto st : order) {
        for (const auto& [n, v] : macros_[static_cast<std::size_t>(st)]) {
            std::string_view nb = n;
            if (nb.size() >= 2 && nb.front() == '{' && nb.back() == '}') nb = nb.substr(1, nb.size() - 2);
            if (nb == bare) return v;
        }
    }
    return std::nullopt;
}

void Conversation::end_message() noexcept {
    pending_.reset();
    queue_id_.clear();
    reply_.clear();
    in_message_ = false;
    try {
        if (session_) session_->reset();
    } catch (const std::exception& e) {
        log::error().kv("stage", "reset").kv("error", e.what());
    } catch (...) {
        log::error().kv("stage", "reset").kv("error", "unknown exception");
    }
}

void Conversation::emit(Stage stage, Status s, std::string& out) {
    char r = proto::rep_continue;
    switch (s) {
    case Status::continue_: r = proto::rep_continue; break;
    case Status::accept: r = proto::rep_accept; break;
    case Status::reject: r = proto::rep_reject; break;
    case Status::tempfail: r = proto::rep_tempfail; break;
    case Status::discard: r = proto::rep_discard; break;
    case Status::skip:
        r = stage == Stage::body && (protocol_ & proto::p_skip) != 0 ? proto::rep_skip : proto::rep_continue;
        break;
    }
    if ((s == Status::reject && !reply_.empty() && reply_[0] == '5') ||
        (s == Status::tempfail && !reply_.empty() && reply_[0] == '4')) {
        reply_ += '\0';
        proto::append_packet(out, proto::rep_replycode, reply_);
        reply_.clear();  // used; otherwise kept for a later reject/tempfail of this message
    } else {
        proto::append_packet(out, r, {});
    }
}

void Conversation::answer(Stage stage, Status s, std::string& out) {
    if (no_reply(stage)) {
        if (s != Status::continue_ && s != Status::skip && !pending_) {
            log::warning().queue_id(queue_id_).kv("stage", stage_name(stage))
                .msg("verdict at a no-reply stage; given at the next reply");
            pending_ = s;
        }
        return;
    }
    if (pending_ && s == Status::continue_) {
        s = *pending_;
        pending_.reset();
    }
    emit(stage, s, out);
    if (ends_message(stage, s)) end_message();
}

template <class Fn>
void Conversation::dispatch(Stage stage, std::string& out, Fn&& fn) {
    const char* what = nullptr;
    std::string error;
    try {
        Session& s = session();
        if (queue_id_.empty()) {
            if (auto q = macro("i")) queue_id_ = std::move(*q);
        }
        answer(stage, fn(s), out);
        return;
    } catch (const std::exception& e) {
        error = e.what();
        what = error.c_str();
    } catch (...) {
        what = "unknown exception";
    }
    log::error().queue_id(queue_id_).kv("stage", stage_name(stage)).kv("error", what).kv("action", "tempfail");
    if (no_reply(stage)) {
        pending_ = Status::tempfail;
        return;
    }
    pending_.reset();
    emit(stage, Status::tempfail, out);
    if (ends_message(stage, Status::tempfail)) end_message();
}

Conversation::Result Conversation::negotiate(std::string_view data, std::string& out) {
    if (negotiated_ && !renegotiate_ok_) return protocol_error("second option negotiation");
    if (data.size() < 12) return protocol_error("short option negotiation");
    const std::uint32_t version = proto::get32(data);
    const std::uint32_t offered_actions = proto::get32(data.substr(4));
    const std::uint32_t offered_protocol = proto::get32(data.substr(8));
    if (version < 2) return protocol_error("MTA speaks milter protocol version " + std::to_string(version));
    std::uint32_t actions = action_flags(options_.actions);
    if ((offered_actions & actions) != actions) {
        log::error().kv("offered_actions", static_cast<std::uint64_t>(offered_actions))
            .kv("needed_actions", static_cast<std::uint64_t>(actions))
            .msg("MTA does not allow the modifications this milter needs");
        return Result::close;
    }
    std::uint32_t protocol = 0;
    for (auto s : {Stage::connect, Stage::helo, Stage::envfrom, Stage::envrcpt, Stage::data, Stage::header,
                   Stage::eoh, Stage::body, Stage::unknown}) {
        if (!options_.stages.has(s)) protocol |= stage_no_flag(s) | stage_nr_flag(s);
        else if (options_.no_reply.has(s)) protocol |= stage_nr_flag(s);
    }
    protocol |= proto::p_skip;
    protocol &= offered_protocol;  // ask only for what the MTA offers; the rest is handled per command
    const bool send_macros = version >= 6 && (offered_actions & proto::f_setsymlist) != 0 &&
                             std::any_of(options_.macros.begin(), options_.macros.end(),
                                         [](const auto& m) { return !m.second.empty(); });
    if (send_macros) actions |= proto::f_setsymlist;
    std::string d;
    proto::put32(d, std::min(version, proto::version));
    proto::put32(d, actions);
    proto::put32(d, protocol);
    if (send_macros) {
        for (const auto& [stage, list] : options_.macros) {
            if (list.empty()) continue;
            proto::put32(d, static_cast<std::uint32_t>(stage));
            put_str(d, list);
        }
    }
    proto::append_packet(out, proto::cmd_optneg, d);
    protocol_ = protocol;
    negotiated_ = true;
    renegotiate_ok_ = false;
    return Result::more;
}

Conversation::Result Conversation::handle(char cmd, std::string_view data, std::string& out) {
    if (cmd == proto::cmd_optneg) return negotiate(data, out);
    if (!negotiated_) return protocol_error(std::string("command '") + printable(std::string_view(&cmd, 1)) +
                                            "' before option negotiation");
    if (cmd != proto::cmd_macro) renegotiate_ok_ = false;
    switch (cmd) {
    case proto::cmd_macro: {
        if (data.empty()) return protocol_error("empty macro packet");
        const int idx = macro_index(data[0]);
        data.remove_prefix(1);
        Macros list;
        while (!data.empty()) {
            std::string_view name, value;
            if (!take_string(data, name) || !take_string(data, value))
                return protocol_error("truncated macro list");
            if (idx >= 0) list.emplace_back(name, value);
        }
        if (idx >= 0) macros_[static_cast<std::size_t>(idx)] = std::move(list);
        return Result::more;
    }
    case proto::cmd_connect: {
        std::string_view host;
        if (!take_string(data, host) || data.empty()) return protocol_error("truncated connect packet");
        ConnectInfo info;
        info.host_name = std::string(host);
        const char family = data[0];
        data.remove_prefix(1);
        if (family != 'U') {
            std::string_view addr;
            if (data.size() < 2) return protocol_error("truncated connect packet");
            const auto port = static_cast<std::uint16_t>((static_cast<unsigned char>(data[0]) << 8) |
                                                         static_cast<unsigned char>(data[1]));
            data.remove_prefix(2);
            if (!take_string(data, addr) || !data.empty()) return protocol_error("malformed connect address");
            if (family == '4' || family == '6') {
                if (family == '6' && addr.size() > 5 &&
                    (addr.substr(0, 5) == "IPv6:" || addr.substr(0, 5) == "ipv6:"))
                    addr.remove_prefix(5);
                auto ip = util::IpAddress::parse(addr);
                if (!ip) return protocol_error("bad client address '" + printable(addr) + "'");
                info.family = family == '4' ? ConnectInfo::Family::inet : ConnectInfo::Family::inet6;
                info.address = *ip;
                info.port = port;
            } else if (family == 'L') {
                info.family = ConnectInfo::Family::unix_path;
                info.unix_path = std::string(addr);
            } else {
                return protocol_error("bad address family '" + printable(std::string_view(&family, 1)) + "'");
            }
        }
        dispatch(Stage::connect, out, [&](Session& s) { return s.on_connect(info); });
        return Result::more;
    }
    case proto::cmd_helo: {
        std::string_view name;
        if (!take_string(data, name)) return protocol_error("malformed helo packet");
        dispatch(Stage::helo, out, [&](Session& s) { return s.on_helo(name); });
        return Result::more;
    }
    case proto::cmd_mail:
    case proto::cmd_rcpt: {
        std::vector<std::string_view> args;
        if (!split_strings(data, args, max_args) || args.empty())
            return protocol_error(cmd == proto::cmd_mail ? "malformed mail packet" : "malformed rcpt packet");
        if (cmd == proto::cmd_mail) {
            // A new message: forget the previous message's later-stage macros.
            for (auto st : {MacroStage::envrcpt, MacroStage::data, MacroStage::eoh, MacroStage::eom})
                macros_[static_cast<std::size_t>(st)].clear();
            if (in_message_) end_message();  // the MTA skipped the abort; start clean
            begin_message();
            queue_id_.clear();
            dispatch(Stage::envfrom, out, [&](Session& s) { return s.on_envfrom(args); });
        } else {
            begin_message();
            dispatch(Stage::envrcpt, out, [&](Session& s) { return s.on_envrcpt(args); });
        }
        return Result::more;
    }
    case proto::cmd_data:
        begin_message();
        dispatch(Stage::data, out, [&](Session& s) { return s.on_data(); });
        return Result::more;
    case proto::cmd_header: {
        std::vector<std::string_view> nv;
        if (!split_strings(data, nv, 3) || nv.size() != 2) return protocol_error("malformed header packet");
        begin_message();
        dispatch(Stage::header, out, [&](Session& s) { return s.on_header(nv[0], nv[1]); });
        return Result::more;
    }
    case proto::cmd_eoh:
        begin_message();
        dispatch(Stage::eoh, out, [&](Session& s) { return s.on_eoh(); });
        return Result::more;
    case proto::cmd_body:
        begin_message();
        dispatch(Stage::body, out, [&](Session& s) { return s.on_body(data); });
        return Result::more;
    case proto::cmd_bodyeob: {
        begin_message();
        if (!data.empty()) {
            // A last body chunk carried by the end of message: a verdict other than continue there is
            // the message's answer (no end-of-message callback then).
            Status verdict = Status::continue_;
            try {
                verdict = session().on_body(data);
            } catch (const std::exception& e) {
                log::error().queue_id(queue_id_).kv("stage", "body").kv("error", e.what()).kv("action", "tempfail");
                verdict = Status::tempfail;
            } catch (...) {
                log::error().queue_id(queue_id_).kv("stage", "body").kv("error", "unknown exception")
                    .kv("action", "tempfail");
                verdict = Status::tempfail;
            }
            if (verdict != Status::continue_ && verdict != Status::skip && !pending_) pending_ = verdict;
        }
        in_eom_ = true;
        mods_.clear();
        std::string final_answer;
        dispatch(Stage::eom, final_answer, [&](Session& s) {
            if (pending_) return Status::continue_;  // answer() substitutes the kept verdict
            Modifier m(*ctx_);
            return s.on_eom(m);
        });
        in_eom_ = false;
        // The modifications, then the final answer: one buffer, one write.
        out += mods_;
        out += final_answer;
        mods_.clear();
        end_message();
        return Result::more;
    }
    case proto::cmd_abort:
        if (in_message_) {
            try {
                if (session_) session_->on_abort();
            } catch (const std::exception& e) {
                log::error().queue_id(queue_id_).kv("stage", "abort").kv("error", e.what());
            } catch (...) {
                log::error().queue_id(queue_id_).kv("stage", "abort").kv("error", "unknown exception");
            }
            end_message();
        }
        pending_.reset();
        reply_.clear();
        for (auto st : {MacroStage::envfrom, MacroStage::envrcpt, MacroStage::data, MacroStage::eoh, MacroStage::eom})
            macros_[static_cast<std::size_t>(st)].clear();
        return Result::more;
    case proto::cmd_quit: return Result::close;
    case proto::cmd_quit_nc:
        reset_connection();
        renegotiate_ok_ = true;
        return Result::more;
    case proto::cmd_unknown: {
        std::string_view command;
        if (!take_string(data, command)) return protocol_error("malformed unknown-command packet");
        dispatch(Stage::unknown, out, [&](Session& s) { return s.on_unknown(command); });
        return Result::more;
    }
    default:
        return protocol_error("unknown command '" + printable(std::string_view(&cmd, 1)) + "'");
    }
}

void Conversation::reset_connection() noexcept {
    finish();
    finished_ = false;
    session_.reset();
    pending_.reset();
    reply_.clear();
    queue_id_.clear();
    for (auto& m : macros_) m.clear();
}

void Conversation::finish() noexcept {
    if (finished_) return;
    finished_ = true;
    if (!session_) return;
    auto guarded = [&](const char* stage, auto&& fn) {
        try {
            fn();
        } catch (const std::exception& e) {
            log::error().queue_id(queue_id_).kv("stage", stage).kv("error", e.what());
        } catch (...) {
            log::error().queue_id(queue_id_).kv("stage", stage).kv("error", "unknown exception");
        }
    };
    if (in_message_) {
        guarded("abort", [&] { session_->on_abort(); });
        end_message();
    }
    guarded("close", [&] { session_->on_close(); });
    session_.reset();
}

}  // namespace mailmoat::milter
