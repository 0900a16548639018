#!/usr/bin/perl
# tests/integration/dkim/mail_dkim_verify.pl - verifies messages with Mail::DKIM, keys from a file.
# Usage: mail_dkim_verify.pl KEYFILE MESSAGE...   KEYFILE lines: "name<TAB>TXT record".
# Prints "MESSAGE<TAB>result1,result2,...<TAB>detail" per message (Mail::DKIM's own wording).
use strict;
use warnings;
use Mail::DKIM::Verifier;
use Net::DNS;

my ($keyfile, @messages) = @ARGV;
my %keys;
open(my $kf, '<', $keyfile) or die "cannot read $keyfile: $!";
while (my $line = <$kf>) {
    chomp $line;
    my ($name, $txt) = split /\t/, $line, 2;
    $keys{lc $name} = $txt;
}
close $kf;

{
    no warnings 'redefine';
    # Answer key lookups from the file instead of the network (Mail::DKIM::DNS::query's contract:
    # a list of RRs, an empty list with $@ set for NXDOMAIN, die on temporary errors).
    *Mail::DKIM::DNS::query = sub {
        my ($domain, $type) = @_;
        $domain = lc $domain;
        $domain =~ s/\.$//;
        my $txt = $keys{$domain};
        if (!defined $txt) {
            $@ = 'NXDOMAIN';
            return ();
        }
        my @strings = ($txt =~ /(.{1,255})/gs);
        @strings = ('') unless @strings;
        return (Net::DNS::RR->new(name => $domain, type => 'TXT', txtdata => \@strings));
    };
}

for my $file (@messages) {
    open(my $fh, '<:raw', $file) or die "cannot read $file: $!";
    my $v = Mail::DKIM::Verifier->new();
    while (my $chunk = <$fh>) { $v->PRINT($chunk); }
    close $fh;
    $v->CLOSE;
    my @results = map { $_->result } $v->signatures;
    print join("\t", $file, join(',', @results) || 'none', $v->result_detail), "\n";
}
