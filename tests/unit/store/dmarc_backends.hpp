// tests/unit/store/dmarc_backends.hpp - the DMARC store contract tests run against every backend: SQLite in a
// private directory and Redis on a private redis-server (real server, unix socket, password set).
#pragma once
#include <memory>
#include <string>

#include "common/store/dmarc_store_factory.hpp"
#include "support/redis_server.hpp"
#include "support/temp_dir.hpp"

namespace mailmoat::test {

/// One backend's data; open() gives a new store object over the same data (a "reopen", as after a
/// daemon restart).
class DmarcBackend {
public:
    explicit DmarcBackend(const std::string& name) : name_(name) {
        if (name == "redis") {
            redis_ = std::make_unique<RedisServer>("s3cret");
            url_ = redis_->url(3);
        } else {
            dir_ = std::make_unique<TempDir>("mm-dmarc-store");
            url_ = "sqlite:" + dir_->file("dmarc.db");
        }
    }
    [[nodiscard]] std::shared_ptr<store::DmarcFullStore> open() const {
        auto spec = store::parse_dmarc_store_url(url_);
        if (!spec) throw std::runtime_error("bad test store URL " + url_);
        store::DmarcStoreTuning t;
        t.timeout = std::chrono::milliseconds(2000);  // sanitizer builds on a loaded machine are slow
        return store::open_dmarc_store(*spec, t);
    }
    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    [[nodiscard]] const std::string& url() const noexcept { return url_; }
    [[nodiscard]] RedisServer* redis() const noexcept { return redis_.get(); }

private:
    std::string name_;
    std::string url_;
    std::unique_ptr<TempDir> dir_;
    std::unique_ptr<RedisServer> redis_;
};

}  // namespace mailmoat::test
