# Copyright (c) 2026, the lockable authors
#
# What differs between the PostgreSQL versions lockable supports, as users
# see it (src/compat.h, README "Supported PostgreSQL versions"):
# - 17 and later name lockable's waits (pg_stat_activity.wait_event is
#   LockableAcquire for a waiting acquire where 15 shows Extension, and the
#   worker's LockableWorkerMain is listed in pg_wait_events);
# - 17 and later accept infinite intervals, which lockable refuses as ttl
#   and wait with 22023;
# - 18 and later list lockable in pg_get_loaded_modules() with the version
#   in lockable.control.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use LockableTest;

my $node = lockable_node('versions', "lockable.worker_naptime = 10s\n");
my $version = $node->safe_psql('postgres', 'SHOW server_version_num');
note "server_version_num $version";

my $acquire_event = $version >= 170000 ? 'LockableAcquire' : 'Extension';

# The worker has no database connection, so pg_stat_activity does not show
# it; on 17 and later its wait events are registered (pg_wait_events) once
# it has waited.
SKIP:
{
	skip 'custom wait events came with PostgreSQL 17', 1 if $version < 170000;
	ok( $node->poll_query_until(
			'postgres', q{
			SELECT count(*) = 1 FROM pg_wait_events
			 WHERE type = 'Extension' AND name = 'LockableWorkerMain'}),
		'the worker waits on wait event LockableWorkerMain');
}

# A waiting acquire
my $holder = $node->safe_psql('postgres',
	q{SELECT lockable_acquire('v', ttl => '1 min')});
my ($waiter) = start_query($node, q{
SET application_name = 'waiter';
SELECT lockable_acquire('v', wait => '1 min');
});
ok( $node->poll_query_until(
		'postgres', qq{
		SELECT wait_event_type = 'Extension' AND wait_event = '$acquire_event'
		  FROM pg_stat_activity WHERE application_name = 'waiter'}),
	"a waiting lockable_acquire waits on wait event $acquire_event");
is( $node->safe_psql('postgres', qq{SELECT lockable_release('v', $holder)}),
	't', 'the holder releases');
$waiter->quit;

SKIP:
{
	skip 'infinite intervals came with PostgreSQL 17', 4 if $version < 170000;
	for my $arg ('ttl', 'wait')
	{
		my ($ret, $out, $err) = $node->psql('postgres',
			"\\set VERBOSITY verbose\nSELECT lockable_acquire('inf', $arg => 'infinity')"
		);
		isnt($ret, 0, "$arg => infinity fails");
		like($err, qr/22023: $arg must be finite/,
			"$arg => infinity: 22023, $arg must be finite");
	}
}

SKIP:
{
	skip 'pg_get_loaded_modules() came with PostgreSQL 18', 1
	  if $version < 180000;
	my $control = slurp_file("$FindBin::RealBin/../lockable.control");
	my ($default_version) = $control =~ /^default_version\s*=\s*'([^']+)'/m;
	is( $node->safe_psql(
			'postgres', q{
			SELECT module_name || ' ' || version FROM pg_get_loaded_modules()
			 WHERE file_name LIKE 'lockable%'}),
		"lockable $default_version",
		"pg_get_loaded_modules() shows lockable $default_version, as lockable.control says"
	);
}

$node->stop;
done_testing();
