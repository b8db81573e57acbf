# Copyright (c) 2026, the lockable authors
#
# After a crash the leases in shared memory are lost, so nobody may be
# granted a lease that someone may still believe they hold: for a grace
# period as long as the largest ttl ever granted or renewed (the ttl
# horizon) no lease is granted at all, and tokens continue from the durably
# reserved horizon, above every token granted before the crash.  Crashes
# here are a backend killed with SIGKILL (the postmaster reinitializes
# shared memory) and an immediate shutdown.  A clean restart during the
# grace period must not end it: leases.state carries the grace period.  With
# lockable.crash_grace = off the leases are free at once, with a WARNING,
# and tokens still go up.
#
# Every ttl used here is a few seconds, and so is every grace period.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use LockableTest;

# A node whose postmaster reinitializes after a backend crash (the test
# framework turns restart_after_crash off by default).
sub crash_node
{
	my ($name, $extra) = @_;
	return lockable_node($name, qq{
lockable.worker_naptime = 100ms
lockable.default_ttl = '3s'
restart_after_crash = on
$extra
});
}

my $node = crash_node('crash', '');
my $state_file = lockable_path($node, 'leases.state');
my $horizon_file = lockable_path($node, 'horizon');

sub sql
{
	my ($query, $n) = @_;
	$n //= $node;
	return $n->safe_psql('postgres', $query);
}

# tokens_reserved of the horizon file: no token at or above it was granted
sub tokens_reserved
{
	my $data = slurp_file($horizon_file);
	is(length($data), 32, 'the horizon file is 32 bytes long');
	my ($magic, $version, $reserved) = unpack('L L Q', $data);
	return $reserved;
}

# Acquire name with a wait long enough to outlast any grace period here;
# returns the token and the server's clock_timestamp() when it returned.
sub acquire_after_grace
{
	my ($name, $ttl, $n) = @_;
	my ($token, $at) = split /\|/,
	  sql(
		"SELECT lockable_acquire('$name', '$ttl', wait => '10s'), extract(epoch FROM clock_timestamp())",
		$n);
	return ($token, $at);
}

# Everything that must hold during a grace period that protects lease
# $name, held before the crash with $token until epoch $deadline.
sub check_grace
{
	my ($what, $name, $token, $deadline) = @_;

	# Right after the restart: well within the grace period.
	is(sql("SELECT lockable_acquire('$name', '3s', wait => '0') IS NULL"),
		't', "$what: the crashed-over lease is not granted at once");
	is(sql("SELECT lockable_acquire('unrelated', '3s', wait => '0') IS NULL"),
		't', "$what: no other lease is granted during the grace period");
	is(sql("SELECT lockable_acquire('$name', '3s', wait => '100ms') IS NULL"),
		't', "$what: an acquire with a short wait gives up");
	my $grace_until =
	  sql("SELECT extract(epoch FROM grace_until) FROM lockable_stats");
	like($grace_until, qr/^\d+(\.\d+)?$/,
		"$what: lockable_stats.grace_until is set");
	cmp_ok($grace_until, '>=', $deadline,
		"$what: the grace period lasts at least until the old deadline");
	is(sql("SELECT lockable_heartbeat('$name', $token)"),
		'f', "$what: a heartbeat with the pre-crash token fails");
	is(sql("SELECT lockable_is_held('$name', $token)"),
		'f', "$what: lockable_is_held is false for the pre-crash token");
	is(sql("SELECT count(*) FROM lockable_leases"),
		'0', "$what: no lease survived the crash");
}

#
# (a) A backend killed with SIGKILL.
#
my $t1 = sql("SELECT lockable_acquire('job', '4s')");
like($t1, qr/^\d+$/, 'job acquired for 4s');
my $deadline1 =
  sql("SELECT extract(epoch FROM expires_at) FROM lockable_leases WHERE name = 'job'");
my $max1 = sql(
	"SELECT max(lockable_acquire('many-' || i, '2s')) FROM generate_series(1, 50) AS i"
);
cmp_ok($max1, '>', $t1, 'fifty more leases granted');
my $reserved1 = tokens_reserved();
cmp_ok($reserved1, '>', $max1, 'the horizon file reserves tokens above them');

my $offset = crash_backend($node);
my $log = slurp_file($node->logfile, $offset);
like(
	$log,
	qr/lockable: the server did not shut down cleanly; no lease will be granted for 4000 ms/,
	'the log announces a grace period of the largest ttl, 4s');
unlike($log, qr/lockable: saved \d+ leases/, 'no state was saved at the crash');
ok(!-e $state_file, 'there is no state file');

check_grace('SIGKILL', 'job', $t1, $deadline1);

