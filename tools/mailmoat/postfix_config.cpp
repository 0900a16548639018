// tools/mailmoat/postfix_config.cpp - `mailmoat postfix-config`: the main.cf and master.cf lines that wire
// the installed mailmoat daemons into Postfix, with the socket paths their configuration files give.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <istream>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/socket_spec.hpp"
#include "mailmoat/version.hpp"
#include "tools/mailmoat/args.hpp"
#include "tools/mailmoat/command.hpp"

namespace mailmoat::cli {
namespace {

namespace po = boost::program_options;
namespace fs = std::filesystem;

enum class Kind { policy, milter };

/// The daemons postfix-config knows, in the order Postfix should consult them. A new daemon is one line
/// here (its default socket must equal its settings.cpp default; integration.postfix_config checks it).
struct DaemonInfo {
    std::string_view name;            // spf, grey, ...
    Kind kind;
    std::string_view default_socket;  // the daemon's compiled-in default
    std::string_view role;            // one comment line
};

constexpr DaemonInfo known_daemons[] = {
    {"spf", Kind::policy, "unix:/run/mailmoat/spf.sock", "SPF check of HELO and MAIL FROM (RFC 7208)"},
    {"grey", Kind::policy, "unix:/run/mailmoat/grey.sock", "greylisting of unknown (client, sender, recipient) triplets"},
    {"dkim", Kind::milter, "unix:/run/mailmoat/dkim.sock", "DKIM: verifies inbound mail, signs authenticated/internal mail"},
    {"dmarc", Kind::milter, "unix:/run/mailmoat/dmarc.sock", "DMARC: the From domain's policy, after DKIM"},
    {"checks", Kind::milter, "unix:/run/mailmoat/checks.sock", "header and body checks"},
};

/// One daemon as configured: the keys postfix-config needs from its configuration file.
struct Configured {
    const DaemonInfo* info = nullptr;
    std::string file;      // the configuration file read, or empty when it does not exist
    std::string socket;    // as written (or the default)
    std::string socket_source;
    std::string header;    // spf: received-spf, authentication-results, both, none
    std::string mode;      // dkim: s, v, sv
    std::string address;   // what main.cf says: unix:mailmoat/spf.sock, inet:127.0.0.1:10023, ...
};

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

/// Reads the keys postfix-config uses from a daemon's "key = value" file (the syntax of common/config:
/// '#' comments, optional double quotes). Other keys are the daemon's business and are skipped; its
/// own --check-config validates them. Never throws; lines without '=' and lines over 8192 bytes (which
/// the daemon itself refuses) are skipped.
void read_keys(std::istream& in, const std::string& file, Configured& c) {
    std::string line;
    unsigned lineno = 0;
    while (std::getline(in, line) && lineno < 100000) {
        ++lineno;
        if (line.size() > 8192) continue;
        auto view = trim(line);
        if (view.empty() || view.front() == '#') continue;
        const auto eq = view.find('=');
        if (eq == std::string_view::npos) continue;
        const auto key = trim(view.substr(0, eq));
        auto value = trim(view.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        const auto where = file + ":" + std::to_string(lineno);
        if (key == "socket") {
            c.socket = value;
            c.socket_source = where;
        } else if (key == "header") {
            c.header = value;
        } else if (key == "mode") {
            c.mode = value;
        }
    }
}

struct Options {
    std::string config_dir = "/etc/mailmoat";
    std::string queue_dir = "/var/spool/postfix";
    bool chroot = true;
    std::vector<std::string> daemons;  // empty: those with a configuration file
    std::string section = "all";
};

std::string join(const std::vector<std::string>& items, std::string_view sep) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : std::string(sep)) + i;
    return out;
}

/// The address Postfix uses for a daemon's socket. A UNIX socket under the queue directory is given
/// relative to it ("unix:mailmoat/spf.sock"): every Postfix daemon runs with the queue directory as its
/// working directory, chrooted or not, so the same line works in both cases (what Debian's OpenDKIM
/// setup does). Returns nullopt and a warning when a chrooted smtpd cannot reach the socket.
std::optional<std::string> postfix_address(const Options& o, Configured& c, std::vector<std::string>& warnings) {
    std::string error;
    const auto spec = util::SocketSpec::parse(c.socket, &error);
    if (!spec) {
        warnings.push_back(c.socket_source + ": " + error);
        return std::nullopt;
    }
    if (spec->family != util::SocketSpec::Family::unix_path) {
        auto s = *spec;
        // A daemon listening on every address is reached on loopback.
        if (s.host == "0.0.0.0" || s.host == "*") s.host = "127.0.0.1";
        if (s.host == "::") s.host = "::1";
        return s.to_postfix();
    }
    auto queue = o.queue_dir;
    while (queue.size() > 1 && queue.back() == '/') queue.pop_back();
    const auto path = fs::path(spec->path).lexically_normal().string();
    if (path.size() > queue.size() + 1 && path.compare(0, queue.size() + 1, queue + "/") == 0)
        return "unix:" + path.substr(queue.size() + 1);
    if (o.chroot) {
        warnings.push_back("mailmoat-" + std::string(c.info->name) + " listens on " + path + ", outside the queue directory " +
                           queue + ", where a chrooted smtpd cannot reach it: set 'socket = unix:" + queue + "/mailmoat/" +
                           std::string(c.info->name) + ".sock' in " +
                           (c.file.empty() ? o.config_dir + "/mailmoat-" + std::string(c.info->name) + ".conf" : c.file) +
                           " (or pass --chroot no if smtpd does not run chrooted)");
        return std::nullopt;
    }
    return "unix:" + path;
}

void print_main(const std::vector<Configured>& ds, std::ostream& out) {
    std::vector<const Configured*> policies, milters;
    const Configured* spf = nullptr;
    const Configured* dkim = nullptr;
    for (const auto& d : ds) {
        (d.info->kind == Kind::policy ? policies : milters).push_back(&d);
        if (d.info->name == "spf") spf = &d;
        if (d.info->name == "dkim") dkim = &d;
    }
    out << "# ---- main.cf ----\n";
    for (const auto& d : ds) {
        out << "# mailmoat-" << d.info->name << ": " << d.info->role << "\n#   socket = " << d.socket << "  ("
            << (d.socket_source.empty() ? "default" : d.socket_source) << ")\n";
    }
    if (!policies.empty()) {
        out << "\n# Policy services run after the relay check, so they never see mail for other domains from\n"
               "# strangers; SPF before greylisting, so a forged sender is rejected at once, not greylisted.\n"
               "# Merge with the restrictions you have (smtpd_relay_restrictions, RBLs, ...).\n"
               "smtpd_recipient_restrictions =\n"
               "    permit_mynetworks,\n"
               "    permit_sasl_authenticated,\n"
               "    reject_unauth_destination";
        for (const auto* p : policies) out << ",\n    check_policy_service " << p->address;
        out << "\n";
        if (spf != nullptr && (spf->header == "authentication-results" || spf->header == "both")) {
            out << "# mailmoat-spf adds Authentication-Results at the DATA stage (header = " << spf->header << ").\n"
                   "smtpd_data_restrictions =\n"
                   "    check_policy_service "
                << spf->address << "\n";
        }
    }
    if (!milters.empty()) {
        std::vector<std::string> addresses;
        for (const auto* m : milters) addresses.push_back(m->address);
        out << "\n# Milters in this order: DKIM first (its verdict is what DMARC aligns), then DMARC, then\n"
               "# the content checks. A milter that does not answer lets mail through (accept) on port 25;\n"
               "# the submission service below tempfails instead, so nothing leaves unsigned.\n"
               "smtpd_milters = "
            << join(addresses, ", ")
            << "\n"
               "milter_default_action = accept\n";
        if (dkim != nullptr && dkim->mode != "v") {
            out << "# Mail from sendmail/pickup (cron, scripts, webmail) is signed too.\n"
                   "non_smtpd_milters = "
                << dkim->address << "\n";
        }
    }
    if (dkim != nullptr && dkim->mode != "v") {
        out << "\n# Keep DKIM signatures intact downstream: do not fold lines over 998 octets after signing,\n"
               "# and do not turn 8-bit mail into quoted-printable after it was signed.\n"
               "smtp_line_length_limit = 0\n"
               "disable_mime_output_conversion = yes\n";
    }
}

void print_master(const Options& o, const std::vector<Configured>& ds, std::ostream& out) {
    const Configured* dkim = nullptr;
    for (const auto& d : ds)
        if (d.info->name == "dkim") dkim = &d;
    out << "# ---- master.cf ----\n";
    if (dkim == nullptr || dkim->mode == "v") {
        out << "# (nothing to add: no DKIM signing configured)\n";
        return;
    }
    const char* chroot = o.chroot ? "y" : "n";
    out << "# Submission (587, STARTTLS) and submissions (465, TLS) for SASL-authenticated users: the\n"
           "# message is signed by mailmoat-dkim and nothing else; a milter failure defers the message.\n";
    for (const auto* service : {"submission", "submissions"}) {
        out << service << " inet  n       -       " << chroot << "       -       -       smtpd\n"
            << "  -o syslog_name=postfix/" << service << "\n";
        if (std::string_view(service) == "submissions")
            out << "  -o smtpd_tls_wrappermode=yes\n";
        else
            out << "  -o smtpd_tls_security_level=encrypt\n";
        out << "  -o smtpd_sasl_auth_enable=yes\n"
               "  -o smtpd_client_restrictions=permit_sasl_authenticated,reject\n"
               "  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject\n"
               "  -o smtpd_recipient_restrictions=\n"
               "  -o smtpd_data_restrictions=\n"
               "  -o smtpd_milters="
            << dkim->address << "\n  -o milter_default_action=tempfail\n";
    }
}

constexpr std::string_view usage_text =
    "usage: mailmoat postfix-config [options]\n"
    "Prints the main.cf and master.cf lines that wire the installed mailmoat daemons into Postfix, with\n"
    "the socket each daemon's configuration file names. Nothing is changed: review and paste them.\n\n";

int run(const std::vector<std::string>& args, Io& io) {
    Options o;
    std::string chroot = "yes";
    po::options_description desc("options");
    desc.add_options()("help,h", "this help")(
        "config-dir", po::value(&o.config_dir)->default_value(o.config_dir),
        "where the daemons' configuration files are (mailmoat-NAME.conf); a daemon counts as installed when its file exists")(
        "daemon", po::value(&o.daemons)->composing(), "only this daemon: spf, grey, dkim, dmarc, checks (repeatable)")(
        "queue-directory", po::value(&o.queue_dir)->default_value(o.queue_dir), "Postfix's queue_directory")(
        "chroot", po::value(&chroot)->default_value(chroot),
        "yes: smtpd runs chrooted in the queue directory (Debian's default); no: it does not")(
        "section", po::value(&o.section)->default_value(o.section), "main, master or all");
    const auto vm = parse_args(args, desc);
    if (vm.count("help") != 0U) {
        io.out << usage_text << desc;
        return Exit::ok;
    }
    if (chroot == "yes")
        o.chroot = true;
    else if (chroot == "no")
        o.chroot = false;
    else
        throw UsageError("--chroot: expected yes or no, got '" + chroot + "'");
    if (o.section != "main" && o.section != "master" && o.section != "all")
        throw UsageError("--section: expected main, master or all, got '" + o.section + "'");
    if (o.queue_dir.empty() || o.queue_dir.front() != '/') throw UsageError("--queue-directory must be an absolute path");
    for (const auto& d : o.daemons) {
        bool known = false;
        for (const auto& k : known_daemons) known = known || k.name == d;
        if (!known) throw UsageError("--daemon: unknown daemon '" + d + "' (spf, grey, dkim, dmarc, checks)");
    }

    std::vector<Configured> ds;
    std::vector<std::string> warnings;
    for (const auto& k : known_daemons) {
        const bool wanted = o.daemons.empty() || std::find(o.daemons.begin(), o.daemons.end(), k.name) != o.daemons.end();
        if (!wanted) continue;
        Configured c;
        c.info = &k;
        c.socket = k.default_socket;
        c.header = "received-spf";
        c.mode = "sv";
        const auto file = o.config_dir + "/mailmoat-" + std::string(k.name) + ".conf";
        std::error_code ec;
        if (fs::exists(file, ec)) {
            std::ifstream in(file);
            if (!in) {
                io.err << "mailmoat postfix-config: " << file << ": cannot read\n";
                return Exit::no_input;
            }
            c.file = file;
            read_keys(in, file, c);
        } else if (o.daemons.empty()) {
            continue;  // not installed
        }
        const auto address = postfix_address(o, c, warnings);
        if (!address) continue;
        c.address = *address;
        ds.push_back(std::move(c));
    }
    if (ds.empty() && warnings.empty()) {
        io.err << "mailmoat postfix-config: no daemon configuration (mailmoat-*.conf) in " << o.config_dir << "\n";
        return Exit::no_input;
    }

    io.out << "# Generated by `mailmoat postfix-config` (mailmoat " << mailmoat::version << ") from " << o.config_dir
           << ".\n# Review, then add to main.cf/master.cf (or apply main.cf lines with postconf -e) and run\n"
              "# `postfix reload`. "
           << (o.chroot ? "smtpd runs chrooted in " + o.queue_dir + ": sockets must live below it."
                        : "smtpd does not run chrooted.")
           << "\n";
    for (const auto& w : warnings) io.out << "# WARNING: " << w << "\n";
    if (o.section != "master") {
        io.out << "\n";
        print_main(ds, io.out);
    }
    if (o.section != "main") {
        io.out << "\n";
        print_master(o, ds, io.out);
    }
    for (const auto& w : warnings) io.err << "mailmoat postfix-config: " << w << "\n";
    return warnings.empty() ? Exit::ok : Exit::failed;
}

const Registration registration{{"postfix-config", "print the main.cf/master.cf lines for the installed daemons", run}};

}  // namespace
}  // namespace mailmoat::cli
