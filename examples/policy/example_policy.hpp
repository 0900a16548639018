// examples/policy/example_policy.hpp - the example policy: settings schema, server options, the RCPT handler.
#pragma once
#include <memory>

#include "common/config/options.hpp"
#include "common/daemon/daemon.hpp"
#include "common/policy/server.hpp"

namespace mailmoat::examples {

/// The program's settings: the common daemon options plus the policy server's bounds.
[[nodiscard]] config::Schema example_policy_schema();

/// Server options from validated values. Throws config::ConfigError for a bad value.
[[nodiscard]] policy::ServerOptions example_server_options(const config::Values& values,
                                                           const daemon::CommonSettings& common);

/// Decides at protocol_state RCPT on the recipient's local part (case-insensitive):
///   starts with "reject" -> REJECT 5.7.1 example policy rejects <recipient>
///   starts with "defer"  -> DEFER_IF_PERMIT 4.7.1 example policy defers <recipient>
///   anything else, and every other protocol state -> DUNNO.
/// Logs one line per decision: queue_id, client, from, to, action.
class ExamplePolicy final : public policy::Handler {
public:
    [[nodiscard]] policy::Action handle(const policy::Request& request, const policy::Peer& peer) const override;
    /// The decision alone, without logging.
    [[nodiscard]] static policy::Action decide(const policy::Request& request);
};

}  // namespace mailmoat::examples
