// common/milter/header_value.cpp - header values between the milter protocol's form and the wire form.
#include "common/milter/header_value.hpp"

namespace mailmoat::milter {

std::string wire_value(std::string_view v) {
    std::string out;
    out.reserve(v.size() + 8);
    if (v.empty() || (v.front() != ' ' && v.front() != '\t')) out.push_back(' ');
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '\n' && (i == 0 || v[i - 1] != '\r')) out.push_back('\r');
        out.push_back(v[i]);
    }
    return out;
}

std::string milter_value(std::string_view w) {
    while (!w.empty() && (w.front() == ' ' || w.front() == '\t')) w.remove_prefix(1);
    std::string out;
    out.reserve(w.size());
    for (std::size_t i = 0; i < w.size(); ++i)
        if (!(w[i] == '\r' && i + 1 < w.size() && w[i + 1] == '\n')) out.push_back(w[i]);
    return out;
}

}  // namespace mailmoat::milter
