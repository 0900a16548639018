// common/store/redis_handles.hpp - RAII aliases for hiredis handles; the only place redisFree/freeReplyObject is named.
#pragma once
#include <hiredis/hiredis.h>

#include "common/util/c_handle.hpp"

namespace mailmoat::store {

using RedisContext = util::CHandle<redisContext, redisFree>;
using RedisReply = util::CHandle<redisReply, freeReplyObject>;

}  // namespace mailmoat::store
