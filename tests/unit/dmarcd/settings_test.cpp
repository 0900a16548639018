// tests/unit/dmarcd/settings_test.cpp - mailmoat-dmarc settings: every key's validation and defaults, override values.
#include <catch2/catch.hpp>

#include "milters/dmarc/settings.hpp"

using namespace mailmoat;

namespace {

config::Values values(std::vector<std::string> args) {
    args.insert(args.begin(), "mailmoat-dmarc");
    return config::parse(dmarcd::make_schema(), args);
}

std::string config_error(std::vector<std::string> args) {
    try {
        (void)dmarcd::build_settings(values(std::move(args)));
    } catch (const config::ConfigError& e) {
        return e.what();
    }
    return {};
}

}  // namespace

TEST_CASE("dmarcd settings: defaults are what the man page says", "[dmarcd]") {
    const auto s = dmarcd::build_settings(values({}));
    CHECK(s.common.socket.to_milter() == "unix:/run/mailmoat/dmarc.sock");
    CHECK_FALSE(s.authserv_id.empty());
    REQUIRE(s.trusted_authserv_ids.size() == 1);  // our own id only
    CHECK(s.spf_source == dmarcd::Source::self);
    CHECK(s.dkim_source == dmarcd::Source::self);
    CHECK(s.discovery == dmarc::Discovery::treewalk);
    CHECK(s.public_suffix_list == "/usr/share/publicsuffix/public_suffix_list.dat");
    CHECK(s.enforce_reject);
    CHECK(s.enforce_quarantine);
    CHECK(s.quarantine_action == dmarcd::QuarantineAction::hold);
    CHECK(s.reject_multiple_from);
    CHECK(s.override_table.empty());
    CHECK(s.trusted_arc_sealers.empty());
    CHECK(s.store == "sqlite:/var/lib/mailmoat/dmarc.sqlite");
    CHECK_FALSE(s.tempfail_on_dns_error);
    CHECK(s.skip_authenticated);
    CHECK(s.skip_hosts.empty());
}

TEST_CASE("dmarcd settings: every key accepts its documented values", "[dmarcd]") {
    const auto s = dmarcd::build_settings(values({"--authserv-id", "mx.example.net", "--trusted-authserv-ids", "MX.example.net, dkim.example.net",
                                                  "--spf-source", "headers", "--dkim-source", "headers", "--discovery", "psl",
                                                  "--enforce", "reject", "--quarantine-action", "header", "--reject-multiple-from", "no",
                                                  "--override-table", "cidr:/etc/mailmoat/x.cidr", "--trusted-arc-sealers", "Lists.Example.ORG",
                                                  "--store", "sqlite:/tmp/x.sqlite", "--on-dns-error", "tempfail"}));
    CHECK(s.authserv_id == "mx.example.net");
    CHECK(s.trusted_authserv_ids == std::vector<std::string>{"mx.example.net", "dkim.example.net"});
    CHECK(s.spf_source == dmarcd::Source::headers);
    CHECK(s.dkim_source == dmarcd::Source::headers);
    CHECK(s.discovery == dmarc::Discovery::psl);
    CHECK(s.enforce_reject);
    CHECK_FALSE(s.enforce_quarantine);
    CHECK(s.quarantine_action == dmarcd::QuarantineAction::header);
    CHECK_FALSE(s.reject_multiple_from);
    CHECK(s.override_table == "cidr:/etc/mailmoat/x.cidr");
    CHECK(s.trusted_arc_sealers == std::vector<std::string>{"lists.example.org"});
    CHECK(s.store == "sqlite:/tmp/x.sqlite");
    CHECK(s.tempfail_on_dns_error);

    const auto none = dmarcd::build_settings(values({"--enforce", "none", "--store", "none"}));
    CHECK_FALSE(none.enforce_reject);
    CHECK_FALSE(none.enforce_quarantine);
    CHECK(none.store == "none");
    CHECK(dmarcd::build_settings(values({"--trusted-arc-sealers", "bücher.example"})).trusted_arc_sealers ==
          std::vector<std::string>{"xn--bcher-kva.example"});
}

