// common/checks/scanner.hpp - header/body checks over one message as Postfix's cleanup(8) applies them:
// MIME routing of headers to header/mime/nested tables, body lines in 2048-byte pieces, first match wins.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/checks/action.hpp"
#include "common/checks/attachment.hpp"
#include "common/table/table.hpp"

namespace mailmoat::checks {

/// Which table set an input goes to (header_checks(5) "MIME PROCESSING").
/// decoded_body: text of base64/quoted-printable text parts after decoding (an extension of Postfix);
/// attachment: a file (MIME part or archive entry) judged by the attachment rules; blocklist: the keys
/// ("subject=...", "client-ip=...") looked up in the managed blocklist table. The last three are not in Postfix.
enum class InputClass { header, mime_header, nested_header, body, decoded_body, attachment, blocklist };
[[nodiscard]] const char* input_class_name(InputClass c) noexcept;  // "header", "mime_header", ...

/// The compiled tables and limits; immutable and shared by every message.
struct RuleSet {
    using Tables = std::vector<std::shared_ptr<const table::Table>>;
    Tables header;         // header_checks
    Tables mime_header;    // mime_header_checks (empty: use header, as Postfix's $header_checks default)
    Tables nested_header;  // nested_header_checks (empty: use header)
    Tables body;           // body_checks
    Tables decoded_body;   // decoded-body-checks: lines of decoded base64/QP text parts (not in Postfix)
    Tables blocklist;      // blocklist-table: looked up with the keys of blocklist.hpp after the headers
    std::shared_ptr<const AttachmentRules> attachments;  // attachment-rules (nullptr: none)
    std::size_t attachment_size_limit = 10U << 20;  // decoded bytes of one part kept to sniff and open archives
    ArchiveLimits archive_limits;
    bool mime_set = false;     // mime_header given explicitly (even if empty: "none")
    bool nested_set = false;   // nested_header given explicitly
    std::size_t body_size_limit = 51200;   // body_checks_size_limit; 0 = no limit
    std::size_t line_length_limit = 2048;  // line_length_limit: body lines are checked in pieces this long
    std::size_t header_size_limit = 102400;
    std::size_t mime_nesting_limit = 100;
    std::chrono::milliseconds time_limit{2000};  // total matching time per message; 0 = none

    /// The tables for a class, applying the defaults.
    [[nodiscard]] const Tables& tables(InputClass c) const noexcept;
};

/// One rule that fired.
struct Hit {
    InputClass input_class = InputClass::header;
    std::string table;     // "pcre:/etc/mailmoat/header_checks"
    std::string where;     // "FILE:LINE" (table name and line for inline tables)
    Action action;
    std::string input;     // the header or body line it matched (truncated to 200 bytes as Postfix logs)
    std::size_t part = 0;  // MIME part number (0 = primary header/body)
};

/// A change to a primary header (done through the milter header calls).
struct HeaderEdit {
    std::size_t position = 0;    // 0-based position among the primary headers as received
    std::string name;            // its name
    std::size_t occurrence = 1;  // 1-based among headers of that name (for change_header)
    ActionKind kind = ActionKind::ignore;  // prepend, replace, ignore or strip
    std::string text;            // PREPEND/REPLACE header text "Name: value"
};

/// A change to body lines (done by replacing the body): part headers and body lines.
struct BodyEdit {
    std::size_t line = 0;    // first physical body line (0-based)
    std::size_t nlines = 1;  // physical lines covered (a folded part header spans several)
    long chunk = -1;         // >= 0: only this line_length_limit piece of the line
    ActionKind kind = ActionKind::ignore;
    std::string text;
};

/// The decision for a message.
struct Outcome {
    enum class Final { accept, reject, discard, pass, tempfail };
    Final final = Final::accept;
    Reply reply;                         // for reject
    std::optional<std::string> hold;     // HOLD text (first HOLD wins)
    std::optional<std::string> redirect; // REDIRECT address; it replaces every recipient, BCC ones too
    bool stopped = false;                // REDIRECT ended inspection (cleanup clears CLEANUP_FLAG_FILTER)
    std::vector<std::string> bcc;        // BCC addresses (duplicates dropped)
    std::vector<HeaderEdit> header_edits;
    std::vector<BodyEdit> body_edits;
    std::vector<Hit> hits;               // every rule that fired, in order
    std::vector<std::string> problems;   // match errors, limits reached, rejected PREPEND text ...
    bool time_limit_reached = false;
};
[[nodiscard]] const char* final_name(Outcome::Final f) noexcept;

/// Applies a RuleSet to one message fed in the milter's order. Not thread-safe; one per message.
/// Memory is bounded: one body line piece and one header (header_size_limit) at a time.
class Scanner {
public:
    explicit Scanner(std::shared_ptr<const RuleSet> rules);

