#!/usr/bin/perl
# tests/integration/dmarc_mail_dmarc.pl - Mail::DMARC (Debian's libmail-dmarc-perl, an RFC 7489
# implementation with the Public Suffix List) as an oracle for the DMARC engine's psl mode: reads the
# same case lines as mailmoat_dmarc_tool and prints the same fields.
#
# Usage: dmarc_mail_dmarc.pl HOST:PORT  (the DNS server to ask)
# Input lines: FROM_DOMAIN MAIL_FROM_DOMAIN SPF_RESULT [DKIM_DOMAIN:RESULT ...]
# Output lines: RESULT DISPOSITION POLICY_DOMAIN|- ORG_DOMAIN SPF_ALIGNED DKIM_ALIGNED
use strict;
use warnings;

use Mail::DMARC::PurePerl;
use Net::DNS::Resolver;

my ($host, $port) = split /:/, ($ARGV[0] // '');
die "usage: $0 HOST:PORT\n" unless $host && $port;
$| = 1;

while (my $line = <STDIN>) {
    chomp $line;
    my ($from, $mail_from, $spf, @sigs) = split ' ', $line;
    next unless defined $spf;
    my $out = eval { evaluate($from, $mail_from, $spf, @sigs) };
    print defined $out ? $out : "error " . ($@ =~ s/ at .*//sr) . "\n";
}

sub evaluate {
    my ($from, $mail_from, $spf, @sigs) = @_;
    my $res = Net::DNS::Resolver->new(nameservers => [$host], port => $port, recurse => 1,
                                      udp_timeout => 3, tcp_timeout => 3, retry => 1);
    my $d = Mail::DMARC::PurePerl->new;
    $d->set_resolver($res);
    $d->source_ip('192.0.2.1');
    $d->envelope_to('example.net');
    $d->envelope_from($mail_from);
    $d->header_from($from);
    $d->spf(domain => $mail_from, scope => 'mfrom', result => $spf);
    $d->dkim([map { my ($dom, $r) = split /:/; { domain => $dom, selector => 's', result => $r // 'pass' } } @sigs]);
    my $r = $d->validate;
    my $pub = eval { $r->published };
    return sprintf "%s %s %s %s %s %s\n", $r->result, lc $r->disposition, ($pub ? lc $pub->domain : '-'),
        lc $d->get_organizational_domain($from), ($r->spf || 'fail'), ($r->dkim || 'fail');
}
