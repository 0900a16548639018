// common/dmarc_report/archive.hpp - the containers reports travel in (RFC 7489 §7.2.1.1, RFC 9990 §5):
// gzip (RFC 1952) through zlib, zip through libzip; every inflation bounded so that a bomb cannot fill
// memory or disk.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace mailmoat::dmarc_report {

/// gzip-compresses `data` (level 9). Throws std::runtime_error only if zlib itself fails.
[[nodiscard]] std::string gzip_compress(std::string_view data);

enum class ArchiveKind { gzip, zip, plain };
/// By magic bytes: 1f 8b → gzip, "PK\3\4" → zip, else plain.
[[nodiscard]] ArchiveKind sniff_archive(std::string_view data) noexcept;

enum class UnpackStatus { ok, malformed, too_large };
[[nodiscard]] const char* unpack_status_name(UnpackStatus s) noexcept;

struct UnpackResult {
    UnpackStatus status = UnpackStatus::malformed;
    std::string error;
    std::string data;
};

/// Inflates a gzip stream (several members allowed). More than `max_output` bytes, or an expansion
/// ratio over `max_ratio`, → too_large (inflation stops there, nothing more is allocated); a corrupt
/// or truncated stream → malformed.
[[nodiscard]] UnpackResult gunzip(std::string_view data, std::size_t max_output, std::size_t max_ratio = 1000);

/// The first entry of a zip archive whose name ends in ".xml" (else the first entry): bounded the same
/// way, also by the sizes the archive declares (checked before reading). An archive of more than
/// `max_entries` entries, or without entries, → malformed / too_large.
[[nodiscard]] UnpackResult unzip_report(std::string_view data, std::size_t max_output, std::size_t max_ratio = 1000,
                                        std::size_t max_entries = 16);

/// gzip, zip or plain, by sniffing; plain data is returned as is when within `max_output`.
[[nodiscard]] UnpackResult unpack(std::string_view data, std::size_t max_output, std::size_t max_ratio = 1000);

}  // namespace mailmoat::dmarc_report
