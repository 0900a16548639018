// milters/checks/checks_session.hpp - mailmoat-checks milter session: feeds the checks scanner and carries
// out its decision at end of message (reply, quarantine, recipients, header and body changes).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/checks/scanner.hpp"
#include "common/milter/session.hpp"
#include "milters/checks/settings.hpp"

namespace mailmoat::checksd {

class ChecksSession final : public milter::Session {
public:
    explicit ChecksSession(std::shared_ptr<const Settings> settings);

    milter::Status on_connect(const milter::ConnectInfo& info) override;
    milter::Status on_envfrom(const std::vector<std::string_view>& args) override;
    milter::Status on_envrcpt(const std::vector<std::string_view>& args) override;
    milter::Status on_header(std::string_view name, std::string_view value) override;
    milter::Status on_eoh() override;
    milter::Status on_body(std::string_view chunk) override;
    milter::Status on_eom(milter::Modifier& modifier) override;
    void reset() override;

private:
    void start();
    void log_outcome(const checks::Outcome& o) const;
    void apply_header_edits(milter::Modifier& m, const checks::Outcome& o) const;

    std::shared_ptr<const Settings> settings_;
    std::optional<checks::Scanner> scanner_;
    std::string client_ip_;  // of the connection (kept across messages)
    std::string mail_from_;  // MAIL FROM of the message
    std::vector<std::string> recipients_;
    std::string body_;
    bool body_complete_ = true;
};

/// Splits "Name: value" into the name and the value without the whitespace after the colon, as the
/// milter header calls take them. Returns {text, ""} when there is no colon.
[[nodiscard]] std::pair<std::string, std::string> split_header(std::string_view text);

}  // namespace mailmoat::checksd
