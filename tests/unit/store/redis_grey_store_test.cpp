// tests/unit/store/redis_grey_store_test.cpp - Redis store without a server: tempfail at once, backoff between
// connection attempts (the shared-server behaviour is tested against a real redis-server in integration).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "common/store/redis_grey_store.hpp"
#include "fakes/fake_clock.hpp"

using namespace mailmoat;
using namespace std::chrono_literals;

namespace {

/// A loopback port with nothing listening: bound, never listened on, kept bound so no one takes it.
struct DeadPort {
    int fd = -1;
    unsigned port = 0;
    DeadPort() {
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in in{};
        in.sin_family = AF_INET;
        in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof in;
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&in), len) == 0);
        REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&in), &len) == 0);
        port = ntohs(in.sin_port);
    }
    ~DeadPort() { ::close(fd); }
};

}  // namespace

TEST_CASE("an unreachable Redis gives tempfail for every call, then backs off", "[store][redis]") {
    DeadPort dead;
    test::FakeClock clock;
    store::RedisOptions o;
    o.port = dead.port;
    o.timeout = 200ms;
    store::RedisGreyStore s(o, clock);
    CHECK(s.describe() == "redis://127.0.0.1:" + std::to_string(dead.port) + "/0");
    const auto now = clock.now();
    auto r = s.seen("k", now, 100s);
    CHECK(r.status == store::Status::tempfail);
    CHECK(r.error.find("127.0.0.1") != std::string::npos);
    // Within the backoff no connection is attempted: the error says so.
    auto again = s.seen("k", now, 100s);
    CHECK(again.status == store::Status::tempfail);
    CHECK(again.error.find("waiting before reconnecting") != std::string::npos);
    CHECK(s.client("c", now, 100s).status == store::Status::tempfail);
    CHECK(s.add_client_pass("c", now, 0).status == store::Status::tempfail);
    CHECK(s.touch("k", now, true).status == store::Status::tempfail);
    CHECK(s.set_passed("k").status == store::Status::tempfail);
    CHECK(s.list("", 10).status == store::Status::tempfail);
    CHECK(s.remove("k", false).status == store::Status::tempfail);
    // After the backoff a new attempt is made (and fails again, with the server's error).
    clock.advance(200ms);
    auto later = s.seen("k", now, 100s);
    CHECK(later.status == store::Status::tempfail);
    CHECK(later.error.find("waiting before reconnecting") == std::string::npos);
    // Expiry is Redis's own TTL: nothing to do, never a failure.
    CHECK(s.expire(now).status == store::Status::ok);
}