TEST_CASE("dmarcd settings: bad values name their key", "[dmarcd]") {
    CHECK_THAT(config_error({"--spf-source", "dns"}), Catch::Contains("spf-source"));
    CHECK_THAT(config_error({"--dkim-source", "x"}), Catch::Contains("dkim-source"));
    CHECK_THAT(config_error({"--discovery", "walk"}), Catch::Contains("discovery"));
    CHECK_THAT(config_error({"--discovery", "psl", "--public-suffix-list", ""}), Catch::Contains("public-suffix-list"));
    CHECK_THAT(config_error({"--enforce", "discard"}), Catch::Contains("enforce"));
    CHECK_THAT(config_error({"--enforce", "none, reject"}), Catch::Contains("enforce"));
    CHECK_THAT(config_error({"--quarantine-action", "discard"}), Catch::Contains("quarantine-action"));
    CHECK_THAT(config_error({"--quarantine-header", "X Bad"}), Catch::Contains("quarantine-header"));
    CHECK_THAT(config_error({"--trusted-arc-sealers", "not a domain"}), Catch::Contains("trusted-arc-sealers"));
    CHECK_THAT(config_error({"--trusted-arc-sealers", "localhost"}), Catch::Contains("trusted-arc-sealers"));
    CHECK_THAT(config_error({"--store", "postgresql://db/dmarc"}), Catch::Contains("store"));
    CHECK_THAT(config_error({"--store", "sqlite:relative.db"}), Catch::Contains("store"));
    CHECK_THAT(config_error({"--on-dns-error", "reject"}), Catch::Contains("on-dns-error"));
    CHECK_THAT(config_error({"--skip-hosts", "10.0.0.0/33"}), Catch::Contains("skip-hosts"));
    CHECK_THAT(config_error({"--authserv-id", "a b"}), Catch::Contains("authserv-id"));
    CHECK_THAT(config_error({"--trusted-authserv-ids", "x;y"}), Catch::Contains("trusted-authserv-ids"));
    CHECK(config_error({}).empty());
}

TEST_CASE("dmarcd settings: override values are a reason and an optional comment", "[dmarcd]") {
    auto v = dmarcd::parse_override_value("mailing_list  lists.example.org relays ");
    CHECK(v.reason == "mailing_list");
    CHECK(v.comment == "lists.example.org relays");
    CHECK(dmarcd::parse_override_value("TRUSTED_FORWARDER").reason == "trusted_forwarder");
    CHECK(dmarcd::parse_override_value("forwarded").comment.empty());
    CHECK(dmarcd::parse_override_value("OK").reason.empty());
    CHECK(dmarcd::parse_override_value("").reason.empty());
    CHECK(dmarcd::parse_override_value("reject").reason.empty());
    for (const char* r : {"forwarded", "sampled_out", "trusted_forwarder", "mailing_list", "local_policy", "other"})
        CHECK(dmarcd::valid_override_reason(r));
    CHECK(dmarcd::sqlite_path("sqlite:/var/x") == "/var/x");
    CHECK(dmarcd::sqlite_path("redis://x").empty());
}

TEST_CASE("dmarcd settings: failure reports are off by default and their keys are checked", "[dmarcd]") {
    const auto d = dmarcd::build_settings(values({"--authserv-id", "mx.example.net"})).failure_reports;
    CHECK_FALSE(d.enabled);
    CHECK(d.redact);
    CHECK_FALSE(d.on_none);
    CHECK(d.bcc.empty());
    CHECK(d.sender == "postmaster@mx.example.net");
    CHECK(d.rate_per_hour == 10);
    CHECK(d.queue_size == 100);
    CHECK(d.sendmail == std::vector<std::string>{"/usr/sbin/sendmail", "-i"});
    CHECK(d.smtp_host.empty());
    const auto s = dmarcd::build_settings(values({"--failure-reports", "yes", "--failure-reports-sender", "ruf@example.net",
                                                  "--failure-reports-bcc", "a@example.net, b@example.net",
                                                  "--failure-reports-smtp", "[::1]:2525", "--failure-reports-redact", "no",
                                                  "--failure-reports-rate-limit", "3"}))
                       .failure_reports;
    CHECK(s.enabled);
    CHECK_FALSE(s.redact);
    CHECK(s.sender == "ruf@example.net");
    CHECK(s.bcc == std::vector<std::string>{"a@example.net", "b@example.net"});
    CHECK(s.smtp_host == "::1");
    CHECK(s.smtp_port == 2525);
    CHECK(s.rate_per_hour == 3);
    CHECK(config_error({"--failure-reports-sender", "no address"}).find("failure-reports-sender") != std::string::npos);
    CHECK(config_error({"--failure-reports-bcc", "x@y, <z@w>"}).find("failure-reports-bcc") != std::string::npos);
    CHECK(config_error({"--failure-reports-smtp", "host"}).find("failure-reports-smtp") != std::string::npos);
    CHECK(config_error({"--failure-reports-smtp", "host:99999"}).find("failure-reports-smtp") != std::string::npos);
    CHECK(config_error({"--failure-reports-sendmail", "sendmail -i"}).find("failure-reports-sendmail") != std::string::npos);
    CHECK(config_error({"--failure-reports-rate-limit", "0"}).find("failure-reports-rate-limit") != std::string::npos);
}
