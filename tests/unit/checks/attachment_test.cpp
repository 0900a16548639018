// tests/unit/checks/attachment_test.cpp - attachment rules: magic sniffing, the rules file (every condition
// and error), zip inspection within its bounds (entries, depth, bombs, encryption), and the scanner's MIME
// side (file names from RFC 2231 and RFC 2047, nameless executables, the action path).
#include <catch2/catch.hpp>

#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/checks/attachment.hpp"
#include "common/checks/scanner.hpp"
#include "common/table/table.hpp"

using namespace mailmoat;
using checks::FileInfo;

namespace {

void le16(std::string& s, unsigned v) {
    s.push_back(static_cast<char>(v & 0xFF));
    s.push_back(static_cast<char>((v >> 8) & 0xFF));
}
void le32(std::string& s, std::uint32_t v) {
    le16(s, v & 0xFFFF);
    le16(s, v >> 16);
}

struct Entry {
    std::string name;
    std::string data;            // stored as is (method 0) unless deflate
    bool deflate = false;
    std::uint32_t declared = 0;  // uncompressed size written in the headers (0: the real size)
    bool encrypted = false;      // general purpose bit 0
};

std::string raw_deflate(const std::string& in) {
    z_stream z{};
    REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) == Z_OK);
    std::string out(deflateBound(&z, static_cast<uLong>(in.size())) + 16, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

/// A zip archive (APPNOTE 4.3) written by hand, so that a test can lie in its headers.
std::string make_zip(const std::vector<Entry>& entries) {
    std::string out, central;
    for (const Entry& e : entries) {
        const std::string body = e.deflate ? raw_deflate(e.data) : e.data;
        const auto crc = static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(e.data.data()),
                                                          static_cast<uInt>(e.data.size())));
        const std::uint32_t usize = e.declared ? e.declared : static_cast<std::uint32_t>(e.data.size());
        const unsigned flags = e.encrypted ? 1 : 0, method = e.deflate ? 8 : 0;
        const auto offset = static_cast<std::uint32_t>(out.size());
        le32(out, 0x04034b50); le16(out, 20); le16(out, flags); le16(out, method); le16(out, 0); le16(out, 0x21);
        le32(out, crc); le32(out, static_cast<std::uint32_t>(body.size())); le32(out, usize);
        le16(out, static_cast<unsigned>(e.name.size())); le16(out, 0);
        out += e.name;
        out += body;
        le32(central, 0x02014b50); le16(central, 20); le16(central, 20); le16(central, flags); le16(central, method);
        le16(central, 0); le16(central, 0x21); le32(central, crc); le32(central, static_cast<std::uint32_t>(body.size()));
        le32(central, usize); le16(central, static_cast<unsigned>(e.name.size())); le16(central, 0); le16(central, 0);
        le16(central, 0); le16(central, 0); le32(central, 0); le32(central, offset);
        central += e.name;
    }
    const auto cd_offset = static_cast<std::uint32_t>(out.size());
    out += central;
    le32(out, 0x06054b50); le16(out, 0); le16(out, 0); le16(out, static_cast<unsigned>(entries.size()));
    le16(out, static_cast<unsigned>(entries.size())); le32(out, static_cast<std::uint32_t>(central.size()));
    le32(out, cd_offset); le16(out, 0);
    return out;
}

const std::string pe = std::string("MZ\x90\0\x03\0\0\0", 8) + std::string(200, 'x');
const std::string pdf = "%PDF-1.7\n1 0 obj\n<<>>\nendobj\n";

FileInfo part(std::string name, std::string type = "application/octet-stream") {
    FileInfo f;
    f.name = std::move(name);
    f.declared_type = std::move(type);
    return f;
}

