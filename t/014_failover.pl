# Copyright (c) 2026, the lockable authors
#
# Failover to a streaming standby.  Leases live in the primary's shared
# memory and are not replicated, so when a standby is promoted a job that
# acquired on the old primary may still be running: the promoted server
# applies the crash grace period (no lease granted until every lease the
# old primary could have granted would have expired: lockable.max_ttl, or
# the ttl horizon its copy carries if that is longer), and its tokens are
# greater than every token of the old primary.
#
# A clean restart of the standby (its pg_control says "shut down in
# recovery") is not a crash: it starts no grace period.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use LockableTest;

my $primary = lockable_node(
	'primary', q{
lockable.worker_naptime = 100ms
lockable.default_ttl = '2s'
lockable.max_ttl = '6s'
}, allows_streaming => 1);

# Something granted before the backup, so that the standby's copy of the
# horizon has a ttl horizon (a grace period a crash would start).
my $t0 = $primary->safe_psql('postgres', "SELECT lockable_acquire('warmup', '3s')");
like($t0, qr/^\d+$/, 'a lease granted on the primary before the backup');

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

#
# A clean restart of the standby starts no grace period.
#
my $offset = -s $standby->logfile;
$standby->restart;
my $log = slurp_file($standby->logfile, $offset);
unlike($log, qr/did not shut down cleanly/,
	'standby restart: no crash is detected');
like($log, qr/lockable: saved \d+ leases for the next start/,
	'standby restart: the clean shutdown in recovery saved the lease table');
is($standby->safe_psql('postgres', 'SELECT grace_until IS NULL FROM lockable_stats'),
	't', 'standby restart: no grace period');
$primary->wait_for_catchup($standby);

#
# The old primary crashes twice and restarts (its tokens move on past what
# the standby's copy of the horizon reserved), then a job acquires on it.
#
for my $i (1 .. 2)
{
	$primary->stop('immediate');
	$primary->start;
}
my $old_max = $primary->safe_psql('postgres', q{
SELECT max(lockable_acquire('old-' || i, '2s', wait => '10s'))
FROM generate_series(1, 20) AS i});
my $job = $primary->safe_psql('postgres', "SELECT lockable_acquire('job', '5s')");
like($job, qr/^\d+$/, 'the job acquires its lease on the primary for 5s');
my $job_deadline = $primary->safe_psql('postgres',
	"SELECT extract(epoch FROM expires_at) FROM lockable_leases WHERE name = 'job'");
$old_max = $job if $job > $old_max;
$primary->wait_for_catchup($standby);

# The primary fails; the standby is promoted while the job still runs.
$primary->stop('immediate');
$offset = -s $standby->logfile;
$standby->promote;

is($standby->safe_psql('postgres', "SELECT lockable_acquire('job', '2s', wait => '0') IS NULL"),
	't', 'promoted: the job\'s lease is not granted at once');
is($standby->safe_psql('postgres', "SELECT lockable_acquire('unrelated', '2s', wait => '0') IS NULL"),
	't', 'promoted: no other lease is granted during the grace period');
my $grace_until = $standby->safe_psql('postgres',
	'SELECT coalesce(extract(epoch FROM grace_until), 0) FROM lockable_stats');
cmp_ok($grace_until, '>=', $job_deadline,
	'promoted: the grace period lasts at least until the job\'s deadline');
like(
	slurp_file($standby->logfile, $offset),
	qr/lockable: recovery ended; no lease will be granted for 6000 ms/,
	'promoted: the log announces a grace period of lockable.max_ttl');

my ($token, $at) = split /\|/, $standby->safe_psql('postgres',
	"SELECT lockable_acquire('job', '2s', wait => '20s'), extract(epoch FROM clock_timestamp())");
like($token, qr/^\d+$/, 'promoted: after the grace period the job\'s lease is granted');
cmp_ok($at, '>=', $job_deadline,
	'promoted: not before the deadline of the job on the old primary');
cmp_ok($token, '>', $old_max,
	'promoted: its token is greater than every token of the old primary');

$standby->stop;

#
# A switchover: a primary stopped cleanly and started again as a standby
# (of the promoted server) must not bring back its own leases.  Their
# holders must see them lost there, since the promoted server may grant
# the names.
#
my $old = lockable_node('switchover',
	"lockable.worker_naptime = 100ms\nwal_level = replica\n");
my $sw = $old->safe_psql('postgres', "SELECT lockable_acquire('sw', '1min')");
$old->stop;
$old->set_standby_mode;
$old->start;
is($old->safe_psql('postgres', 'SELECT pg_is_in_recovery()'),
	't', 'switchover: the old primary runs as a standby');
is($old->safe_psql('postgres', "SELECT lockable_is_held('sw', $sw)"),
	'f', "switchover: the old primary's lease was not restored on the standby");
is($old->safe_psql('postgres', "SELECT lockable_heartbeat('sw', $sw)"),
	'f', 'switchover: its holder\'s heartbeat there fails');
like(slurp_file($old->logfile), qr/did not restore 1 leases: the server starts in recovery/,
	'switchover: the log says why');
$old->stop;

# The job's name is refused at once on NODE, and its log since OFFSET
# announces the failover grace of lockable.max_ttl.
sub grace_applied
{
	my ($node, $offset, $refused, $announced) = @_;
	is($node->safe_psql('postgres', "SELECT lockable_acquire('job', '2s', wait => '0') IS NULL"),
		't', $refused);
	like(
		slurp_file($node->logfile, $offset),
		qr/lockable: recovery ended; no lease will be granted for 6000 ms/,
		$announced);
}

#
# Two more copies of the old primary, from the same base backup, that end
# their recovery in other ways.  Neither may grant a name the old primary
# may still have given out before the failover grace period has passed.
#
# A standby stopped cleanly and started without standby.signal (a manual
# promotion): its pg_control still says "shut down in recovery", and it
# ends its recovery as soon as it starts.
#
my $manual = PostgreSQL::Test::Cluster->new('manual');
$manual->init_from_backup($primary, 'base', has_streaming => 1);
$manual->start;
ok(-e $manual->data_dir . '/pg_lockable/recovery_pending',
	'standby: the start in recovery is recorded in pg_lockable/');
$manual->stop;
unlink($manual->data_dir . '/standby.signal')
  or die "cannot remove standby.signal: $!";
$offset = -s $manual->logfile;
$manual->start;
is($manual->safe_psql('postgres', 'SELECT pg_is_in_recovery()'),
	'f', 'started without standby.signal: the standby is a primary');
grace_applied($manual, $offset,
	'started without standby.signal: the job\'s lease is not granted at once',
	'started without standby.signal: the failover grace period is applied');
ok(!-e $manual->data_dir . '/pg_lockable/recovery_pending',
	'started without standby.signal: the end of recovery is recorded');
$manual->stop;

#
# A standby promoted and stopped before anything looked at the end of its
# recovery (a worker that sleeps an hour, and no lease call): the next
# start must still apply the grace period.
#
my $quiet = PostgreSQL::Test::Cluster->new('quiet');
$quiet->init_from_backup($primary, 'base', has_streaming => 1);
$quiet->append_conf('postgresql.conf', "lockable.worker_naptime = '1h'\n");
$quiet->start;
$quiet->promote;
$quiet->stop;
$offset = -s $quiet->logfile;
$quiet->start;
grace_applied($quiet, $offset,
	'promoted and stopped at once: the job\'s lease is not granted on the next start',
	'promoted and stopped at once: the failover grace period is applied on the next start');
$quiet->stop;

done_testing();
