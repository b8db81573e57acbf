# Copyright (c) 2026, the lockable authors
#
# The ttl horizon (the largest ttl any lease may still be held for, and so
# the grace period after a crash) comes back down at a clean restart to
# what the restored leases need.  Without that, one lease granted for a
# year (a superuser may raise lockable.max_ttl in a session, up to 68
# years) would make
# every later crash block all grants for a year.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use LockableTest;

my $node = lockable_node(
	'ttl_horizon', q{
lockable.worker_naptime = 100ms
lockable.default_ttl = '3s'
});
my $horizon_file = lockable_path($node, 'horizon');

sub sql
{
	my ($query) = @_;
	return $node->safe_psql('postgres', $query);
}

# ttl_horizon of the horizon file, in microseconds
sub ttl_horizon
{
	my ($magic, $version, $reserved, $ttl) = unpack('L< L< Q< q<', slurp_file($horizon_file));
	return $ttl;
}

my $year = 365 * 24 * 3600 * 1_000_000;

is( sql(q{
SET lockable.max_ttl = '3650d';
SELECT lockable_release('long', lockable_acquire('long', '365 days'));
}), 't', 'a lease granted for a year, and released');
is(ttl_horizon(), $year, 'the ttl horizon is a year');
my $token = sql("SELECT lockable_acquire('keep', '4s')");
like($token, qr/^\d+$/, 'a lease for 4s is held');

#
# A clean restart: the horizon comes back to what the restored lease
# needs, its ttl.
#
my $offset = -s $node->logfile;
$node->restart;
like(slurp_file($node->logfile, $offset),
	qr/lockable: restored 1 leases from the last shutdown/,
	'the 4s lease is restored');
is(ttl_horizon(), 4_000_000, 'after the clean restart the ttl horizon is 4s');
is(sql("SELECT lockable_heartbeat('keep', $token)"),
	't', 'the restored lease is renewed with its own ttl');

#
# A crash now blocks grants for 4 s, not a year.
#
$offset = -s $node->logfile;
$node->stop('immediate');
$node->start;
like(slurp_file($node->logfile, $offset),
	qr/lockable: the server did not shut down cleanly; no lease will be granted for 4000 ms/,
	'after a crash the grace period is 4s');
like(sql("SELECT lockable_acquire('keep', '3s', wait => '15s')"),
	qr/^\d+$/, 'leases are granted again once it is over');

#
# A clean restart with no lease held: the horizon comes back to zero, and a
# crash before anything is granted needs no grace period at all.
#
sql("SELECT lockable_force_release('keep')");
$node->restart;
is(ttl_horizon(), 0, 'with no lease restored the ttl horizon is zero');
$offset = -s $node->logfile;
$node->stop('immediate');
$node->start;
unlike(slurp_file($node->logfile, $offset), qr/no lease will be granted/,
	'a crash before anything was granted needs no grace period');
like(sql("SELECT lockable_acquire('keep', '3s', wait => '0')"),
	qr/^\d+$/, 'leases are granted at once');

$node->stop;
done_testing();
