// tools/mailmoat/checks.cpp - `mailmoat checks test`: runs header/body checks tables (and attachment rules, the
// blocklist) against a message or one line and explains which rule (FILE:LINE) fired on which input and part,
// and the final decision. block/unblock/list are in checks_block.cpp.
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "common/checks/scanner.hpp"
#include "common/log/logger.hpp"
#include "milters/checks/settings.hpp"
#include "tools/mailmoat/args.hpp"
#include "tools/mailmoat/checks_block.hpp"
#include "tools/mailmoat/command.hpp"

namespace mailmoat::cli {
namespace {

namespace po = boost::program_options;

constexpr std::size_t max_message_bytes = 256U << 20;

void usage(std::ostream& out) {
    out << "usage: mailmoat checks test [--table T] [--header-checks T] [--mime-header-checks T]\n"
           "                            [--nested-header-checks T] [--body-checks T] [--decoded-body-checks T]\n"
           "                            [--body-checks-size-limit N] [--attachment-rules FILE]\n"
           "                            [--blocklist-table T [--sender ADDR] [--client-ip IP]]\n"
           "                            (MESSAGE | - | --line TEXT [--body])\n"
           "       mailmoat checks block|unblock|list ...   (mailmoat checks block --help)\n"
           "\n"
           "Runs Postfix header_checks/body_checks tables (pcre:FILE, regexp:FILE, several allowed) against a\n"
           "message file (- for standard input) or a single line, as mailmoat-checks and Postfix's cleanup\n"
           "apply them, and shows every rule that fires (FILE:LINE, action, input, MIME part) and the decision.\n"
           "--table T applies T as header and body tables. --line TEXT checks one header line, or with --body\n"
           "one body line (like postmap -q / postmap -bq). Nothing is sent or changed.\n"
           "Exit status: 0 when the checks ran, 78 for a bad table (FILE:LINE named), 66 for an unreadable\n"
           "message, 64 for bad arguments.\n";
}

std::string read_all(std::istream& in) {
    std::string data;
    char buf[65536];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        data.append(buf, static_cast<std::size_t>(in.gcount()));
        if (data.size() > max_message_bytes) throw UsageError("message larger than 256 MiB");
    }
    return data;
}

/// Feeds a message in wire or file form (LF or CRLF) to the scanner as the milter would.
void feed_message(checks::Scanner& s, std::string_view m) {
    std::size_t pos = 0;
    std::string logical;
    bool have = false;
    while (pos < m.size()) {
        std::size_t nl = m.find('\n', pos);
        std::string_view line = m.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? m.size() : nl + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) break;
        if ((line.front() == ' ' || line.front() == '\t') && have) {
            logical += '\n';
            logical += line;
            continue;
        }
        if (have) s.header(logical);
        logical = std::string(line);
        have = true;
    }
    if (have) s.header(logical);
    s.end_of_headers();
    s.body(m.substr(pos));
}

void print(std::ostream& out, const checks::Outcome& o) {
    for (const auto& h : o.hits) {
        out << checks::input_class_name(h.input_class) << " part=" << h.part << " rule=" << h.where << " action="
            << checks::action_name(h.action.kind);
        if (!h.action.text.empty()) out << " text=" << log::escape(h.action.text);
        out << " input=" << log::escape(h.input) << '\n';
    }
    for (const auto& p : o.problems) out << "problem: " << p << '\n';
    out << "decision: " << checks::final_name(o.final);
    if (o.final == checks::Outcome::Final::reject) out << ' ' << o.reply.code << ' ' << o.reply.status << ' ' << o.reply.text;
    out << '\n';
    if (o.hold) out << "hold: " << (o.hold->empty() ? "(no text)" : *o.hold) << '\n';
    if (o.redirect) out << "redirect: " << *o.redirect << '\n';
    for (const auto& b : o.bcc) out << "bcc: " << b << '\n';
    for (const auto& e : o.header_edits)
        out << "header " << checks::action_name(e.kind) << ": " << e.name << " #" << e.occurrence
            << (e.text.empty() ? "" : " -> " + e.text) << '\n';
    for (const auto& e : o.body_edits)
        out << "body line " << e.line + 1 << ' ' << checks::action_name(e.kind) << (e.text.empty() ? "" : " -> " + e.text)
            << '\n';
    if (o.hits.empty()) out << "no rule matched\n";
}