my ($t1b, $at1) = acquire_after_grace('job', '4s');
like($t1b, qr/^\d+$/, 'SIGKILL: after the grace period job is granted');
cmp_ok($at1, '>=', $deadline1,
	'SIGKILL: not before the deadline of the lease held before the crash');
cmp_ok($t1b, '>', $max1,
	'SIGKILL: its token is greater than every token before the crash');
cmp_ok($t1b, '>=', $reserved1,
	'SIGKILL: tokens continue from the reserved horizon');
is(sql("SELECT grace_until IS NULL FROM lockable_stats"),
	't', 'SIGKILL: grace_until is NULL once the grace period is over');
like(sql("SELECT lockable_acquire('unrelated', '3s')"),
	qr/^\d+$/, 'SIGKILL: other names are granted at once again');

#
# (b) An immediate shutdown.  The lease is renewed with a longer ttl first:
# a renewal raises the ttl horizon too.
#
is(sql("SELECT lockable_heartbeat('job', $t1b, '5s')"),
	't', 'job renewed for 5s');
my $deadline2 =
  sql("SELECT extract(epoch FROM expires_at) FROM lockable_leases WHERE name = 'job'");
my $max2 = sql(
	"SELECT max(lockable_acquire('more-' || i, '2s')) FROM generate_series(1, 50) AS i"
);
my $reserved2 = tokens_reserved();

$offset = -s $node->logfile;
$node->stop('immediate');
ok(!-e $state_file, 'an immediate shutdown saves no state file');
like(
	slurp_file($node->logfile, $offset),
	qr/lockable: not saving leases: the server did not shut down cleanly/,
	'the log says why nothing was saved');
$node->start;
$log = slurp_file($node->logfile, $offset);
like(
	$log,
	qr/lockable: the server did not shut down cleanly; no lease will be granted for 5000 ms/,
	'the log announces a grace period of the renewed ttl, 5s');
unlike($log, qr/lockable: restored/, 'nothing was restored');

check_grace('immediate', 'job', $t1b, $deadline2);

my ($t2, $at2) = acquire_after_grace('job', '3s');
like($t2, qr/^\d+$/, 'immediate: after the grace period job is granted');
cmp_ok($at2, '>=', $deadline2,
	'immediate: not before the deadline of the lease held before the stop');
cmp_ok($t2, '>', $max2,
	'immediate: its token is greater than every token before the stop');
cmp_ok($t2, '>=', $reserved2,
	'immediate: tokens continue from the reserved horizon');

#
# (c) A clean restart during a grace period must not end it: the leases it
# protects may still be held until their deadlines.
#
my $t4 = sql("SELECT lockable_acquire('guarded', '5s')");
like($t4, qr/^\d+$/, 'guarded acquired for 5s');
my $deadline4 = sql(
	"SELECT extract(epoch FROM expires_at) FROM lockable_leases WHERE name = 'guarded'"
);
$node->stop('immediate');
$node->start;
is(sql("SELECT grace_until IS NOT NULL FROM lockable_stats"),
	't', 'restart in grace: a grace period after the immediate stop');
$node->restart;
{
	# The clean shutdown saves the running grace period with the leases
	# (none), and the next start carries it on.
	is(sql("SELECT lockable_acquire('guarded', '3s', wait => '0') IS NULL"),
		't',
		'restart in grace: the crashed-over lease is still not granted');
	my $grace_until = sql(
		"SELECT coalesce(extract(epoch FROM grace_until), 0) FROM lockable_stats"
	);
	cmp_ok($grace_until, '>=', $deadline4,
		'restart in grace: the grace period still lasts until the old deadline');
}
$node->stop;

#
# (d) lockable.crash_grace = off: free at once, tokens still go up.
#
my $reckless = crash_node('no_grace', 'lockable.crash_grace = off');
my $t3 = sql("SELECT lockable_acquire('job', '4s')", $reckless);
like($t3, qr/^\d+$/, 'crash_grace off: job acquired for 4s');

$offset = crash_backend($reckless);
like(
	slurp_file($reckless->logfile, $offset),
	qr/WARNING:  lockable: the server did not shut down cleanly, and lockable\.crash_grace is off/,
	'crash_grace off: the log warns that leases may be granted again at once');
is(sql("SELECT grace_until IS NULL FROM lockable_stats", $reckless),
	't', 'crash_grace off: there is no grace period');
my $t3b = sql("SELECT lockable_acquire('job', '4s', wait => '0')", $reckless);
like($t3b, qr/^\d+$/,
	'crash_grace off: job is granted again at once, before its old deadline');
cmp_ok($t3b, '>', $t3,
	'crash_grace off: with a token greater than the one before the crash');
$reckless->stop;

done_testing();
