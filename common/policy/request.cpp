// common/policy/request.cpp - typed policy request attributes and the bounded incremental parser.
#include "common/policy/request.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <new>
#include <utility>

namespace mailmoat::policy {
namespace {

using StringField = std::string Request::*;

enum class Kind { text, recipient_count, size, encryption_keysize, client_port, server_port, server_address };

struct KnownAttribute {
    std::string_view name;
    Kind kind;
    StringField field;  // for Kind::text
};

// The attributes of SMTPD_POLICY_README and smtpd_check.c, sorted by name for binary search.
constexpr std::array<KnownAttribute, 32> known_attributes{{
    {"ccert_fingerprint", Kind::text, &Request::ccert_fingerprint},
    {"ccert_issuer", Kind::text, &Request::ccert_issuer},
    {"ccert_pubkey_fingerprint", Kind::text, &Request::ccert_pubkey_fingerprint},
    {"ccert_subject", Kind::text, &Request::ccert_subject},
    {"client_address", Kind::text, &Request::client_address_raw},
    {"client_name", Kind::text, &Request::client_name},
    {"client_port", Kind::client_port, nullptr},
    {"compatibility_level", Kind::text, &Request::compatibility_level},
    {"encryption_cipher", Kind::text, &Request::encryption_cipher},
    {"encryption_keysize", Kind::encryption_keysize, nullptr},
    {"encryption_protocol", Kind::text, &Request::encryption_protocol},
    {"etrn_domain", Kind::text, &Request::etrn_domain},
    {"helo_name", Kind::text, &Request::helo_name},
    {"instance", Kind::text, &Request::instance},
    {"mail_version", Kind::text, &Request::mail_version},
    {"policy_context", Kind::text, &Request::policy_context},
    {"protocol_name", Kind::text, &Request::protocol_name},
    {"protocol_state", Kind::text, &Request::protocol_state},
    {"queue_id", Kind::text, &Request::queue_id},
    {"recipient", Kind::text, &Request::recipient},
    {"recipient_count", Kind::recipient_count, nullptr},
    {"request", Kind::text, &Request::request},
    {"reverse_client_name", Kind::text, &Request::reverse_client_name},
    {"sasl_method", Kind::text, &Request::sasl_method},
    {"sasl_sender", Kind::text, &Request::sasl_sender},
    {"sasl_username", Kind::text, &Request::sasl_username},
    {"sender", Kind::text, &Request::sender},
    {"server_address", Kind::server_address, nullptr},
    {"server_port", Kind::server_port, nullptr},
    {"size", Kind::size, nullptr},
    {"stress", Kind::text, &Request::stress},
    {"tls_sni", Kind::text, &Request::tls_sni},
}};

constexpr bool sorted_by_name() {
    for (std::size_t i = 1; i < known_attributes.size(); ++i)
        if (!(known_attributes[i - 1].name < known_attributes[i].name)) return false;
    return true;
}
static_assert(sorted_by_name(), "known_attributes must stay sorted by name");
static_assert(known_attributes.size() <= 32, "Request::known_present has one bit per known attribute");

// Indexes of known_attributes by name length: a lookup compares a name with the two to six known names
// of its length (first byte first) instead of binary search's five string comparisons.
constexpr std::size_t max_known_length = 24;
constexpr std::size_t max_same_length = 6;
struct ByLength {
    std::array<std::array<std::uint8_t, max_same_length>, max_known_length + 1> index{};
    std::array<std::uint8_t, max_known_length + 1> count{};
};
constexpr ByLength make_by_length() {
    ByLength b;
    for (std::size_t i = 0; i < known_attributes.size(); ++i) {
        const auto len = known_attributes[i].name.size();
        if (len > max_known_length || b.count[len] == max_same_length) throw "known attribute table too small";
        b.index[len][b.count[len]++] = static_cast<std::uint8_t>(i);
    }
    return b;
}
constexpr ByLength by_length = make_by_length();

std::size_t find_known(std::string_view name) {
    if (name.empty() || name.size() > max_known_length) return known_attributes.size();
    const auto& idx = by_length.index[name.size()];
    for (std::size_t k = 0; k < by_length.count[name.size()]; ++k) {
        const auto& a = known_attributes[idx[k]];
        if (a.name[0] == name[0] && a.name == name) return idx[k];
    }
    return known_attributes.size();
}

// Bounds of the attribute pairs a parser keeps for reuse (RequestParser::recycle).
constexpr std::size_t max_spare_pairs = 64;
constexpr std::size_t max_spare_pair_bytes = 256;

template <class T>
T parse_number(std::string_view text) {
    T value{};
    const auto* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc{} || p != end) return T{};
    return value;
}

}  // namespace

