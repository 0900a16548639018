// common/dmarc_report/delivery.hpp - hands a report message to the mail system: Postfix's sendmail
// (argv, no shell) or SMTP (RFC 5321) to a configured host.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace mailmoat::dmarc_report {

enum class DeliveryStatus { delivered, temporary_failure, permanent_failure };
[[nodiscard]] const char* delivery_status_name(DeliveryStatus s) noexcept;

struct DeliveryResult {
    DeliveryStatus status = DeliveryStatus::temporary_failure;
    std::string detail;  // exit status or the server's reply
};

/// Runs argv + {"-f", from, "--", to} with the message on standard input (LF line ends, as sendmail
/// expects). Exit 0 → delivered; EX_TEMPFAIL (75), a signal, a timeout (the command's process group is killed) or a
/// failure to start → temporary_failure; any other exit → permanent_failure. Empty argv →
/// permanent_failure.
[[nodiscard]] DeliveryResult deliver_sendmail(const std::vector<std::string>& argv, const std::string& from,
                                              const std::string& to, const std::string& message,
                                              std::chrono::seconds timeout = std::chrono::seconds(60));

/// One SMTP transaction (EHLO, MAIL, RCPT, DATA) to host:port; the message's LF line ends become CRLF
/// and lines starting with '.' are dot-stuffed (RFC 5321 §4.5.2). 2xx after DATA → delivered; a 5xx
/// reply → permanent_failure; anything else (4xx, connection trouble, timeout) → temporary_failure.
[[nodiscard]] DeliveryResult deliver_smtp(const std::string& host, std::uint16_t port, const std::string& helo,
                                          const std::string& from, const std::string& to, const std::string& message,
                                          std::chrono::seconds timeout = std::chrono::seconds(60));

}  // namespace mailmoat::dmarc_report
