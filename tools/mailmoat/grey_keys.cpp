// tools/mailmoat/grey_keys.cpp - store keys of mailmoat-grey split back into their parts; filters for the CLI.
#include "tools/mailmoat/grey_keys.hpp"

#include "common/util/ip_address.hpp"

namespace mailmoat::cli::grey_keys {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool contains_ci(std::string_view hay, std::string_view needle) {
    return lower(hay).find(lower(needle)) != std::string::npos;
}

/// d is domain or a subdomain of it.
bool in_domain(std::string_view d, std::string_view domain) {
    const auto a = lower(d), b = lower(domain);
    if (b.empty()) return false;
    return a == b || (a.size() > b.size() && a.compare(a.size() - b.size(), b.size(), b) == 0 &&
                      a[a.size() - b.size() - 1] == '.');
}

std::string_view domain_of(std::string_view address) {
    const auto at = address.rfind('@');
    return at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
}

}  // namespace

EntryKey parse_entry_key(std::string_view key) {
    EntryKey k;
    if (key.substr(0, 2) == "h:") {
        k.kind = "hashed";
        return k;
    }
    const auto last = key.rfind('/');
    const auto mid = last == std::string_view::npos || last == 0 ? std::string_view::npos : key.rfind('/', last - 1);
    if ((key.substr(0, 2) != "n:" && key.substr(0, 2) != "s:") || mid == std::string_view::npos || mid < 2) {
        k.kind = "unknown";
        k.client = std::string(key);
        return k;
    }
    k.client = std::string(key.substr(2, mid - 2));
    k.sender = std::string(key.substr(mid + 1, last - mid - 1));
    k.recipient = std::string(key.substr(last + 1));
    if (key[0] == 's')
        k.kind = "spf";
    else
        k.kind = k.client.find('/') == std::string::npos ? "exact" : "network";
    return k;
}

std::string client_of_counter(std::string_view key) {
    return std::string(key.substr(0, 2) == "c:" ? key.substr(2) : key);
}

std::string canonical_network(std::string_view text) {
    const auto net = util::IpNetwork::parse(text);
    if (!net) return "";
    if (net->prefix_len >= net->address.bit_length()) return net->address.to_string();
    return net->address.masked(net->prefix_len).to_string() + "/" + std::to_string(net->prefix_len);
}

bool client_matches(std::string_view client, std::string_view wanted) {
    if (wanted.empty()) return true;
    if (lower(client) == lower(wanted)) return true;
    // An address inside the entry's network (or equal to its exact address).
    if (auto ip = util::IpAddress::parse(wanted)) {
        if (auto net = util::IpNetwork::parse(client)) return net->contains(*ip);
    }
    // A network given as the admin writes it ("192.0.2.7/24" for the entry 192.0.2.0/24).
    const auto w = canonical_network(wanted);
    return !w.empty() && canonical_network(client) == w;
}

bool matches(const EntryKey& k, std::string_view raw_key, const Filter& f) {
    if (!f.key.empty() && raw_key.find(f.key) == std::string_view::npos) return false;
    if (!client_matches(k.client, f.client)) return false;
    if (!f.sender.empty() && !contains_ci(k.sender, f.sender)) return false;
    if (!f.recipient.empty() && !contains_ci(k.recipient, f.recipient)) return false;
    if (!f.domain.empty()) {
        const bool spf = k.kind == "spf" && in_domain(k.client, f.domain);
        if (!spf && !in_domain(domain_of(k.sender), f.domain) && !in_domain(domain_of(k.recipient), f.domain))
            return false;
    }
    return true;
}

}  // namespace mailmoat::cli::grey_keys
