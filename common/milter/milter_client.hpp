// common/milter/milter_client.hpp - the MTA side of the milter protocol (version 6), as Postfix speaks it.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/milter/protocol.hpp"
#include "common/util/socket_spec.hpp"

namespace mailmoat::milter {

/// Packet encoding and decoding. A packet is a 4-byte big-endian length (command byte + data),
/// the command byte and the data (sendmail's libmilter/docs, Postfix src/milter/milter8.c).
namespace wire {

inline constexpr std::uint32_t protocol_version = proto::version;
inline constexpr std::uint32_t postfix_actions = 0x1FF;     // SMFIF_ADDHDRS .. SMFIF_SETSYMLIST
inline constexpr std::uint32_t postfix_protocol = 0x1FFFFF; // SMFIP_NOCONNECT .. SMFIP_HDR_LEADSPC
inline constexpr std::size_t max_chunk = proto::max_chunk;   // body chunk size (MILTER_CHUNK_SIZE)

using Macros = std::vector<std::pair<std::string, std::string>>;

[[nodiscard]] std::string packet(char command, std::string_view data);
[[nodiscard]] std::string optneg(std::uint32_t version, std::uint32_t actions, std::uint32_t protocol);
/// SMFIC_MACRO for the event `stage` ('C', 'H', 'M', 'R', 'T', 'N', 'E'): name NUL value NUL ...
[[nodiscard]] std::string macros(char stage, const Macros& list);
/// SMFIC_CONNECT: host NUL family [port(2, network order) address NUL]; family 'U' has neither.
[[nodiscard]] std::string connect(std::string_view host, char family, std::uint16_t port, std::string_view address);
[[nodiscard]] std::string helo(std::string_view name);
/// SMFIC_MAIL / SMFIC_RCPT: each argument NUL-terminated, the address first.
[[nodiscard]] std::string mail(const std::vector<std::string>& args);
[[nodiscard]] std::string rcpt(const std::vector<std::string>& args);
[[nodiscard]] std::string header(std::string_view name, std::string_view value);
/// One body chunk; data longer than max_chunk is a programming error (std::invalid_argument).
[[nodiscard]] std::string body(std::string_view chunk);
[[nodiscard]] std::string unknown(std::string_view command);
[[nodiscard]] std::string simple(char command);  // 'T' data, 'N' eoh, 'E' eom, 'A' abort, 'Q' quit, 'K' quit_nc

struct Packet {
    char command = 0;
    std::string data;
};
enum class Decode { ok, incomplete, malformed };
/// Decodes the first packet in buf. ok: *out filled and *consumed set; incomplete: need more bytes;
/// malformed: zero length or longer than max_len (the stream cannot be resynchronised).
[[nodiscard]] Decode decode(std::string_view buf, std::size_t max_len, Packet* out, std::size_t* consumed);

/// The milter's answer to SMFIC_OPTNEG: version, actions, protocol and optional macro lists
/// (stage number -> names). nullopt for a wrong command or short/garbled data.
struct Negotiation {
    std::uint32_t version = 0;
    std::uint32_t actions = 0;
    std::uint32_t protocol = 0;
    std::map<int, std::vector<std::string>> macro_lists;
};
[[nodiscard]] std::optional<Negotiation> parse_optneg(const Packet& p);

}  // namespace wire

/// A message modification requested at end of message.
struct Modification {
    enum class Kind { add_header, insert_header, change_header, add_rcpt, add_rcpt_par, del_rcpt, change_from,
                      quarantine, replace_body };
    Kind kind = Kind::add_header;
    std::uint32_t index = 0;  // insert_header / change_header
    std::string name;         // header name; recipient; sender; quarantine reason
    std::string value;        // header value (empty: delete); ESMTP args; body chunk
    friend bool operator==(const Modification&, const Modification&) = default;
};
/// Parses a modification reply packet; nullopt for other commands or malformed data.
[[nodiscard]] std::optional<Modification> parse_modification(const wire::Packet& p);

/// The outcome of one protocol step.
struct StepReply {
    enum class Verdict {
        continue_, accept, reject, tempfail, discard, skip,
        reply_code,   // SMFIR_REPLYCODE: reject/tempfail with `text` ("550 5.7.1 ...")
        shutdown,     // SMFIR_SHUTDOWN (421)
        conn_fail,    // SMFIR_CONN_FAIL
        no_reply,     // the milter negotiated not to answer this step
        skipped,      // not sent: negotiated away (SMFIP_NO*) or skipped after SMFIR_SKIP
        error,        // I/O error, timeout or protocol violation; `text` says which; connection closed
    };
    Verdict verdict = Verdict::error;
    std::string text;
    std::vector<Modification> modifications;  // end of message only
    [[nodiscard]] bool ok() const noexcept { return verdict != Verdict::error; }
};
[[nodiscard]] const char* verdict_name(StepReply::Verdict v) noexcept;

struct ClientOptions {
    std::uint32_t actions = wire::postfix_actions;
    std::uint32_t protocol = wire::postfix_protocol;
    std::chrono::milliseconds timeout{30000};  // per read/write wait
    std::size_t max_packet = 1 << 20;          // largest reply packet accepted
    std::size_t max_modifications = 10000;     // per end of message
    /// TCP only: put the socket in delayed-ACK mode before every read (Linux TCP_QUICKACK=0), as an
    /// MTA's kernel is when it sends its next request right after each reply. Makes the Nagle +
    /// delayed-ACK stall of a milter that writes two small packets in a row reproducible.
    bool delayed_ack = false;
};

/// A blocking milter-protocol client for one MTA connection: what Postfix's milter8 client does, in
/// C++. Packets are buffered and written when a reply is due (as Postfix does), so events the milter
/// does not answer travel together with the next one. Not thread-safe; one per thread.
class MilterClient {
public:
    explicit MilterClient(ClientOptions options = {});
    MilterClient(const MilterClient&) = delete;
    MilterClient& operator=(const MilterClient&) = delete;
    ~MilterClient();

