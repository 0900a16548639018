// common/grey/key_hasher.cpp - HMAC-SHA256 keys (OpenSSL one-shot HMAC; no handle to own).
#include "common/grey/key_hasher.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <stdexcept>

#include "common/config/options.hpp"

namespace mailmoat::grey {

KeyHasher::KeyHasher(std::string key) : key_(std::move(key)) {
    if (key_.size() < 16) throw std::invalid_argument("privacy key shorter than 16 bytes");
}

KeyHasher KeyHasher::from_file(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw config::ConfigError(path + ": cannot stat the privacy key file");
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
        throw config::ConfigError(path + ": privacy key file is accessible by group or others (chmod 600 it)");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw config::ConfigError(path + ": cannot read the privacy key file");
    std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
    if (key.size() < 16) throw config::ConfigError(path + ": privacy key shorter than 16 bytes");
    if (key.size() > 4096) throw config::ConfigError(path + ": privacy key longer than 4096 bytes");
    return KeyHasher(std::move(key));
}

std::string KeyHasher::hash(std::string_view text) const {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
             reinterpret_cast<const unsigned char*>(text.data()), text.size(), md, &len) == nullptr)
        throw std::runtime_error("HMAC-SHA256 failed");
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned i = 0; i < len; ++i) {
        out += hex[md[i] >> 4];
        out += hex[md[i] & 15];
    }
    return out;
}

}  // namespace mailmoat::grey
