// common/milter/settings.cpp - schema entries for the shared milter listener settings.
#include "common/milter/settings.hpp"

#include <unistd.h>

namespace mailmoat::milter {

void add_runner_settings(config::Schema& schema) {
    const RunnerOptions d;
    schema.add_bool("tcp-nodelay", d.tcp_nodelay,
                    "Set TCP_NODELAY on a TCP listening socket (avoids a ~40 ms stall per modified message).");
    schema.add_uint("max-connections", d.max_connections, 1, 100000,
                    "Most MTA connections served at once (Postfix opens one per smtpd or cleanup process using "
                    "the milter); more wait in the listen queue until one ends, and Postfix's milter timeouts "
                    "and milter_default_action apply. Read at start.");
}

void apply_runner_settings(const config::Values& values, const daemon::CommonSettings& common, RunnerOptions& o) {
    o.tcp_nodelay = values.flag("tcp-nodelay");
    o.max_connections = static_cast<std::size_t>(values.uint("max-connections"));
    o.socket_mode = common.socket_mode;
    o.socket_owner = common.socket_owner;
    if (o.socket_owner.empty() && ::geteuid() == 0 && !common.user.empty())
        o.socket_owner = common.user + (common.group.empty() ? "" : ":" + common.group);
}

}  // namespace mailmoat::milter