bool has(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

TEST_CASE("sniff_types: magic bytes of executables, scripts, documents, archives") {
    CHECK(checks::sniff_types(pe) == std::vector<std::string>{"exe"});
    CHECK(checks::sniff_types("\x7f" "ELF\x02\x01") == std::vector<std::string>{"elf"});
    CHECK(checks::sniff_types("\xCF\xFA\xED\xFE\x07\0\0\x01") == std::vector<std::string>{"macho"});
    CHECK(checks::sniff_types(std::string("\xCA\xFE\xBA\xBE\0\0\0\x02", 8)) == std::vector<std::string>{"macho"});
    CHECK(checks::sniff_types(std::string("\xCA\xFE\xBA\xBE\0\0\0\x34", 8)).empty());  // a Java class, version 52
    CHECK(checks::sniff_types("#!/bin/sh\necho") == std::vector<std::string>{"script"});
    CHECK(checks::sniff_types(pdf) == std::vector<std::string>{"pdf"});
    CHECK(checks::sniff_types("PK\x03\x04....") == std::vector<std::string>{"zip"});
    CHECK(checks::sniff_types("Rar!\x1a\x07\x01") == std::vector<std::string>{"rar"});
    CHECK(checks::sniff_types("7z\xBC\xAF\x27\x1C") == std::vector<std::string>{"7z"});
    CHECK(checks::sniff_types("\x1f\x8b\x08") == std::vector<std::string>{"gzip"});
    CHECK(checks::sniff_types("MSCF\0\0") == std::vector<std::string>{"cab"});
    std::string tar(512, '\0');
    tar.replace(257, 5, "ustar");
    CHECK(checks::sniff_types(tar) == std::vector<std::string>{"tar"});
    std::string ole = "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1" + std::string(600, '\0');
    CHECK(checks::sniff_types(ole) == std::vector<std::string>{"ole"});
    for (char c : std::string("_VBA_PROJECT")) ole += c, ole += '\0';
    CHECK(checks::sniff_types(ole) == std::vector<std::string>{"ole", "office-macro"});
    CHECK(checks::sniff_types("").empty());
    CHECK(checks::sniff_types("M").empty());
    CHECK(checks::sniff_types("Hello, world").empty());
}

TEST_CASE("attachment rules: conditions, lists, negation, globs, regex, first match wins") {
    const auto r = checks::AttachmentRules::parse(
        "# comment\n"
        "magic=executable location=archive REJECT 5.7.1 executable inside an archive\n"
        "ext=exe,.scr,COM REJECT 5.7.1 executable file $name\n"
        "ext=pdf magic=!pdf HOLD disguised pdf\n"
        "name=/^invoice[0-9]+\\.(js|vbs)$/ DISCARD\n"
        "name=*.docm,*.xlsm\n"
        "  WARN macro document\n"
        "type=application/x-msdownload PREPEND X-Attachment: executable\n"
        "archive=bomb,encrypted REJECT 5.7.1 cannot inspect archive\n"
        "magic=office-macro HOLD macros\n",
        "rules");
    REQUIRE(r->size() == 8);
    auto line_of = [&](const FileInfo& f) { return r->match(f).matched ? r->match(f).line : 0; };

    FileInfo inner = part("dir/evil.exe", "");
    inner.sniffed = {"exe"};
    inner.depth = 1;
    CHECK(line_of(inner) == 2);
    CHECK(r->match(inner).action.kind == checks::ActionKind::reject);
    CHECK(r->match(inner).action.text == "5.7.1 executable inside an archive");
    FileInfo top = part("setup.EXE");
    CHECK(line_of(top) == 3);  // case-insensitive extension, no magic needed
    top.name = "x.scr";
    CHECK(line_of(top) == 3);
    top.name = "x.com";
    CHECK(line_of(top) == 3);
    top.name = "x.exe.txt";
    CHECK(line_of(top) == 0);

    FileInfo fake = part("report.pdf", "application/pdf");
    fake.sniffed = {"exe"};
    CHECK(line_of(fake) == 4);  // not pdf magic
    fake.sniffed = {};
    CHECK(line_of(fake) == 4);  // unknown magic
    fake.sniffed = {"pdf"};
    CHECK(line_of(fake) == 0);  // a real pdf passes

    CHECK(line_of(part("INVOICE123.js")) == 5);   // regex, case-insensitive by default
    CHECK(line_of(part("invoice123.jsx")) == 0);
    CHECK(line_of(part("budget.XLSM")) == 6);     // continuation line joined
    CHECK(r->match(part("budget.xlsm")).action.kind == checks::ActionKind::warn);
    CHECK(line_of(part("", "application/x-msdownload")) == 8);
    FileInfo bomb = part("a.zip", "application/zip");
    bomb.sniffed = {"zip"};
    bomb.problems = static_cast<unsigned>(checks::ArchiveProblem::bomb);
    CHECK(line_of(bomb) == 9);
    bomb.problems = static_cast<unsigned>(checks::ArchiveProblem::limit);
    CHECK(line_of(bomb) == 0);
    FileInfo doc = part("x.doc", "application/msword");
    doc.sniffed = {"ole", "office-macro"};
    CHECK(line_of(doc) == 10);
    CHECK(line_of(part("", "text/plain")) == 0);
}

TEST_CASE("attachment rules: every error names FILE:LINE") {
    auto error_of = [](const std::string& text) {
        try {
            (void)checks::AttachmentRules::parse(text, "/etc/rules");
        } catch (const table::TableError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(error_of("ext=exe REJECT\nsize=1 REJECT\n") == "/etc/rules:2: unknown condition \"size\" (name, ext, type, magic, location, archive)");
    CHECK(error_of("REJECT x\n") == "/etc/rules:1: rule without a condition (name=, ext=, type=, magic=, location=, archive=)");
    CHECK(error_of("ext=exe\n").find("/etc/rules:1: rule without an action") == 0);
    CHECK(error_of("ext=exe BLOCK\n").find("/etc/rules:1: unknown command") == 0);
    CHECK(error_of("ext=exe REDIRECT nobody\n").find("/etc/rules:1: REDIRECT needs user@domain") == 0);
    CHECK(error_of("ext=exe REPLACE X: y\n") == "/etc/rules:1: REPLACE is not available in attachment rules");
    CHECK(error_of("ext=exe IGNORE\n") == "/etc/rules:1: IGNORE is not available in attachment rules");
    CHECK(error_of("ext=exe FILTER smtp:x\n") == "/etc/rules:1: FILTER is not available in attachment rules");
    CHECK(error_of("ext=exe PREPEND not a header\n") == "/etc/rules:1: PREPEND needs a header \"Name: value\"");
    CHECK(error_of("magic=jpeg REJECT\n") == "/etc/rules:1: unknown magic type \"jpeg\"");
    CHECK(error_of("location=inside REJECT\n") == "/etc/rules:1: location= takes part or archive, not \"inside\"");
    CHECK(error_of("archive=huge REJECT\n").find("/etc/rules:1: archive= takes") == 0);
    CHECK(error_of("\n\nname=/(unclosed/ REJECT\n").find("/etc/rules:3: error in regular expression") == 0);
    CHECK(error_of("name=/x/q REJECT\n") == "/etc/rules:1: unknown regular expression flag \"q\" (only i)");
    CHECK(error_of("name= REJECT\n") == "/etc/rules:1: condition name= without a value");
    CHECK(error_of("  ext=exe REJECT\n") == "/etc/rules:1: continuation line without a preceding rule");
    CHECK_THROWS_AS(checks::AttachmentRules::load("/nonexistent/rules"), table::TableError);
}

TEST_CASE("inspect_attachment: entries of a zip, nested zips, office macros") {
    const std::string inner = make_zip({{"payload.exe", pe}});
    const std::string zip = make_zip({{"readme.txt", "hello"}, {"docs/", ""}, {"tools/setup.exe", pe, true},
                                      {"inner.zip", inner}, {"word/vbaProject.bin", "x"}});
    const auto files = checks::inspect_attachment(part("bundle.zip", "application/zip"), zip, true);
    REQUIRE(files.size() == 6);  // the part, 4 files (the directory skipped), the nested entry
    CHECK(files[0].problems == 0);
    CHECK(has(files[0].sniffed, "zip"));
    CHECK(has(files[0].sniffed, "office-macro"));  // vbaProject.bin makes it an OOXML macro document
    CHECK(files[1].name == "readme.txt");
    CHECK(files[1].depth == 1);
    CHECK(files[1].container == "bundle.zip");
    CHECK(files[2].name == "tools/setup.exe");
    CHECK(files[2].sniffed == std::vector<std::string>{"exe"});  // deflated entry, sniffed after inflating
    CHECK(files[3].name == "inner.zip");
    CHECK(files[4].name == "payload.exe");
    CHECK(files[4].depth == 2);
    CHECK(files[4].container == "inner.zip");
    CHECK(files[4].sniffed == std::vector<std::string>{"exe"});
    CHECK(checks::describe(files[4]) == "name=payload.exe magic=exe in=inner.zip");
}

TEST_CASE("inspect_attachment: bounds - bombs, entries, depth, encryption, corruption, truncation") {
    using P = checks::ArchiveProblem;
    auto problems = [](const std::vector<FileInfo>& f) { return f.front().problems; };
    SECTION("an entry declaring more than the limit is a bomb and is not inflated") {
        const std::string z = make_zip({{"zeros.bin", std::string(1000, '\0'), true, 0xFFFFFFF0U}});
        checks::ArchiveLimits l;
        const auto f = checks::inspect_attachment(part("z.zip"), z, true, l);
        CHECK(problems(f) == static_cast<unsigned>(P::bomb));
        CHECK(f.front().why.find("declares 4294967280 bytes") != std::string::npos);
    }
    SECTION("an entry expanding more than max-ratio times is a bomb") {
        const std::string z = make_zip({{"zeros.bin", std::string(3U << 20, '\0'), true}});
        REQUIRE(z.size() < 10000);
        const auto f = checks::inspect_attachment(part("z.zip"), z, true);
        CHECK(problems(f) == static_cast<unsigned>(P::bomb));
        CHECK(f.front().why.find("expands") != std::string::npos);
        checks::ArchiveLimits generous;
        generous.max_ratio = 100000;
        CHECK(problems(checks::inspect_attachment(part("z.zip"), z, true, generous)) == 0);
    }
    SECTION("nested archives share one budget") {
        const std::string one = make_zip({{"a.bin", std::string(700000, 'a'), true}});
        const std::string z = make_zip({{"1.zip", one}, {"2.zip", one}});
        checks::ArchiveLimits l;
        l.max_uncompressed = 1U << 20;
        const auto f = checks::inspect_attachment(part("z.zip"), z, true, l);
        CHECK((problems(f) & static_cast<unsigned>(P::bomb)) != 0);
    }
    SECTION("too many entries: the first are inspected, limit reported") {
        std::vector<Entry> many;
        for (int i = 0; i < 20; ++i) many.push_back({"f" + std::to_string(i) + ".txt", "x"});
        checks::ArchiveLimits l;
        l.max_entries = 5;
        const auto f = checks::inspect_attachment(part("z.zip"), make_zip(many), true, l);
        CHECK(f.size() == 6);
        CHECK(problems(f) == static_cast<unsigned>(P::limit));
    }
    SECTION("archives nested deeper than max-depth are not opened") {
        std::string z = make_zip({{"core.exe", pe}});
        for (int i = 0; i < 5; ++i) z = make_zip({{"level" + std::to_string(i) + ".zip", z}});
        checks::ArchiveLimits l;
        l.max_depth = 3;
        const auto f = checks::inspect_attachment(part("z.zip"), z, true, l);
        CHECK(problems(f) == static_cast<unsigned>(P::limit));
        CHECK(f.size() == 4);  // the part and three levels
        l.max_depth = 16;
        const auto all = checks::inspect_attachment(part("z.zip"), z, true, l);
        CHECK(problems(all) == 0);
        CHECK(all.back().name == "core.exe");
        CHECK(all.back().depth == 6);
    }
    SECTION("encrypted entries: names checked, content not") {
        const auto f = checks::inspect_attachment(part("z.zip"), make_zip({{"secret.exe", "garbage", false, 0, true}}), true);
        CHECK(problems(f) == static_cast<unsigned>(P::encrypted));
        REQUIRE(f.size() == 2);
        CHECK(f[1].name == "secret.exe");
        CHECK(f[1].sniffed.empty());
    }
    SECTION("a corrupt archive and a truncated one") {
        CHECK(problems(checks::inspect_attachment(part("z.zip"), "PK\x03\x04garbage", true)) == static_cast<unsigned>(P::corrupt));
        const std::string z = make_zip({{"a.exe", pe}});
        CHECK(problems(checks::inspect_attachment(part("z.zip"), z, false)) == static_cast<unsigned>(P::limit));
    }
}

namespace {

std::shared_ptr<checks::RuleSet> rules_with(const std::string& text) {
    auto r = std::make_shared<checks::RuleSet>();
    r->attachments = checks::AttachmentRules::parse(text, "att");
    return r;
}

std::string b64(const std::string& in) {
    static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0, col = 0;
    for (; i + 2 < in.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                           static_cast<unsigned char>(in[i + 2]);
        out += a[v >> 18], out += a[(v >> 12) & 63], out += a[(v >> 6) & 63], out += a[v & 63];
        if ((col += 4) >= 76) out += "\r\n", col = 0;
    }
    if (i + 1 == in.size()) {
        const unsigned v = static_cast<unsigned char>(in[i]) << 16;
        out += a[v >> 18], out += a[(v >> 12) & 63], out += "==";
    } else if (i + 2 == in.size()) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
        out += a[v >> 18], out += a[(v >> 12) & 63], out += a[(v >> 6) & 63], out += '=';
    }
    return out + "\r\n";
}

const checks::Outcome& scan(checks::Scanner& s, const std::string& parts) {
    s.header("From: a@example.org");
    s.header("MIME-Version: 1.0");
    s.header("Content-Type: multipart/mixed; boundary=\"b\"");
    s.end_of_headers();
    s.body("preamble\r\n--b\r\nContent-Type: text/plain\r\n\r\nHello, see attached.\r\n" + parts + "--b--\r\n");
    return s.finish();
}

std::string attachment(const std::string& headers, const std::string& data) {
    return "--b\r\n" + headers + "Content-Transfer-Encoding: base64\r\n\r\n" + b64(data);
}

}  // namespace

TEST_CASE("scanner: attachment rules see decoded parts and zip entries and act through the action path") {
    const std::string rules =
        "magic=executable location=archive REJECT 5.7.1 Executable in archive refused\n"
        "ext=pdf magic=!pdf HOLD disguised document\n"
        "magic=executable PREPEND X-Executable: yes\n"
        "archive=bomb REJECT 5.7.3 archive bomb\n"
        "ext=txt WARN text file\n";
    SECTION("an .exe inside a zip") {
        checks::Scanner s(rules_with(rules));
        const auto& o = scan(s, attachment("Content-Type: application/zip; name=\"files.zip\"\r\n",
                                           make_zip({{"notes.txt", "hi"}, {"run.exe", pe, true}})));
        CHECK(o.final == checks::Outcome::Final::reject);
        CHECK(o.reply.code == "550");
        CHECK(o.reply.text == "Executable in archive refused");
        REQUIRE(o.hits.size() == 2);
        CHECK(o.hits[0].input_class == checks::InputClass::attachment);
        CHECK(o.hits[0].where == "att:5");
        CHECK(o.hits[0].input == "name=notes.txt magic=unknown in=files.zip");
        CHECK(o.hits[1].where == "att:1");
        CHECK(o.hits[1].input == "name=run.exe magic=exe in=files.zip");
        CHECK(o.hits[1].part == 2);
    }
    SECTION("a disguised executable: .pdf name (RFC 2231 filename*), MZ magic") {
        checks::Scanner s(rules_with(rules));
        const auto& o = scan(s, attachment("Content-Type: application/pdf\r\nContent-Disposition: attachment;\r\n"
                                           " filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf\r\n",
                                           pe));
        CHECK(o.final == checks::Outcome::Final::accept);
        REQUIRE(o.hold);
        CHECK(*o.hold == "disguised document");
        REQUIRE(o.hits.size() == 1);
        CHECK(o.hits[0].input == "name=Rechnung März.pdf type=application/pdf magic=exe");
    }
    SECTION("a harmless pdf passes; an encoded-word name is decoded") {
        checks::Scanner s(rules_with(rules));
        const auto& o = scan(s, attachment("Content-Type: application/pdf; name=\"=?UTF-8?B?UmVwb3J0LnBkZg==?=\"\r\n", pdf));
        CHECK(o.final == checks::Outcome::Final::accept);
        CHECK(o.hits.empty());
        CHECK_FALSE(o.hold);
    }
    SECTION("a part without a name but with executable magic counts; PREPEND adds a header") {
        checks::Scanner s(rules_with(rules));
        const auto& o = scan(s, attachment("Content-Type: application/octet-stream\r\n", pe));
        REQUIRE(o.hits.size() == 1);
        CHECK(o.hits[0].input == "name=(none) type=application/octet-stream magic=exe");
        REQUIRE(o.header_edits.size() == 1);
        CHECK(o.header_edits[0].kind == checks::ActionKind::prepend);
        CHECK(o.header_edits[0].position == 0);
        CHECK(o.header_edits[0].text == "X-Executable: yes");
    }
    SECTION("nameless text is message text: a script-looking body is not a file") {
        checks::Scanner s(rules_with("magic=script REJECT no scripts\n"));
        const auto& o = scan(s, "--b\r\nContent-Type: text/plain\r\n\r\n#!/bin/sh\r\necho hi\r\n");
        CHECK(o.hits.empty());
        checks::Scanner s2(rules_with("magic=script REJECT no scripts\n"));
        const auto& o2 = scan(s2, "--b\r\nContent-Type: text/x-sh; name=run.sh\r\n\r\n#!/bin/sh\r\necho hi\r\n");
        CHECK(o2.final == checks::Outcome::Final::reject);
    }
    SECTION("a zip bomb is bounded, reported and matched by archive=bomb") {
        checks::Scanner s(rules_with(rules));
        const auto& o = scan(s, attachment("Content-Type: application/zip; name=bomb.zip\r\n",
                                           make_zip({{"zeros.bin", std::string(8U << 20, '\0'), true}})));
        CHECK(o.final == checks::Outcome::Final::reject);
        CHECK(o.reply.text == "archive bomb");
        REQUIRE_FALSE(o.problems.empty());
        CHECK(o.problems[0].find("attachment bomb.zip: entry zeros.bin expands") == 0);
    }
    SECTION("a part larger than attachment-size-limit: sniffed from its start, the archive not opened") {
        auto r = rules_with("archive=limit WARN too large to inspect\nmagic=executable location=archive REJECT no\n");
        r->attachment_size_limit = 1024;
        checks::Scanner s(r);
        const auto& o = scan(s, attachment("Content-Type: application/zip; name=big.zip\r\n",
                                           make_zip({{"run.exe", pe + std::string(4000, 'y')}})));
        CHECK(o.final == checks::Outcome::Final::accept);
        REQUIRE(o.hits.size() == 1);
        CHECK(o.hits[0].action.kind == checks::ActionKind::warn);
    }
    SECTION("a single-part message whose body is an executable") {
        checks::Scanner s(rules_with(rules));
        s.header("Content-Type: application/octet-stream");
        s.header("Content-Transfer-Encoding: base64");
        s.end_of_headers();
        s.body(b64(pe));
        const auto& o = s.finish();
        REQUIRE(o.hits.size() == 1);
        CHECK(o.hits[0].where == "att:3");
    }
}
