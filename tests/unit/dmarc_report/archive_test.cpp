// tests/unit/dmarc_report/archive_test.cpp - gzip round trip, bounded inflation (bombs), corrupt data,
// zip entries through libzip.
#include <catch2/catch.hpp>

#include <zip.h>

#include "common/dmarc_report/archive.hpp"

namespace dr = mailmoat::dmarc_report;

namespace {

/// A zip archive made by libzip in memory (the archives big providers send are ordinary deflate zips).
std::string make_zip(const std::string& name, const std::string& content) {
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t* buf = zip_source_buffer_create(nullptr, 0, 0, &err);
    REQUIRE(buf != nullptr);
    zip_source_keep(buf);
    zip_t* za = zip_open_from_source(buf, ZIP_TRUNCATE, &err);
    REQUIRE(za != nullptr);
    zip_source_t* file = zip_source_buffer(za, content.data(), content.size(), 0);
    REQUIRE(zip_file_add(za, name.c_str(), file, ZIP_FL_OVERWRITE) >= 0);
    REQUIRE(zip_close(za) == 0);
    REQUIRE(zip_source_open(buf) == 0);
    std::string out;
    char chunk[4096];
    zip_int64_t n;
    while ((n = zip_source_read(buf, chunk, sizeof chunk)) > 0) out.append(chunk, static_cast<std::size_t>(n));
    zip_source_close(buf);
    zip_source_free(buf);
    zip_error_fini(&err);
    return out;
}

}  // namespace

TEST_CASE("gzip round trip and sniffing") {
    const std::string text = "<feedback>" + std::string(10000, 'x') + "</feedback>";
    const auto gz = dr::gzip_compress(text);
    CHECK(dr::sniff_archive(gz) == dr::ArchiveKind::gzip);
    CHECK(dr::sniff_archive(text) == dr::ArchiveKind::plain);
    const auto u = dr::gunzip(gz, 1 << 20);
    REQUIRE(u.status == dr::UnpackStatus::ok);
    CHECK(u.data == text);
    const auto two = dr::gunzip(gz + gz, 1 << 20);  // concatenated members
    REQUIRE(two.status == dr::UnpackStatus::ok);
    CHECK(two.data == text + text);
}

TEST_CASE("a gzip bomb stops at the output limit or the ratio limit") {
    const auto bomb = dr::gzip_compress(std::string(50u << 20, '\0'));  // 50 MiB of zeros, ~50 KiB packed
    const auto small = dr::gunzip(bomb, 1u << 20);
    CHECK(small.status == dr::UnpackStatus::too_large);
    CHECK(small.data.empty());
    CHECK(small.error.find("bomb") != std::string::npos);
    const auto ratio = dr::gunzip(bomb, 1u << 30, 100);
    CHECK(ratio.status == dr::UnpackStatus::too_large);
}

TEST_CASE("corrupt and truncated gzip are malformed") {
    auto gz = dr::gzip_compress(std::string(5000, 'a') + "b");
    CHECK(dr::gunzip(gz.substr(0, gz.size() / 2), 1 << 20).status == dr::UnpackStatus::malformed);
    gz[gz.size() / 2] = static_cast<char>(gz[gz.size() / 2] ^ 0x55);
    CHECK(dr::gunzip(gz, 1 << 20).status != dr::UnpackStatus::ok);
}

TEST_CASE("zip: the .xml entry is read, bombs and garbage refused") {
    const std::string xml = "<feedback>zip</feedback>";
    const auto z = make_zip("provider.example!example.org!1!2.xml", xml);
    CHECK(dr::sniff_archive(z) == dr::ArchiveKind::zip);
    const auto u = dr::unpack(z, 1 << 20);
    REQUIRE(u.status == dr::UnpackStatus::ok);
    CHECK(u.data == xml);
    const auto bomb = make_zip("bomb.xml", std::string(20u << 20, 'A'));
    const auto b = dr::unzip_report(bomb, 1u << 20);
    CHECK(b.status == dr::UnpackStatus::too_large);
    CHECK(dr::unzip_report(std::string("PK\x03\x04garbage", 11), 1 << 20).status == dr::UnpackStatus::malformed);
}
