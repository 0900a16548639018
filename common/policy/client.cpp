// common/policy/client.cpp - persistent policy client: encode request, read "action=" reply.
#include "common/policy/client.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>

namespace mailmoat::policy {
namespace {

ClientResult make(ClientResult::Status status, std::string reason) {
    ClientResult r;
    r.status = status;
    r.reason = std::move(reason);
    return r;
}

}  // namespace

PolicyClient::PolicyClient(util::SocketSpec spec, ClientOptions options)
    : spec_(std::move(spec)), options_(options) {}

void PolicyClient::close() noexcept {
    fd_.reset();
    buffer_.clear();
}

std::string PolicyClient::encode(const Attributes& attributes) {
    std::string out;
    out.reserve(attributes.size() * 32 + 1);
    for (const auto& [name, value] : attributes) {
        if (name.empty() || name.find_first_of(std::string_view("=\n\0", 3)) != std::string::npos) return {};
        if (value.find_first_of(std::string_view("\n\0", 2)) != std::string::npos) return {};
        out += name;
        out += '=';
        out += value;
        out += '\n';
    }
    out += '\n';
    return out;
}

ClientResult PolicyClient::ensure_connected() {
    if (fd_.valid()) return make(ClientResult::Status::ok, {});
    std::string error;
    fd_ = io::connect_to(spec_, options_.connect_timeout, error);
    if (!fd_.valid()) return make(ClientResult::Status::error, error);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(options_.io_timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((options_.io_timeout.count() % 1000) * 1000);
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    buffer_.clear();
    return make(ClientResult::Status::ok, {});
}

ClientResult PolicyClient::send_raw(std::string_view bytes) {
    if (auto c = ensure_connected(); c.status != ClientResult::Status::ok) return c;
    const auto status = io::write_all(fd_.get(), bytes, io::Clock::now() + options_.io_timeout);
    if (status == io::IoStatus::ok) return make(ClientResult::Status::ok, {});
    close();
    if (status == io::IoStatus::timeout) return make(ClientResult::Status::timeout, "write timed out");
    return make(ClientResult::Status::error, "write failed: connection lost");
}

ClientResult PolicyClient::read_reply() {
    if (!fd_.valid()) return make(ClientResult::Status::error, "not connected");
    const auto deadline = io::Clock::now() + options_.io_timeout;
    char buf[4096];
    while (true) {
        // A reply is attribute lines ended by an empty line; it may also start with the empty line.
        std::size_t end = std::string::npos;
        if (buffer_.starts_with("\n")) {
            end = 0;
        } else if (const auto p = buffer_.find("\n\n"); p != std::string::npos) {
            end = p + 1;
        }
        if (end != std::string::npos) {
            const std::string reply = buffer_.substr(0, end);
            buffer_.erase(0, end + 1);
            std::string_view rest(reply);
            while (!rest.empty()) {
                const auto nl = rest.find('\n');
                const std::string_view line = rest.substr(0, nl);
                rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
                if (line.starts_with("action=")) {
                    ClientResult r;
                    r.status = ClientResult::Status::ok;
                    r.action = std::string(line.substr(7));
                    return r;
                }
            }
            close();
            return make(ClientResult::Status::error, "reply without action attribute");
        }
        if (buffer_.size() > options_.max_reply_size) {
            close();
            return make(ClientResult::Status::error, "reply larger than " + std::to_string(options_.max_reply_size) + " bytes");
        }
        const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
        if (n > 0) {
            buffer_.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR && io::Clock::now() < deadline) continue;
        const int err = n < 0 ? errno : 0;
        const bool timed_out = err == EAGAIN || err == EWOULDBLOCK;
        // A reset is how a closed idle connection often shows after our write: the same as a close.
        const bool closed = n == 0 || err == ECONNRESET || err == EPIPE;
        const bool nothing = buffer_.empty();
        const std::string what = closed ? (nothing ? "connection closed by server" : "connection closed inside a reply")
                                        : (timed_out ? "read timed out" : "read failed: " + io::errno_text(err));
        close();
        return make(timed_out ? ClientResult::Status::timeout : ClientResult::Status::error, what);
    }
}

ClientResult PolicyClient::exchange(std::string_view wire, bool allow_retry) {
    const bool reused = fd_.valid();
    if (auto s = send_raw(wire); s.status != ClientResult::Status::ok) {
        if (reused && allow_retry && s.status == ClientResult::Status::error) return exchange(wire, false);
        return s;
    }
    auto r = read_reply();
    if (r.status == ClientResult::Status::error && reused && allow_retry && r.reason == "connection closed by server")
        return exchange(wire, false);
    return r;
}

ClientResult PolicyClient::query(const Attributes& attributes) {
    const std::string wire = encode(attributes);
    if (wire.empty()) return make(ClientResult::Status::error, "attribute name or value not sendable");
    return exchange(wire, options_.retry_stale_connection);
}

ClientResult PolicyClient::query_raw(std::string_view wire) { return exchange(wire, false); }

}  // namespace mailmoat::policy
