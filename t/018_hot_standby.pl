# Copyright (c) 2026, the lockable authors
#
# A hot standby has a lease table of its own, which the primary does not
# see.  Granting leases there would make it a second, independent lock
# authority: a session on the standby and one on the primary could both
# hold one name.  So during recovery lockable_acquire, lockable_acquire_any
# and lockable_run fail with 25006 (read_only_sql_transaction) and a hint,
# unless lockable.allow_on_standby says that this standby is meant to be a
# lock authority of its own.  The other functions and the views work.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', q{
shared_preload_libraries = 'lockable'
lockable.worker_naptime = 100ms
});
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION lockable');

$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
# remote mode configured (nothing listens there): refused before any request
$standby->append_conf('postgresql.conf',
	"lockable.remote_url = 'http://127.0.0.1:9'");
$standby->start;
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'),
	't', 'the standby is in recovery');

# Run $query on $node; returns (exit code, stdout, stderr), with the
# SQLSTATE in error messages.
sub try_sql
{
	my ($node, $query) = @_;
	my ($stdout, $stderr);
	my $rc = $node->psql(
		'postgres', "\\set VERBOSITY verbose\n$query",
		stdout => \$stdout,
		stderr => \$stderr);
	return ($rc, $stdout, $stderr);
}

# Every way to acquire fails at once, whatever it asks for.
my %refused = (
	'lockable_acquire' => "SELECT lockable_acquire('job')",
	'lockable_acquire with a wait' =>
	  "SELECT lockable_acquire('job', wait => NULL, keepalive => true)",
	'lockable_acquire_any' =>
	  "SELECT * FROM lockable_acquire_any(ARRAY['job', 'other'], wait => '1 min')",
	'lockable_acquire_any, empty pool' =>
	  "SELECT * FROM lockable_acquire_any(ARRAY[]::text[])",
	'lockable_run' => "SELECT lockable_run('job', 'SELECT 1')",
	'remote mode' =>
	  "SET lockable.remote = on;\nSELECT lockable_acquire('job')",);
for my $what (sort keys %refused)
{
	my ($rc, $stdout, $stderr) = try_sql($standby, $refused{$what});
	isnt($rc, 0, "standby: $what fails");
	like(
		$stderr,
		qr/ERROR:  25006: cannot acquire a lease during recovery/,
		"standby: $what fails with 25006 read_only_sql_transaction");
}
my (undef, undef, $err) = try_sql($standby, "SELECT lockable_acquire('job')");
like(
	$err,
	qr/DETAIL:  This server is a standby:.*primary/,
	'the detail says why: the leases here are not the primary\'s');
like($err, qr/HINT:  .*lockable\.allow_on_standby/,
	'the hint names lockable.allow_on_standby');

is( $standby->safe_psql(
		'postgres',
		'SELECT acquired, leases FROM lockable_stats'),
	'0|0',
	'standby: nothing was granted');

# What does not grant keeps working on the standby.
is( $standby->safe_psql(
		'postgres',
		"SELECT lockable_is_held('job', 1), lockable_heartbeat('job', 1), "
		  . "lockable_release('job', 1), lockable_force_release('job'), "
		  . "(SELECT count(*) FROM lockable_leases)"),
	'f|f|f|f|0',
	'standby: checks, heartbeat, release and the views work');

# The primary grants as always.
my $on_primary =
  $primary->safe_psql('postgres', "SELECT lockable_acquire('job', '1 min')");
like($on_primary, qr/^\d+$/, 'the primary grants job');

# The setting is the server's, not a session's.
my ($rc, undef, $set_err) =
  try_sql($standby, 'SET lockable.allow_on_standby = on');
isnt($rc, 0, 'a session cannot turn lockable.allow_on_standby on');
like($set_err, qr/ERROR:  55P02: parameter "lockable\.allow_on_standby" cannot be changed now/,
	'... it is set in the configuration and reloaded');

# lockable.allow_on_standby = on: the standby grants leases of its own, and
# they are independent of the primary's.
$standby->append_conf('postgresql.conf', 'lockable.allow_on_standby = on');
$standby->reload;
ok( $standby->poll_query_until(
		'postgres', "SELECT current_setting('lockable.allow_on_standby') = 'on'"),
	'lockable.allow_on_standby is on after a reload');
my $on_standby =
  $standby->safe_psql('postgres', "SELECT lockable_acquire('job', '1 min')");
like($on_standby, qr/^\d+$/,
	'allow_on_standby: the standby grants job, which the primary holds too');
is( $standby->safe_psql(
		'postgres',
		"SELECT name, token = $on_standby FROM lockable_leases"),
	'job|t',
	'allow_on_standby: the standby lists its own lease');
is( $standby->safe_psql(
		'postgres',
		"SELECT name FROM lockable_acquire_any(ARRAY['job', 'pool'], wait => '0')"),
	'pool',
	'allow_on_standby: lockable_acquire_any works on the standby');
is($primary->safe_psql('postgres', "SELECT lockable_heartbeat('job', $on_primary)"),
	't', 'allow_on_standby: the primary\'s lease is untouched');

$standby->stop;
$primary->stop;

done_testing();