int test(const std::vector<std::string>& args, Io& io) {
    po::options_description opts;
    opts.add_options()("help", "")("table", po::value<std::vector<std::string>>(), "")(
        "header-checks", po::value<std::vector<std::string>>(), "")("mime-header-checks",
                                                                    po::value<std::vector<std::string>>(), "")(
        "nested-header-checks", po::value<std::vector<std::string>>(), "")(
        "body-checks", po::value<std::vector<std::string>>(), "")(
        "decoded-body-checks", po::value<std::vector<std::string>>(), "")("body-checks-size-limit",
                                                                  po::value<std::size_t>(), "")(
        "line", po::value<std::string>(), "")("body", "")("message", po::value<std::string>(), "")(
        "attachment-rules", po::value<std::string>(), "")("blocklist-table", po::value<std::string>(), "")(
        "sender", po::value<std::string>(), "")("client-ip", po::value<std::string>(), "");
    po::positional_options_description pos;
    pos.add("message", 1);
    const auto vm = parse_args(args, opts, &pos);
    if (vm.count("help")) {
        usage(io.out);
        return Exit::ok;
    }
    auto list = [&](const char* k) {
        return vm.count(k) ? vm[k].as<std::vector<std::string>>() : std::vector<std::string>{};
    };
    auto rules = std::make_shared<checks::RuleSet>();
    auto header = list("header-checks");
    auto body = list("body-checks");
    for (const auto& t : list("table")) {
        header.push_back(t);
        body.push_back(t);
    }
    if (header.empty() && body.empty() && !vm.count("decoded-body-checks") && !vm.count("attachment-rules") &&
        !vm.count("blocklist-table"))
        throw UsageError("no table given (--table, --header-checks, --body-checks, --attachment-rules, --blocklist-table)");
    if (vm.count("attachment-rules")) rules->attachments = checks::AttachmentRules::load(vm["attachment-rules"].as<std::string>());
    if (vm.count("blocklist-table"))
        rules->blocklist = checks::open_tables({checksd::blocklist_spec(vm["blocklist-table"].as<std::string>())});
    rules->header = checks::open_tables(header);
    rules->body = checks::open_tables(body);
    rules->decoded_body = checks::open_tables(list("decoded-body-checks"));
    if (vm.count("mime-header-checks")) {
        rules->mime_header = checks::open_tables(list("mime-header-checks"));
        rules->mime_set = true;
    }
    if (vm.count("nested-header-checks")) {
        rules->nested_header = checks::open_tables(list("nested-header-checks"));
        rules->nested_set = true;
    }
    if (vm.count("body-checks-size-limit")) rules->body_size_limit = vm["body-checks-size-limit"].as<std::size_t>();
    rules->time_limit = std::chrono::milliseconds(0);

    checks::Scanner s(rules);
    s.envelope(vm.count("client-ip") ? vm["client-ip"].as<std::string>() : std::string(),
               vm.count("sender") ? vm["sender"].as<std::string>() : std::string());
    if (vm.count("line")) {
        if (vm.count("message")) throw UsageError("give a message or --line, not both");
        const std::string line = vm["line"].as<std::string>();
        if (vm.count("body")) {
            s.end_of_headers();
            s.body(line + "\n");
        } else {
            s.header(line);
            s.end_of_headers();
        }
    } else {
        if (!vm.count("message")) throw UsageError("no message given (a file, - for standard input, or --line)");
        const std::string path = vm["message"].as<std::string>();
        std::string data;
        if (path == "-") {
            data = read_all(io.in);
        } else {
            std::ifstream f(path, std::ios::binary);
            if (!f) {
                io.err << "mailmoat checks: cannot read " << path << '\n';
                return Exit::no_input;
            }
            data = read_all(f);
        }
        feed_message(s, data);
    }
    print(io.out, s.finish());
    return Exit::ok;
}

int run(const std::vector<std::string>& args, Io& io) {
    if (args.empty() || args[0] == "--help" || args[0] == "help") {
        usage(io.out);
        return args.empty() ? Exit::usage : Exit::ok;
    }
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    if (args[0] == "test") return test(rest, io);
    if (args[0] == "block") return checks_block(rest, io);
    if (args[0] == "unblock") return checks_unblock(rest, io);
    if (args[0] == "list") return checks_list(rest, io);
    throw UsageError("unknown checks subcommand '" + args[0] + "'");
}

const Registration registration{
    {"checks", "header/body checks: test a message against the tables; block, unblock, list the blocklist", run}};

}  // namespace
}  // namespace mailmoat::cli