    /// The SMTP envelope for blocklist keys: the client address and the MAIL FROM argument ("<a@b>"),
    /// either may be empty when unknown. Call before end_of_headers().
    void envelope(std::string_view client_ip, std::string_view mail_from);
    /// A primary header as one logical line "Name: value" (folds joined with "\n"), in order.
    void header(std::string_view logical);
    /// After the last primary header.
    void end_of_headers();
    /// A piece of the body exactly as on the wire (CRLF or LF line ends); any split.
    void body(std::string_view chunk);
    /// After the last body piece; returns the decision.
    [[nodiscard]] const Outcome& finish();

    /// The decision so far (finish() not yet called).
    [[nodiscard]] const Outcome& outcome() const noexcept { return out_; }
    /// True once REJECT/DISCARD/PASS/REDIRECT (or a tempfail) stopped inspection: callers may stop feeding.
    [[nodiscard]] bool done() const noexcept { return out_.final != Outcome::Final::accept || out_.stopped; }

private:
    enum class State { body, part_header, nested_header };
    struct Block {  // the header block being read (primary, part or nested)
        std::string type;      // lower-case type/subtype of its Content-Type
        std::string boundary;  // its boundary parameter
        std::string encoding;  // lower-case Content-Transfer-Encoding
        std::string charset;   // lower-case charset parameter
        std::string filename;  // Content-Disposition filename, else Content-Type name (decoded)
    };
    enum class Decode { none, base64, qp };
    struct Origin;
    void check(InputClass c, std::string_view input, const Origin& origin);
    void apply(const Hit& hit, const Origin& origin);
    void line(std::string_view text, bool complete);
    void body_line(std::string_view text, bool complete);
    void header_line(std::string_view text);
    void flush_part_header();
    void end_block();
    void note_content_type(std::string_view logical);
    void note_header(std::string_view name, std::string_view logical);
    void decode_line(std::string_view text, bool complete);
    void decoded_byte(char c);
    void flush_decoded();
    void check_blocklist();
    void start_attachment();
    void attachment_bytes(std::string_view text, bool complete);
    void flush_attachment();

    std::shared_ptr<const RuleSet> rules_;
    Outcome out_;
    std::chrono::steady_clock::time_point deadline_;
    bool has_deadline_ = false;
    std::vector<std::string> primary_names_;
    // body state
    std::string pending_;          // the current physical line (at most line_length_limit bytes kept)
    std::size_t line_no_ = 0;      // physical body line number
    long chunk_no_ = 0;            // piece of the current line
    std::size_t body_offset_ = 0;  // offset in the current body segment
    State state_ = State::body;
    Block block_;
    std::vector<std::string> stack_;  // MIME nesting: boundaries, "" for an attached message
    std::string header_buf_;          // a physical line of a part header block being read
    std::string part_header_;      // the logical part header being assembled
    std::size_t part_header_line_ = 0, part_header_lines_ = 0;
    std::size_t part_ = 0;
    bool finished_ = false;
    // decoding of the current segment (decoded-body-checks)
    Decode decode_ = Decode::none;
    std::uint32_t b64_bits_ = 0;
    int b64_count_ = 0;
    std::string decoded_;          // the decoded line being assembled (at most line_length_limit bytes)
    long decoded_chunk_ = 0;
    std::string charset_;          // of the segment being decoded
    // blocklist keys
    std::string client_ip_, mail_from_, subject_, from_, message_id_;
    bool have_subject_ = false, have_from_ = false, have_message_id_ = false, primary_done_ = false;
    // the attachment (leaf part) being collected for the attachment rules
    struct Attachment {
        bool active = false;
        Decode decode = Decode::none;
        std::uint32_t bits = 0;
        int count = 0;
        std::string data;          // decoded, at most `limit` bytes
        std::size_t limit = 0;     // attachment_size_limit; for nameless text only enough to see executable magic
        bool truncated = false;
        FileInfo info;
        std::size_t part = 0;
    } att_;
};

/// The body after body edits, lines ending in CRLF. raw is the original body (any line ends).
/// PREPEND inserts its text as a line before, REPLACE replaces the line (or piece), IGNORE/STRIP drop it.
[[nodiscard]] std::string rewrite_body(std::string_view raw, const std::vector<BodyEdit>& edits,
                                       std::size_t line_length_limit = 2048);

/// Is this header name one of Postfix's MIME headers (HDR_OPT_MIME: Content-Description,
/// Content-Disposition, Content-ID, Content-Transfer-Encoding, Content-Type, MIME-Version)?
[[nodiscard]] bool is_mime_header(std::string_view name) noexcept;

/// Opens every table spec ("pcre:/path", several allowed) with PCRE2 limits; throws table::TableError
/// naming FILE:LINE for the first bad rule.
[[nodiscard]] RuleSet::Tables open_tables(const std::vector<std::string>& specs, const table::Limits& limits = {});

}  // namespace mailmoat::checks
