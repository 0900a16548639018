// common/policy/request.cpp - typed policy request attributes and the bounded incremental parser.
#include "common/policy/request.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <utility>

namespace mailmoat::policy {
namespace {

using StringField = std::string Request::*;

struct StringAttribute {
    std::string_view name;
    StringField field;
};

// Attributes that are plain text, as named in SMTPD_POLICY_README and smtpd_check.c.
constexpr std::array<StringAttribute, 26> string_attributes{{
    {"request", &Request::request},
    {"protocol_state", &Request::protocol_state},
    {"protocol_name", &Request::protocol_name},
    {"helo_name", &Request::helo_name},
    {"queue_id", &Request::queue_id},
    {"sender", &Request::sender},
    {"recipient", &Request::recipient},
    {"client_name", &Request::client_name},
    {"reverse_client_name", &Request::reverse_client_name},
    {"instance", &Request::instance},
    {"sasl_method", &Request::sasl_method},
    {"sasl_username", &Request::sasl_username},
    {"sasl_sender", &Request::sasl_sender},
    {"ccert_subject", &Request::ccert_subject},
    {"ccert_issuer", &Request::ccert_issuer},
    {"ccert_fingerprint", &Request::ccert_fingerprint},
    {"ccert_pubkey_fingerprint", &Request::ccert_pubkey_fingerprint},
    {"encryption_protocol", &Request::encryption_protocol},
    {"encryption_cipher", &Request::encryption_cipher},
    {"etrn_domain", &Request::etrn_domain},
    {"stress", &Request::stress},
    {"policy_context", &Request::policy_context},
    {"compatibility_level", &Request::compatibility_level},
    {"mail_version", &Request::mail_version},
    {"tls_sni", &Request::tls_sni},
    {"client_address", &Request::client_address_raw},
}};

template <class T>
T parse_number(std::string_view text) {
    T value{};
    const auto* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc{} || p != end) return T{};
    return value;
}

}  // namespace

const std::string* Request::find(std::string_view name) const {
    auto it = attributes.find(name);
    return it == attributes.end() ? nullptr : &it->second;
}

std::string_view Request::get(std::string_view name) const {
    const auto* value = find(name);
    return value == nullptr ? std::string_view{} : std::string_view(*value);
}

void Request::set(std::string_view name, std::string_view value) {
    if (auto it = attributes.find(name); it != attributes.end()) {
        it->second.assign(value);
    } else {
        attributes.emplace(std::string(name), std::string(value));
    }
    for (const auto& a : string_attributes) {
        if (a.name == name) {
            (this->*a.field).assign(value);
            if (name == "client_address") client_address = util::IpAddress::parse(value);
            return;
        }
    }
    if (name == "recipient_count") {
        recipient_count = parse_number<std::uint64_t>(value);
    } else if (name == "size") {
        size = parse_number<std::uint64_t>(value);
    } else if (name == "encryption_keysize") {
        encryption_keysize = parse_number<std::uint64_t>(value);
    } else if (name == "client_port") {
        client_port = parse_number<std::uint16_t>(value);
    } else if (name == "server_port") {
        server_port = parse_number<std::uint16_t>(value);
    } else if (name == "server_address") {
        server_address_raw.assign(value);
        server_address = util::IpAddress::parse(value);
    }
}

RequestParser::RequestParser(Limits limits) : limits_(limits) {}

void RequestParser::feed(std::string_view bytes) {
    if (failed_ || bytes.empty()) return;
    if (pos_ > 0 && pos_ == buffer_.size()) {
        buffer_.clear();
        pos_ = 0;
    } else if (pos_ > 4096 && pos_ * 2 > buffer_.size()) {
        buffer_.erase(0, pos_);  // keep the buffer from growing with consumed bytes
        pos_ = 0;
    }
    buffer_.append(bytes);
}

ParseResult RequestParser::fail(std::string reason, std::string_view line) {
    failed_ = true;
    failure_ = reason;
    ParseResult r;
    r.status = ParseResult::Status::error;
    r.reason = std::move(reason);
    r.excerpt = std::string(line.substr(0, 64));
    return r;
}

ParseResult RequestParser::next() {
    if (failed_) {
        ParseResult r;
        r.status = ParseResult::Status::error;
        r.reason = failure_;
        return r;
    }
    while (true) {
        const std::string_view rest(buffer_.data() + pos_, buffer_.size() - pos_);
        const auto nl = rest.find('\n');
        if (nl == std::string_view::npos) {
            // A partial line: decide now if it can no longer become valid.
            std::size_t partial = rest.size();
            if (partial > 0 && rest.back() == '\r') --partial;  // may be the CR of a CRLF
            if (partial > limits_.max_line_length)
                return fail("line longer than " + std::to_string(limits_.max_line_length) + " bytes", rest);
            if (request_bytes_ + rest.size() > limits_.max_request_size)
                return fail("request larger than " + std::to_string(limits_.max_request_size) + " bytes", rest);
            return ParseResult{};
        }
        std::string_view line = rest.substr(0, nl);
        pos_ += nl + 1;
        request_bytes_ += nl + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() > limits_.max_line_length)
            return fail("line longer than " + std::to_string(limits_.max_line_length) + " bytes", line);
        if (request_bytes_ > limits_.max_request_size)
            return fail("request larger than " + std::to_string(limits_.max_request_size) + " bytes", line);
        if (line.empty()) {
            if (attribute_count_ == 0) return fail("empty request", {});
            ParseResult r;
            r.status = ParseResult::Status::complete;
            r.request = std::exchange(current_, Request{});
            attribute_count_ = 0;
            request_bytes_ = 0;
            return r;
        }
        if (line.find('\0') != std::string_view::npos) return fail("NUL byte in attribute", line);
        const auto eq = line.find('=');
        if (eq == std::string_view::npos) return fail("line without '='", line);
        if (eq == 0) return fail("empty attribute name", line);
        if (++attribute_count_ > limits_.max_attributes)
            return fail("more than " + std::to_string(limits_.max_attributes) + " attributes", line);
        current_.set(line.substr(0, eq), line.substr(eq + 1));
    }
}

void RequestParser::reset() {
    buffer_.clear();
    pos_ = 0;
    request_bytes_ = 0;
    attribute_count_ = 0;
    current_ = Request{};
    failed_ = false;
    failure_.clear();
}

}  // namespace mailmoat::policy
