// tools/mailmoat/checks_block.hpp - `mailmoat checks block|unblock|list`: the managed blocklist of mailmoat-checks.
#pragma once
#include <string>
#include <vector>

#include "tools/mailmoat/command.hpp"

namespace mailmoat::cli {

/// `mailmoat checks block --by KIND [MESSAGE]`: appends an entry, validates, writes atomically, reloads.
/// Returns an Exit code (see the usage text); throws UsageError for bad arguments.
[[nodiscard]] int checks_block(const std::vector<std::string>& args, Io& io);
/// `mailmoat checks unblock ID|VALUE`: removes entries by id or value; Exit::failed when none matches.
[[nodiscard]] int checks_unblock(const std::vector<std::string>& args, Io& io);
/// `mailmoat checks list`: one line per managed entry.
[[nodiscard]] int checks_list(const std::vector<std::string>& args, Io& io);

}  // namespace mailmoat::cli
