# Copyright (c) 2026, the lockable authors
#
# The background worker sweeps expired leases out of shared memory without
# anyone touching them, a queued waiter gets a lease once its holder's ttl
# runs out, and the sweep is what frees capacity under lockable.max_leases.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use LockableTest;

my $node = lockable_node('sweep', q{
lockable.worker_naptime = 100ms
lockable.max_leases = 5
});

# The worker is running, and is not a backend connected to a database.
my $worker_pid = stat_value($node, 'worker_pid');
like($worker_pid, qr/^\d+$/, 'lockable_stats shows the worker pid');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE pid = $worker_pid"),
	'0',
	'the worker has no database connection');

#
# Leases that expire are removed by the worker, with nobody touching them.
#
my $tokens = $node->safe_psql('postgres',
	"SELECT lockable_acquire('sweep-a', '300ms'), lockable_acquire('sweep-b', '300ms')"
);
like($tokens, qr/^\d+\|\d+$/, 'two short leases acquired');
is(stat_value($node, 'leases'), '2', 'lockable_stats counts the two leases');

# lockable_stats.leases counts table entries, expired or not: only the
# worker's sweep can bring it back to 0 here, since nothing else touches
# these names.
ok( $node->poll_query_until(
		'postgres',
		"SELECT leases = 0 AND expired = 2 FROM lockable_stats"),
	'the worker removed both expired leases');
is( $node->safe_psql('postgres', 'SELECT count(*) FROM lockable_leases'),
	'0', 'lockable_leases is empty after the sweep');

# The names are free again.
like(
	$node->safe_psql(
		'postgres', "SELECT lockable_acquire('sweep-a', '1min')"),
	qr/^\d+$/,
	'an expired lease name can be acquired again');
is( $node->safe_psql(
		'postgres',
		"SELECT lockable_release('sweep-a', token) FROM lockable_leases WHERE name = 'sweep-a'"
	),
	't',
	'and released');

#
# A waiter is woken by the expiry of the lease it waits for, which its
# holder does not release.  The holder takes it for 10 minutes, so that the
# waiter surely queues first, then shortens it to 200ms with a heartbeat.
# The waiter sleeps until the deadline it last saw (10 minutes away; its own
# wait is unlimited): only the worker's sweep, handing it the lease, wakes
# it before the TAP timeout.
#
my $holder_token = $node->safe_psql('postgres',
	"SELECT lockable_acquire('sweep-w', '10min')");
like($holder_token, qr/^\d+$/, 'holder acquired sweep-w');
my $waited_before = stat_value($node, 'waited');

my ($waiter, $waiter_pid) = start_query($node,
	"SELECT lockable_acquire('sweep-w', '1min', NULL);");
ok(wait_for_waiters($node, 'sweep-w', 1), 'the waiter is queued on sweep-w');
is( $node->safe_psql(
		'postgres',
		"SELECT lockable_heartbeat('sweep-w', $holder_token, '200ms')"),
	't',
	'the holder shortens its lease to 200ms');

# When the lease expires the waiter returns with a new token.
my $waiter_token = $waiter->query_safe('');
like($waiter_token, qr/^\d+$/, 'the waiter got sweep-w when it expired');
cmp_ok($waiter_token, '>', $holder_token,
	'the waiter\'s token is greater than the expired holder\'s');
is( $node->safe_psql(
		'postgres',
		"SELECT pid = $waiter_pid AND token = $waiter_token AND waiters = 0 FROM lockable_leases WHERE name = 'sweep-w'"
	),
	't',
	'lockable_leases shows the waiter as the holder');
is(stat_value($node, 'waited') - $waited_before, 1, 'lockable_stats.waited counts the wait');
is( $node->safe_psql(
		'postgres', "SELECT lockable_release('sweep-w', $holder_token)"),
	'f',
	'the expired holder\'s token no longer releases the lease');
is( $waiter->query_safe("SELECT lockable_release('sweep-w', $waiter_token)"),
	't', 'the waiter releases it');
$waiter->quit;

#
# lockable.max_leases = 5: a full table refuses new names with an error,
# leaves the held leases alone, and takes new leases again once the worker
# has swept the expired ones.
#
is(stat_value($node, 'leases'), '0', 'no leases left before filling the table');
my $full_before = stat_value($node, 'table_full');
my @held = split /\|/,
  $node->safe_psql('postgres',
	"SELECT lockable_acquire('cap-1', '1min'), lockable_acquire('cap-2', '1min'), "
	  . "lockable_acquire('cap-3', '1min'), lockable_acquire('cap-4', '1min'), "
	  . "lockable_acquire('cap-5', '1min')");
is(scalar(grep { /^\d+$/ } @held), 5, 'five leases fill the table');
is(stat_value($node, 'leases'), '5', 'lockable_stats.leases is 5');

my $err = sql_fails($node, "SELECT lockable_acquire('cap-6', '1min')");
like($err, qr/ERROR:\s+54000:/, 'a sixth lease fails with SQLSTATE 54000');
like($err, qr/HINT:.*lockable\.max_leases/,
	'the hint names lockable.max_leases');
is(stat_value($node, 'table_full') - $full_before, 1, 'lockable_stats.table_full counts the refusal');

# A name that is already held is busy, not an error, even when full.
is( $node->safe_psql(
		'postgres', "SELECT lockable_acquire('cap-1', '1min') IS NULL"),
	't',
	'acquiring a held name in a full table returns NULL');

my $held_now = $node->safe_psql('postgres',
	"SELECT string_agg(token::text, '|' ORDER BY name) FROM lockable_leases WHERE name LIKE 'cap-%'"
);
is($held_now, join('|', @held),
	'the five held leases are undisturbed, with their tokens');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM lockable_leases WHERE name = 'cap-6'"),
	'0',
	'the refused lease does not exist');

# Shorten the five leases to 100ms with a heartbeat, and let them expire.
my $expired_before = stat_value($node, 'expired');
is( $node->safe_psql(
		'postgres',
		"SELECT bool_and(lockable_heartbeat(name, token, '100ms')) FROM lockable_leases WHERE name LIKE 'cap-%'"
	),
	't',
	'the five leases are shortened to 100ms');
ok( $node->poll_query_until(
		'postgres', "SELECT leases = 0 FROM lockable_stats"),
	'the worker swept the five expired leases');
is(stat_value($node, 'expired') - $expired_before, 5, 'lockable_stats.expired counts them');

my $again = $node->safe_psql('postgres',
	"SELECT count(lockable_acquire(n, '1min')) FROM unnest(ARRAY['cap-6', 'cap-7', 'cap-8', 'cap-9', 'cap-10']) AS n"
);
is($again, '5', 'after the sweep, five new leases can be acquired');
$err = sql_fails($node, "SELECT lockable_acquire('cap-11', '1min')");
like($err, qr/ERROR:\s+54000:/, 'and the limit still applies');

$node->stop;
done_testing();
