# Copyright (c) 2026, the lockable authors
#
# The background worker: a changed lockable.worker_naptime is taken on
# SIGHUP; killed with SIGTERM the worker is restarted by the postmaster,
# the leases in shared memory survive, and keepalive renewal, expiry
# sweeping and the ending of keepalive leases with their session go on.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use LockableTest;

# Start with a naptime so long that the worker does not sweep during this
# test unless something wakes it.
my $node = lockable_node('restart', q{
lockable.worker_naptime = 1h
});

sub sql
{
	my ($query) = @_;
	return $node->safe_psql('postgres', $query);
}

#
# SIGHUP: the worker takes a new lockable.worker_naptime.
#
like(sql("SELECT lockable_acquire('probe-1', '100ms')"),
	qr/^\d+$/, 'probe-1 acquired for 100ms');
ok( $node->poll_query_until(
		'postgres',
		"SELECT NOT EXISTS (SELECT FROM lockable_leases WHERE name = 'probe-1')"
	),
	'probe-1 has expired');
is(sql("SELECT leases || '/' || expired FROM lockable_stats"),
	'1/0', 'with a naptime of 1h the worker has not swept it');

sql("ALTER SYSTEM SET lockable.worker_naptime = '100ms'");
is(sql("SELECT pg_reload_conf()"), 't', 'naptime set to 100ms, and reloaded');

# The reload wakes the worker, which reads the new setting and sweeps.
ok( $node->poll_query_until(
		'postgres', "SELECT leases = 0 AND expired = 1 FROM lockable_stats"),
	'the worker swept probe-1 after the reload');

# A lease that expires now is swept without anything waking the worker:
# only with the new naptime.
like(sql("SELECT lockable_acquire('probe-2', '100ms')"),
	qr/^\d+$/, 'probe-2 acquired for 100ms');
ok( $node->poll_query_until(
		'postgres', "SELECT leases = 0 AND expired = 2 FROM lockable_stats"),
	'the worker sweeps probe-2 on its own: the new naptime is in effect');

#
# Kill the worker with SIGTERM while a plain and a keepalive lease are held.
#
my ($holder, undef, $tk) = keepalive_session($node, 'keep', '4s');
like($tk, qr/^\d+$/, 'a session holds a keepalive lease with ttl 4s');
my $tp = sql("SELECT lockable_acquire('plain', '1min')");
like($tp, qr/^\d+$/, 'a plain lease is held too');

my $old_pid = stat_value($node, 'worker_pid');
like($old_pid, qr/^\d+$/, 'the worker is running');

# The worker has no PGPROC in the proc array, so pg_terminate_backend()
# cannot signal it; the operating system can.
is(kill('TERM', $old_pid), 1, 'SIGTERM sent to the worker');
ok( $node->poll_query_until(
		'postgres',
		"SELECT worker_pid IS NOT NULL AND worker_pid <> $old_pid FROM lockable_stats"
	),
	'the postmaster restarted the worker with a new pid');
ok(!kill(0, $old_pid), 'the old worker process is gone');

is(sql("SELECT name || '=' || token FROM lockable_leases ORDER BY name"),
	"keep=$tk\nplain=$tp",
	'both leases survived the restart, with their tokens');

# Keepalive renewal goes on: wait for a renewal made by the new worker.
my $renewals = sql("SELECT renewals FROM lockable_leases WHERE name = 'keep'");
my $stats_renewals = stat_value($node, 'renewals');
ok( $node->poll_query_until(
		'postgres',
		"SELECT renewals > $renewals FROM lockable_leases WHERE name = 'keep'"),
	'the new worker renews the keepalive lease');
cmp_ok(stat_value($node, 'renewals'), '>', $stats_renewals,
	'lockable_stats.renewals goes on counting');
is(sql("SELECT token FROM lockable_leases WHERE name = 'keep'"),
	$tk, 'the keepalive lease keeps its token');

# Expiry sweeping goes on.
my $expired = stat_value($node, 'expired');
like(sql("SELECT lockable_acquire('short', '100ms')"),
	qr/^\d+$/, 'a lease with ttl 100ms acquired');
ok( $node->poll_query_until(
		'postgres',
		"SELECT leases = 2 AND expired = $expired + 1 FROM lockable_stats"),
	'the new worker sweeps it when it expires');

# The end of a keepalive session still wakes the (new) worker.
my $ended = stat_value($node, 'session_ended');
$holder->quit;
ok( $node->poll_query_until(
		'postgres',
		"SELECT leases = 1 AND session_ended = $ended + 1 FROM lockable_stats"),
	'the keepalive lease ends with its session');
is(sql("SELECT name FROM lockable_leases"),
	'plain', 'the plain lease is still there');
is(sql("SELECT lockable_release('plain', $tp)"),
	't', 'and is released with its token');

$node->stop;
done_testing();
