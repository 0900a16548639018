// common/dmarc_report/archive.cpp - gzip via zlib deflate/inflate, zip via libzip reading from memory.
#include "common/dmarc_report/archive.hpp"

#include <zlib.h>

#include <algorithm>
#include <stdexcept>

#include "common/dmarc_report/xml_handles.hpp"

namespace mailmoat::dmarc_report {

std::string gzip_compress(std::string_view data) {
    z_stream z{};
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        throw std::runtime_error("deflateInit2 failed");
    std::string out;
    out.resize(deflateBound(&z, static_cast<uLong>(data.size())) + 32);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    const int rc = deflate(&z, Z_FINISH);
    const auto produced = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) throw std::runtime_error("deflate failed");
    out.resize(produced);
    return out;
}

ArchiveKind sniff_archive(std::string_view d) noexcept {
    if (d.size() >= 2 && static_cast<unsigned char>(d[0]) == 0x1f && static_cast<unsigned char>(d[1]) == 0x8b)
        return ArchiveKind::gzip;
    if (d.size() >= 4 && d.substr(0, 4) == std::string_view("PK\x03\x04", 4)) return ArchiveKind::zip;
    return ArchiveKind::plain;
}

const char* unpack_status_name(UnpackStatus s) noexcept {
    switch (s) {
        case UnpackStatus::ok: return "ok";
        case UnpackStatus::malformed: return "malformed";
        case UnpackStatus::too_large: return "too_large";
    }
    return "?";
}

namespace {

std::size_t cap(std::size_t input, std::size_t max_output, std::size_t max_ratio) {
    const std::size_t by_ratio = input > SIZE_MAX / std::max<std::size_t>(max_ratio, 1) ? SIZE_MAX : input * max_ratio;
    return std::min(max_output, std::max<std::size_t>(by_ratio, 4096));
}

std::string too_large_text(std::size_t limit) {
    return "expands beyond " + std::to_string(limit) + " bytes (decompression bomb?)";
}

}  // namespace

UnpackResult gunzip(std::string_view data, std::size_t max_output, std::size_t max_ratio) {
    UnpackResult out;
    const std::size_t limit = cap(data.size(), max_output, max_ratio);
    z_stream z{};
    if (inflateInit2(&z, 15 + 32) != Z_OK) throw std::runtime_error("inflateInit2 failed");
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    char chunk[16384];
    int rc = Z_OK;
    for (;;) {
        z.next_out = reinterpret_cast<Bytef*>(chunk);
        z.avail_out = sizeof chunk;
        rc = inflate(&z, Z_NO_FLUSH);
        const std::size_t got = sizeof chunk - z.avail_out;
        if (out.data.size() + got > limit) {
            inflateEnd(&z);
            out.data.clear();
            out.status = UnpackStatus::too_large;
            out.error = "gzip data " + too_large_text(limit);
            return out;
        }
        out.data.append(chunk, got);
        if (rc == Z_STREAM_END) {
            if (z.avail_in == 0) break;
            // Another gzip member follows (RFC 1952 §2.2).
            if (inflateReset(&z) != Z_OK) break;
            continue;
        }
        if (rc != Z_OK) break;
        if (z.avail_in == 0 && got == 0) {
            rc = Z_BUF_ERROR;
            break;
        }
    }
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        out.data.clear();
        out.status = UnpackStatus::malformed;
        out.error = std::string("corrupt or truncated gzip data") + (z.msg ? std::string(": ") + z.msg : "");
        return out;
    }
    out.status = UnpackStatus::ok;
    return out;
}

UnpackResult unzip_report(std::string_view data, std::size_t max_output, std::size_t max_ratio,
                          std::size_t max_entries) {
    UnpackResult out;
    const std::size_t limit = cap(data.size(), max_output, max_ratio);
    zip_error_t err;
    zip_error_init(&err);
    ZipSource src(zip_source_buffer_create(data.data(), data.size(), 0, &err));
    if (!src) {
        out.error = "cannot read zip archive";
        zip_error_fini(&err);
        return out;
    }
    ZipArchive za(zip_open_from_source(src.get(), ZIP_RDONLY, &err));
    if (!za) {
        out.error = std::string("not a valid zip archive: ") + zip_error_strerror(&err);
        zip_error_fini(&err);
        return out;  // src still owned by us
    }
    src.release();  // the archive owns the source now
    zip_error_fini(&err);
    const zip_int64_t n = zip_get_num_entries(za.get(), 0);
    if (n <= 0) {
        out.error = "zip archive has no entries";
        return out;
    }
    if (static_cast<std::size_t>(n) > max_entries) {
        out.status = UnpackStatus::too_large;
        out.error = "zip archive has " + std::to_string(n) + " entries (at most " + std::to_string(max_entries) + ")";
        return out;
    }
    zip_uint64_t pick = 0;
    for (zip_int64_t i = 0; i < n; ++i) {
        const char* name = zip_get_name(za.get(), static_cast<zip_uint64_t>(i), 0);
        if (name == nullptr) continue;
        const std::string_view nm(name);
        if (nm.size() >= 4 && (nm.substr(nm.size() - 4) == ".xml" || nm.substr(nm.size() - 4) == ".XML")) {
            pick = static_cast<zip_uint64_t>(i);
            break;
        }
    }
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(za.get(), pick, 0, &st) != 0) {
        out.error = "cannot read zip entry";
        return out;
    }
    if ((st.valid & ZIP_STAT_SIZE) != 0 && st.size > limit) {
        out.status = UnpackStatus::too_large;
        out.error = "zip entry declares " + std::to_string(st.size) + " bytes: " + too_large_text(limit);
        return out;
    }
    ZipFile f(zip_fopen_index(za.get(), pick, 0));
    if (!f) {
        out.error = std::string("cannot open zip entry: ") + zip_strerror(za.get());
        return out;
    }
    char chunk[16384];
    for (;;) {
        const zip_int64_t got = zip_fread(f.get(), chunk, sizeof chunk);
        if (got < 0) {
            out.data.clear();
            out.error = std::string("corrupt zip entry: ") + zip_file_strerror(f.get());
            return out;
        }
        if (got == 0) break;
        if (out.data.size() + static_cast<std::size_t>(got) > limit) {
            out.data.clear();
            out.status = UnpackStatus::too_large;
            out.error = "zip entry " + too_large_text(limit);
            return out;
        }
        out.data.append(chunk, static_cast<std::size_t>(got));
    }
    out.status = UnpackStatus::ok;
    return out;
}

UnpackResult unpack(std::string_view data, std::size_t max_output, std::size_t max_ratio) {
    switch (sniff_archive(data)) {
        case ArchiveKind::gzip: return gunzip(data, max_output, max_ratio);
        case ArchiveKind::zip: return unzip_report(data, max_output, max_ratio);
        case ArchiveKind::plain: break;
    }
    UnpackResult out;
    if (data.size() > max_output) {
        out.status = UnpackStatus::too_large;
        out.error = "plain attachment of " + std::to_string(data.size()) + " bytes over the limit";
        return out;
    }
    out.status = UnpackStatus::ok;
    out.data = std::string(data);
    return out;
}

}  // namespace mailmoat::dmarc_report
