// examples/milter/example_session.hpp - settings and per-connection session of mailmoat-example-milter.
#pragma once
#include <memory>
#include <string>

#include "common/config/options.hpp"
#include "common/milter/runner.hpp"
#include "common/milter/session.hpp"

namespace mailmoat::example {

/// The example milter's own settings (see add_options for names, defaults and help).
struct Settings {
    std::string header_name = "X-Mailmoat-Example";
    std::string header_value = "seen by mailmoat-example-milter";
    std::string reject_subject = "REJECTME";
    std::string report_header;  // empty: no X-Saw-* header

    /// Adds header-name, header-value, reject-subject and report-header to schema.
    static void add_options(config::Schema& schema);
    /// Validates; throws config::ConfigError naming the key for a header name that is not RFC 5322
    /// field-name text or a header value with control characters.
    [[nodiscard]] static Settings from(const config::Values& values);
};

/// Adds header_name: header_value (" (queue id QID)" appended when known) to every message, rejects
/// one whose Subject contains reject_subject with "550 5.7.1 example milter rejects this message",
/// and with report_header set adds "X-Saw-<report_header>: yes|no" telling whether that header was
/// among the headers it was shown.
class ExampleSession final : public milter::Session {
public:
    explicit ExampleSession(std::shared_ptr<const Settings> settings) : settings_(std::move(settings)) {}

    milter::Status on_header(std::string_view name, std::string_view value) override;
    milter::Status on_eom(milter::Modifier& modifier) override;
    void reset() override;

private:
    std::shared_ptr<const Settings> settings_;  // the snapshot this connection started with
    bool reject_ = false;
    bool saw_report_header_ = false;
    unsigned headers_ = 0;
};

/// What the Runner needs to know about this milter: actions, stages, macros.
[[nodiscard]] milter::RunnerOptions runner_options(const util::SocketSpec& socket);

}  // namespace mailmoat::example
