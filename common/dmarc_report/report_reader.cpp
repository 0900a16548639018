// common/dmarc_report/report_reader.cpp - input classification, unpacking and parsing of received reports.
#include "common/dmarc_report/report_reader.hpp"

#include <cctype>

#include "common/dmarc_report/archive.hpp"

namespace mailmoat::dmarc_report {
namespace {

bool looks_like_xml(std::string_view d) {
    if (d.size() >= 3 && d.substr(0, 3) == "\xEF\xBB\xBF") d.remove_prefix(3);
    while (!d.empty() && std::isspace(static_cast<unsigned char>(d.front()))) d.remove_prefix(1);
    return !d.empty() && d.front() == '<';
}

FoundReport read_one(std::string_view data, std::string origin, const ReaderLimits& limits) {
    FoundReport f;
    f.origin = std::move(origin);
    const auto kind = sniff_archive(data);
    std::string xml;
    if (kind != ArchiveKind::plain) {
        auto u = unpack(data, limits.max_unpacked, limits.max_ratio);
        if (u.status != UnpackStatus::ok) {
            f.status = u.status == UnpackStatus::too_large ? ParseStatus::hostile : ParseStatus::malformed;
            f.error = u.error;
            return f;
        }
        xml = std::move(u.data);
    } else {
        if (!looks_like_xml(data)) {
            f.status = ParseStatus::malformed;
            f.error = "attachment is neither gzip, zip nor XML";
            return f;
        }
        xml = std::string(data);
    }
    auto p = parse_report_xml(xml, limits.parse);
    f.status = p.status;
    f.error = std::move(p.error);
    f.report = std::move(p.report);
    return f;
}

}  // namespace

ReadResult read_reports(std::string_view input, const ReaderLimits& limits) {
    ReadResult out;
    if (input.size() > limits.max_input) {
        out.status = ParseStatus::hostile;
        out.error = "input of " + std::to_string(input.size()) + " bytes over the limit of " + std::to_string(limits.max_input);
        return out;
    }
    if (sniff_archive(input) != ArchiveKind::plain || looks_like_xml(input)) {
        out.reports.push_back(read_one(input, "file", limits));
        return out;
    }
    auto ex = extract_report_attachments(input, limits.extract);
    if (ex.status != ExtractStatus::ok) {
        out.status = ParseStatus::malformed;
        out.error = ex.error;
        return out;
    }
    for (auto& a : ex.attachments) out.reports.push_back(read_one(a.data, a.file_name.empty() ? a.content_type : a.file_name, limits));
    return out;
}

}  // namespace mailmoat::dmarc_report
