// common/milter/protocol.hpp - milter protocol (version 6) constants and big-endian helpers, shared by
// the engine (the milter side) and MilterClient (the MTA side).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace mailmoat::milter::proto {

inline constexpr std::uint32_t version = 6;
inline constexpr std::size_t max_chunk = 65535;  // body chunk size (MILTER_CHUNK_SIZE)

// Commands, MTA to milter (SMFIC_*).
inline constexpr char cmd_abort = 'A';
inline constexpr char cmd_body = 'B';
inline constexpr char cmd_connect = 'C';
inline constexpr char cmd_macro = 'D';
inline constexpr char cmd_bodyeob = 'E';
inline constexpr char cmd_helo = 'H';
inline constexpr char cmd_quit_nc = 'K';
inline constexpr char cmd_header = 'L';
inline constexpr char cmd_mail = 'M';
inline constexpr char cmd_eoh = 'N';
inline constexpr char cmd_optneg = 'O';
inline constexpr char cmd_quit = 'Q';
inline constexpr char cmd_rcpt = 'R';
inline constexpr char cmd_data = 'T';
inline constexpr char cmd_unknown = 'U';

// Replies, milter to MTA (SMFIR_*).
inline constexpr char rep_addrcpt = '+';
inline constexpr char rep_delrcpt = '-';
inline constexpr char rep_addrcpt_par = '2';
inline constexpr char rep_shutdown = '4';
inline constexpr char rep_accept = 'a';
inline constexpr char rep_replbody = 'b';
inline constexpr char rep_continue = 'c';
inline constexpr char rep_discard = 'd';
inline constexpr char rep_chgfrom = 'e';
inline constexpr char rep_conn_fail = 'f';
inline constexpr char rep_addheader = 'h';
inline constexpr char rep_insheader = 'i';
inline constexpr char rep_chgheader = 'm';
inline constexpr char rep_progress = 'p';
inline constexpr char rep_quarantine = 'q';
inline constexpr char rep_reject = 'r';
inline constexpr char rep_skip = 's';
inline constexpr char rep_tempfail = 't';
inline constexpr char rep_replycode = 'y';

// Actions the milter may take (SMFIF_*), negotiated in SMFIC_OPTNEG.
inline constexpr std::uint32_t f_addhdrs = 0x001;
inline constexpr std::uint32_t f_chgbody = 0x002;
inline constexpr std::uint32_t f_addrcpt = 0x004;
inline constexpr std::uint32_t f_delrcpt = 0x008;
inline constexpr std::uint32_t f_chghdrs = 0x010;
inline constexpr std::uint32_t f_quarantine = 0x020;
inline constexpr std::uint32_t f_chgfrom = 0x040;
inline constexpr std::uint32_t f_addrcpt_par = 0x080;
inline constexpr std::uint32_t f_setsymlist = 0x100;

// Protocol steps (SMFIP_*): events the MTA leaves out (NO*), events it does not wait on (NR_*).
inline constexpr std::uint32_t p_noconnect = 0x1;
inline constexpr std::uint32_t p_nohelo = 0x2;
inline constexpr std::uint32_t p_nomail = 0x4;
inline constexpr std::uint32_t p_norcpt = 0x8;
inline constexpr std::uint32_t p_nobody = 0x10;
inline constexpr std::uint32_t p_nohdrs = 0x20;
inline constexpr std::uint32_t p_noeoh = 0x40;
inline constexpr std::uint32_t p_nr_hdr = 0x80;
inline constexpr std::uint32_t p_nounknown = 0x100;
inline constexpr std::uint32_t p_nodata = 0x200;
inline constexpr std::uint32_t p_skip = 0x400;
inline constexpr std::uint32_t p_rcpt_rej = 0x800;
inline constexpr std::uint32_t p_nr_conn = 0x1000;
inline constexpr std::uint32_t p_nr_helo = 0x2000;
inline constexpr std::uint32_t p_nr_mail = 0x4000;
inline constexpr std::uint32_t p_nr_rcpt = 0x8000;
inline constexpr std::uint32_t p_nr_data = 0x10000;
inline constexpr std::uint32_t p_nr_unkn = 0x20000;
inline constexpr std::uint32_t p_nr_eoh = 0x40000;
inline constexpr std::uint32_t p_nr_body = 0x80000;
inline constexpr std::uint32_t p_hdr_leadspc = 0x100000;

/// Macro stages in SMFIC_OPTNEG's symbol lists (libmilter's SMFIM_*).
inline constexpr int macro_stages = 7;  // connect, helo, envfrom, envrcpt, data, eom, eoh

inline void put32(std::string& s, std::uint32_t v) {
    s += static_cast<char>((v >> 24) & 0xff);
    s += static_cast<char>((v >> 16) & 0xff);
    s += static_cast<char>((v >> 8) & 0xff);
    s += static_cast<char>(v & 0xff);
}

/// The first four bytes of s as a big-endian number; s must hold at least four bytes.
inline std::uint32_t get32(std::string_view s) {
    return (static_cast<std::uint32_t>(static_cast<unsigned char>(s[0])) << 24) |
           (static_cast<std::uint32_t>(static_cast<unsigned char>(s[1])) << 16) |
           (static_cast<std::uint32_t>(static_cast<unsigned char>(s[2])) << 8) |
           static_cast<std::uint32_t>(static_cast<unsigned char>(s[3]));
}

/// Appends one packet (length, command, data) to out.
inline void append_packet(std::string& out, char command, std::string_view data) {
    put32(out, static_cast<std::uint32_t>(data.size() + 1));
    out += command;
    out.append(data);
}

}  // namespace mailmoat::milter::proto
