// tests/fuzz/fuzz_table.cpp - libFuzzer target: cidr/regexp/pcre/inline table sources; the first line of
// the input is a key looked up in every table that opens.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/table/table.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const std::size_t nl = text.find('\n');
    const std::string key(text.substr(0, nl == std::string_view::npos ? 0 : nl));
    const std::string body(nl == std::string_view::npos ? text : text.substr(nl + 1));
    for (const char* type : {"cidr:{", "regexp:{", "pcre:{", "inline:{"}) {
        try {
            const auto table = mailmoat::table::open_table(std::string(type) + body + "}");
            (void)table->lookup(key);
            (void)mailmoat::table::lookup_address(*table, key);
            (void)mailmoat::table::lookup_client(*table, key);
        } catch (const mailmoat::table::TableError&) {
            // a bad table is an expected outcome
        }
    }
    return 0;
}
