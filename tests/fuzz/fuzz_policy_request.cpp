// tests/fuzz/fuzz_policy_request.cpp - libFuzzer target: policy RequestParser on arbitrary bytes in arbitrary splits.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/policy/request.hpp"

namespace {

using mailmoat::policy::Limits;
using mailmoat::policy::ParseResult;
using mailmoat::policy::RequestParser;

// Every result of parsing text fed in pieces of chunk bytes, rendered to compare runs.
std::vector<std::string> run(std::string_view text, std::size_t chunk, const Limits& limits) {
    RequestParser parser(limits);
    std::vector<std::string> out;
    bool stop = false;
    for (std::size_t i = 0; i < text.size() && !stop; i += chunk) {
        parser.feed(text.substr(i, chunk));
        while (true) {
            ParseResult r = parser.next();
            if (r.status == ParseResult::Status::need_more) break;
            if (r.status == ParseResult::Status::error) {
                out.push_back("error:" + r.reason);
                stop = true;
                break;
            }
            if (r.request.attributes.empty() || r.request.attributes.size() > limits.max_attributes) std::abort();
            std::string rendered;
            for (const auto& [name, value] : r.request.attributes) {
                if (name.empty() || name.size() > limits.max_line_length) std::abort();
                if (name.find_first_of(std::string_view("=\n\0", 3)) != std::string::npos) std::abort();
                if (value.find_first_of(std::string_view("\n\0", 2)) != std::string::npos) std::abort();
                rendered += name + "=" + value + "\n";
            }
            out.push_back(rendered);
        }
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    Limits limits;
    limits.max_line_length = 64;
    limits.max_attributes = 8;
    limits.max_request_size = 256;
    const std::size_t chunk = 1 + data[0] % 17;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    // The split of the input into reads must not change what is parsed.
    if (run(text, text.size() + 1, limits) != run(text, chunk, limits)) std::abort();
    return 0;
}
