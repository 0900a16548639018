// tests/unit/store/redis_connection_test.cpp - the Redis URL forms every store accepts, and the password
// never showing in a store's description.
#include <catch2/catch.hpp>

#include "common/store/dmarc_store_factory.hpp"
#include "common/store/redis_connection.hpp"

namespace st = mailmoat::store;

TEST_CASE("redis:// URLs: host, port, db, password, IPv6") {
    auto e = st::parse_redis_url("redis://10.0.0.1:6380/3");
    REQUIRE(e);
    CHECK(e->host == "10.0.0.1");
    CHECK(e->port == 6380);
    CHECK(e->db == 3);
    CHECK(e->password.empty());
    CHECK(e->to_string() == "redis://10.0.0.1:6380/3");
    e = st::parse_redis_url("redis://localhost");
    REQUIRE(e);
    CHECK(e->port == 6379);
    CHECK(e->db == 0);
    e = st::parse_redis_url("redis://:pw@redis.example:7000/1");
    REQUIRE(e);
    CHECK(e->password == "pw");
    CHECK(e->username.empty());
    CHECK(e->host == "redis.example");
    CHECK(e->to_string() == "redis://redis.example:7000/1");  // no password in logs
    e = st::parse_redis_url("redis://mailmoat:pw@h");
    REQUIRE(e);
    CHECK(e->username == "mailmoat");
    CHECK(e->password == "pw");
    e = st::parse_redis_url("redis://[2001:db8::5]:6390/2");
    REQUIRE(e);
    CHECK(e->host == "2001:db8::5");
    CHECK(e->port == 6390);
    CHECK(e->to_string() == "redis://[2001:db8::5]:6390/2");
    for (const char* bad : {"redis://", "redis://:1", "redis://h:0", "redis://h:65536", "redis://h:1/16", "redis://h:x",
                            "redis://[::1", "redis://[::1]x", "redis://h/", "http://h"})
        CHECK_FALSE(st::parse_redis_url(bad));
}

TEST_CASE("unix socket URLs") {
    for (const char* u :
         {"unix:/run/redis/r.sock?db=2", "unix:///run/redis/r.sock?db=2", "redis+unix:/run/redis/r.sock?db=2"}) {
        auto e = st::parse_redis_url(u);
        REQUIRE(e);
        CHECK(e->unix_path == "/run/redis/r.sock");
        CHECK(e->db == 2);
        CHECK(e->to_string() == "unix:/run/redis/r.sock?db=2");
    }
    auto e = st::parse_redis_url("unix:/r.sock?password=pw&db=1");
    REQUIRE(e);
    CHECK(e->password == "pw");
    CHECK(e->to_string() == "unix:/r.sock?db=1");
    e = st::parse_redis_url("unix://:pw@/r.sock");
    REQUIRE(e);
    CHECK(e->password == "pw");
    CHECK(e->unix_path == "/r.sock");
    for (const char* bad :
         {"unix:", "unix:relative.sock", "unix:/r.sock?db=99", "unix:/r.sock?color=red", "unix:/r.sock?db"})
        CHECK_FALSE(st::parse_redis_url(bad));
    CHECK(st::is_redis_url("unix:/x"));
    CHECK_FALSE(st::is_redis_url("sqlite:/x"));
}

TEST_CASE("DMARC store URLs: the scheme chooses the store") {
    auto s = st::parse_dmarc_store_url("sqlite:/var/lib/mailmoat/dmarc.sqlite");
    REQUIRE(s);
    CHECK(s->kind == st::DmarcStoreSpec::Kind::sqlite);
    CHECK(s->path == "/var/lib/mailmoat/dmarc.sqlite");
    CHECK(st::parse_dmarc_store_url("sqlite:///x.db")->path == "/x.db");
    CHECK(st::parse_dmarc_store_url("none")->kind == st::DmarcStoreSpec::Kind::none);
    CHECK(st::parse_dmarc_store_url("redis://h:1/2")->kind == st::DmarcStoreSpec::Kind::redis);
    CHECK(st::parse_dmarc_store_url("unix:/r.sock")->kind == st::DmarcStoreSpec::Kind::redis);
    CHECK_FALSE(st::parse_dmarc_store_url("sqlite:relative.db"));
    CHECK_FALSE(st::parse_dmarc_store_url("/abs/path.db"));              // the daemon wants the scheme
    CHECK(st::parse_dmarc_store_url("rel.db", true)->path == "rel.db");  // the command line does not
    CHECK_FALSE(st::parse_dmarc_store_url("postgresql://db/dmarc", true));
    CHECK_FALSE(st::parse_dmarc_store_url("", true));
    // A Redis store opens lazily: no server needed to construct it, and no password in its description.
    auto store = st::open_dmarc_store(*st::parse_dmarc_store_url("redis://:pw@127.0.0.1:1/4"));
    REQUIRE(store);
    CHECK(store->describe() == "redis://127.0.0.1:1/4");
    CHECK(st::open_dmarc_store(*st::parse_dmarc_store_url("none")) == nullptr);
}
