#!/usr/bin/perl
# tests/integration/dkim/mail_dkim_sign.pl - signs a message on stdin with Mail::DKIM (rsa-sha256).
# Usage: mail_dkim_sign.pl KEYFILE DOMAIN SELECTOR METHOD < message > signed-message
use strict;
use warnings;
use Mail::DKIM::Signer;
use Mail::DKIM::TextWrap;

my ($keyfile, $domain, $selector, $method) = @ARGV;
binmode STDIN;
binmode STDOUT;
my $msg = do { local $/; <STDIN> };  # slurp only here: Mail::DKIM reads the key file by lines
my $dkim = Mail::DKIM::Signer->new(
    Algorithm => 'rsa-sha256',
    Method    => $method,
    Domain    => $domain,
    Selector  => $selector,
    KeyFile   => $keyfile,
    Headers   => 'x-extra',
);
$dkim->PRINT($msg);
$dkim->CLOSE;
print $dkim->signature->as_string, "\015\012", $msg;
