// examples/policy/example_policy.cpp - recipient-prefix decisions and the settings of mailmoat-example-policy.
#include "examples/policy/example_policy.hpp"

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

#include "common/log/logger.hpp"
#include "common/policy/settings.hpp"

namespace mailmoat::examples {
namespace {

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() &&
           std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
               return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
           });
}

std::string_view local_part(std::string_view address) {
    const auto at = address.rfind('@');
    return at == std::string_view::npos ? address : address.substr(0, at);
}

}  // namespace

config::Schema example_policy_schema() {
    config::Schema s("mailmoat-example-policy",
                     "example Postfix policy server: rejects recipients reject*, defers recipients defer*");
    s.add_common_daemon_options("inet:127.0.0.1:10040", "");
    policy::add_server_options(s);
    return s;
}

policy::ServerOptions example_server_options(const config::Values& values, const daemon::CommonSettings& common) {
    return policy::server_options(values, common.socket, common.socket_owner, common.socket_mode);
}

policy::Action ExamplePolicy::decide(const policy::Request& request) {
    if (request.protocol_state != "RCPT") return policy::Action::dunno();
    const std::string_view local = local_part(request.recipient);
    if (starts_with_nocase(local, "reject"))
        return policy::Action::reject("5.7.1 example policy rejects <" + request.recipient + ">");
    if (starts_with_nocase(local, "defer"))
        return policy::Action::defer_if_permit("4.7.1 example policy defers <" + request.recipient + ">");
    return policy::Action::dunno();
}

policy::Action ExamplePolicy::handle(const policy::Request& request, const policy::Peer& peer) const {
    policy::Action action = decide(request);
    std::string client = request.client_name.empty() ? std::string("unknown") : request.client_name;
    client += '[';
    client += request.client_address_raw.empty() ? peer.address : request.client_address_raw;
    client += ']';
    log::info()
        .queue_id(request.queue_id)
        .kv("state", request.protocol_state)
        .kv("client", client)
        .kv("from", "<" + request.sender + ">")
        .kv("to", "<" + request.recipient + ">")
        .kv("action", action.text());
    return action;
}

}  // namespace mailmoat::examples
