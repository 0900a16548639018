// common/store/dmarc_store_factory.cpp - the DMARC store by URL scheme.
#include "common/store/dmarc_store_factory.hpp"

#include "common/store/redis_dmarc_store.hpp"
#include "common/store/sqlite_dmarc_store.hpp"

namespace mailmoat::store {

std::optional<DmarcStoreSpec> parse_dmarc_store_url(std::string_view url, bool bare_paths) {
    DmarcStoreSpec s;
    if (url == "none") return s;
    if (is_redis_url(url)) {
        auto e = parse_redis_url(url);
        if (!e) return std::nullopt;
        s.kind = DmarcStoreSpec::Kind::redis;
        s.redis = std::move(*e);
        return s;
    }
    std::string_view path = url;
    if (url.starts_with("sqlite:")) {
        path = url.substr(7);
        if (path.starts_with("//")) path = path.substr(2);
        if (path.empty() || path.front() != '/') return std::nullopt;
    } else if (!bare_paths || url.find("://") != std::string_view::npos || url.empty()) {
        return std::nullopt;
    }
    s.kind = DmarcStoreSpec::Kind::sqlite;
    s.path = std::string(path);
    return s;
}

std::shared_ptr<DmarcFullStore> open_dmarc_store(const DmarcStoreSpec& spec, const DmarcStoreTuning& tuning) {
    switch (spec.kind) {
        case DmarcStoreSpec::Kind::none:
            return nullptr;
        case DmarcStoreSpec::Kind::sqlite: {
            SqliteOptions o;
            o.path = spec.path;
            o.busy_timeout = tuning.busy_timeout;
            o.synchronous_full = tuning.synchronous_full;
            return std::make_shared<SqliteDmarcStore>(o);
        }
        case DmarcStoreSpec::Kind::redis: {
            RedisDmarcOptions o;
            static_cast<RedisEndpoint&>(o) = spec.redis;
            o.timeout = tuning.timeout;
            o.ttl = tuning.ttl;
            return std::make_shared<RedisDmarcStore>(o);
        }
    }
    return nullptr;
}

}  // namespace mailmoat::store