    /// Connects and negotiates. Verdict continue_ on success; error (text says why) otherwise.
    [[nodiscard]] StepReply open(const util::SocketSpec& spec);
    [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0; }
    void close() noexcept;
    [[nodiscard]] const wire::Negotiation& negotiated() const noexcept { return neg_; }

    // Each step sends the macros given (filtered to the milter's requested list for that stage,
    // if it sent one), then the event unless negotiated away, and reads the reply unless the
    // milter said it would not send one.
    [[nodiscard]] StepReply connect(std::string_view host, char family, std::uint16_t port, std::string_view address,
                                    const wire::Macros& macros = {});
    [[nodiscard]] StepReply helo(std::string_view name, const wire::Macros& macros = {});
    [[nodiscard]] StepReply mail(const std::vector<std::string>& args, const wire::Macros& macros = {});
    [[nodiscard]] StepReply rcpt(const std::vector<std::string>& args, const wire::Macros& macros = {});
    [[nodiscard]] StepReply data(const wire::Macros& macros = {});
    [[nodiscard]] StepReply header(std::string_view name, std::string_view value);
    [[nodiscard]] StepReply eoh(const wire::Macros& macros = {});
    /// Sends the body in chunks of at most 65535 bytes; returns the first answer that is not
    /// continue/no_reply (remaining chunks are not sent), or the last one.
    [[nodiscard]] StepReply body(std::string_view data);
    /// End of message: collects modifications until the final verdict.
    [[nodiscard]] StepReply eom(const wire::Macros& macros = {});
    [[nodiscard]] StepReply unknown(std::string_view command);
    /// SMFIC_ABORT (no reply); resets skip state for the next message.
    [[nodiscard]] bool abort();
    /// SMFIC_QUIT and close.
    void quit() noexcept;
    /// Writes raw bytes (tests: garbage, truncated packets). False on error.
    [[nodiscard]] bool send_raw(std::string_view bytes);

private:
    enum class Event { connect, helo, mail, rcpt, data, header, eoh, body, eom, unknown };
    StepReply step(Event ev, char macro_stage, int symlist_stage, const wire::Macros& macros, const std::string& pkt);
    StepReply read_reply(Event ev);
    bool flush();
    bool read_packet(wire::Packet& p, std::string& error);
    StepReply fail(std::string text);

    ClientOptions options_;
    int fd_ = -1;
    wire::Negotiation neg_;
    std::string out_;
    std::string in_;
    bool skip_body_ = false;
};

}  // namespace mailmoat::milter