void Request::clear() noexcept {
    for (const auto& a : known_attributes)
        if (a.field != nullptr) (this->*a.field).clear();
    server_address_raw.clear();
    recipient_count = 0;
    client_address.reset();
    client_port = 0;
    size = 0;
    encryption_keysize = 0;
    server_address.reset();
    server_port = 0;
    attributes.clear();
    known_present = 0;
}

const std::string* Request::find(std::string_view name) const {
    for (const auto& [n, v] : attributes)
        if (n == name) return &v;
    return nullptr;
}

std::string_view Request::get(std::string_view name) const {
    const auto* value = find(name);
    return value == nullptr ? std::string_view{} : std::string_view(*value);
}

void Request::set(std::string_view name, std::string_view value) {
    std::vector<std::pair<std::string, std::string>> none;
    set(name, value, none);
}

void Request::set(std::string_view name, std::string_view value,
                  std::vector<std::pair<std::string, std::string>>& spare) {
    const std::size_t index = find_known(name);
    const KnownAttribute* known = index < known_attributes.size() ? &known_attributes[index] : nullptr;
    // A known name not set before needs no search of the list (the common case: Postfix sends each once).
    const std::uint32_t bit = known != nullptr ? std::uint32_t{1} << index : 0;
    auto existing = attributes.end();
    if (known == nullptr || (known_present & bit) != 0)
        existing = std::find_if(attributes.begin(), attributes.end(), [&](const auto& a) {
            return a.first.size() == name.size() && a.first == name;
        });
    known_present |= bit;
    if (existing != attributes.end()) {
        existing->second.assign(value);
    } else {
        if (attributes.empty()) attributes.reserve(32);
        if (spare.empty()) {
            attributes.emplace_back(std::string(name), std::string(value));
        } else {  // an earlier request's pair: assign() reuses its strings' storage
            auto& a = attributes.emplace_back(std::move(spare.back()));
            spare.pop_back();
            a.first.assign(name);
            a.second.assign(value);
        }
    }
    if (known == nullptr) return;
    switch (known->kind) {
    case Kind::text:
        (this->*known->field).assign(value);
        if (known->field == &Request::client_address_raw) client_address = util::IpAddress::parse(value);
        break;
    case Kind::recipient_count: recipient_count = parse_number<std::uint64_t>(value); break;
    case Kind::size: size = parse_number<std::uint64_t>(value); break;
    case Kind::encryption_keysize: encryption_keysize = parse_number<std::uint64_t>(value); break;
    case Kind::client_port: client_port = parse_number<std::uint16_t>(value); break;
    case Kind::server_port: server_port = parse_number<std::uint16_t>(value); break;
    case Kind::server_address:
        server_address_raw.assign(value);
        server_address = util::IpAddress::parse(value);
        break;
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
            r.request = std::move(current_);
            if (have_spare_) {
                current_ = std::move(spare_);  // cleared by recycle(); its strings keep their storage
                have_spare_ = false;
            } else {
                current_ = Request{};
            }
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
        current_.set(line.substr(0, eq), line.substr(eq + 1), spare_attributes_);
    }
}

void RequestParser::recycle(Request&& used) noexcept {
    // The attribute pairs go to the spare list last first, so that the next request, whose attributes
    // usually come in the same order, takes back the pair of the same position (and its string sizes).
    // Kept: at most max_spare_pairs pairs of at most max_spare_pair_bytes each, so that a connection holds
    // on to little more than a typical request whatever a client sent.
    try {
        for (auto it = used.attributes.rbegin(); it != used.attributes.rend(); ++it) {
            if (spare_attributes_.size() >= max_spare_pairs) break;
            if (it->first.capacity() + it->second.capacity() <= max_spare_pair_bytes)
                spare_attributes_.push_back(std::move(*it));
        }
    } catch (const std::bad_alloc&) {
        // The spare list could not grow: later requests allocate their pairs anew.
    }
    used.clear();  // keeps the strings' and the list's storage
    spare_ = std::move(used);
    have_spare_ = true;
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
