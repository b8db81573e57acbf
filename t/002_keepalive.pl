# Copyright (c) 2026, the lockable authors
#
# Keepalive leases: the worker renews them while the acquiring session is
# connected, ends them promptly when that session ends (normally or by
# pg_terminate_backend), hands them to waiters then, and stops renewing
# them after lockable.max_hold.  Plain leases outlive their session.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use LockableTest;
use Time::HiRes qw(time);

my $node = lockable_node('keepalive', q{
lockable.worker_naptime = 100ms
});

sub sql
{
	my ($query) = @_;
	return $node->safe_psql('postgres', $query);
}

# Run $query until it returns something other than 'wait', and return
# that; give up (returning 'wait') after the usual TAP timeout.
sub poll_result
{
	my ($query) = @_;
	my $result;
	wait_until(sub { ($result = sql($query)) ne 'wait' });
	return $result;
}

# Wait until the lease is gone from the table: lockable_stats.leases
# counts entries, expired or not, so this shows it was ended, not merely
# that its deadline passed.
sub wait_lease_gone
{
	my ($name, $leases_left) = @_;
	return $node->poll_query_until('postgres',
		"SELECT NOT EXISTS (SELECT FROM lockable_leases WHERE name = '$name') "
		  . "AND leases = $leases_left FROM lockable_stats");
}

# A background session holding a keepalive lease; returns (session, pid,
# token).
sub keepalive_holder
{
	my ($name, $ttl) = @_;
	my ($session, $pid, $token) = keepalive_session($node, $name, $ttl);
	like($token, qr/^\d+$/, "keepalive lease $name acquired for $ttl");
	return ($session, $pid, $token);
}

#
# A keepalive lease held by a connected session outlives its ttl.
#
my ($h1, $h1_pid, $t1) = keepalive_holder('ka', '1s');
is( sql(
		"SELECT keepalive AND pid = $h1_pid AND token = $t1 FROM lockable_leases WHERE name = 'ka'"
	),
	't',
	'lockable_leases shows the keepalive lease and its holder');

# Wait until twice the ttl has passed since it was acquired, or it is gone.
my $state = poll_result(
	"SELECT CASE WHEN NOT EXISTS (SELECT FROM lockable_leases WHERE name = 'ka') THEN 'gone' "
	  . "WHEN clock_timestamp() > (SELECT acquired_at + 2 * ttl FROM lockable_leases WHERE name = 'ka') THEN 'alive' "
	  . "ELSE 'wait' END");
is($state, 'alive', 'the keepalive lease is alive after twice its ttl');
is( sql(
		"SELECT token = $t1 AND renewals > 0 AND expires_at > clock_timestamp() FROM lockable_leases WHERE name = 'ka'"
	),
	't',
	'it has been renewed, with the same token');
cmp_ok(stat_value($node, 'renewals'), '>', 0, 'lockable_stats.renewals counts renewals');

# Others cannot take it meanwhile.
is(sql("SELECT lockable_acquire('ka', '1s') IS NULL"),
	't', 'another session cannot acquire it');
is(sql("SELECT lockable_acquire('ka', '1s', '1500ms') IS NULL"),
	't', 'not even by waiting longer than its ttl');

# The holder disconnects normally: the lease ends with the session.
my $ended_before = stat_value($node, 'session_ended');
my $expired_before = stat_value($node, 'expired');
$h1->quit;
ok(wait_lease_gone('ka', 0), 'the lease is gone after its session quit');
is(stat_value($node, 'session_ended') - $ended_before,
	1, 'lockable_stats.session_ended counts it');
is(stat_value($node, 'expired') - $expired_before,
	0, 'it was ended with its session, not by expiry');
like(sql("SELECT lockable_acquire('ka', '1min')"),
	qr/^\d+$/, 'another session can acquire it now');
is(sql("SELECT lockable_force_release('ka')"), 't', 'cleanup');

#
# Same when the holder is terminated with pg_terminate_backend.
#
my ($h2, $h2_pid, $t2) = keepalive_holder('kt', '1s');
$ended_before = stat_value($node, 'session_ended');
$expired_before = stat_value($node, 'expired');
is(sql("SELECT pg_terminate_backend($h2_pid)"), 't', 'holder terminated');
ok(wait_lease_gone('kt', 0), 'the lease is gone after its holder was terminated');
is(stat_value($node, 'session_ended') - $ended_before,
	1, 'lockable_stats.session_ended counts it');
is(stat_value($node, 'expired') - $expired_before,
	0, 'it was ended with its session, not by expiry');
$h2->quit;

#
# A waiter queued behind a keepalive lease gets it when the holder's
# session ends.
#
my ($h3, $h3_pid, $t3) = keepalive_holder('kw', '1s');
my ($waiter, $waiter_pid) =
  start_query($node, "SELECT lockable_acquire('kw', '1min', '2min');");
ok(wait_for_waiters($node, 'kw', 1),
	'a waiter is queued behind the keepalive lease');

# The waiter stays queued while the holder lives, past the holder's ttl.
$state = poll_result(
	"SELECT CASE WHEN NOT EXISTS (SELECT FROM lockable_leases WHERE name = 'kw' AND pid = $h3_pid) THEN 'lost' "
	  . "WHEN clock_timestamp() > (SELECT acquired_at + 2 * ttl FROM lockable_leases WHERE name = 'kw') THEN 'held' "
	  . "ELSE 'wait' END");
is($state, 'held', 'the holder keeps the lease past its ttl while a waiter waits');

$ended_before = stat_value($node, 'session_ended');
$h3->quit;
my $wt = $waiter->query_safe('');
like($wt, qr/^\d+$/, 'the waiter got the lease when the holder quit');
cmp_ok($wt, '>', $t3, 'with a greater token');
is( sql(
		"SELECT pid = $waiter_pid AND token = $wt AND NOT keepalive AND waiters = 0 FROM lockable_leases WHERE name = 'kw'"
	),
	't',
	'lockable_leases shows the waiter as the holder');
is(stat_value($node, 'session_ended') - $ended_before,
	1, 'lockable_stats.session_ended counts the holder\'s lease');
is($waiter->query_safe("SELECT lockable_release('kw', $wt)"),
	't', 'the waiter releases it');
$waiter->quit;

#
# A plain lease survives the end of its session and can be released from
# another session with its token.  The same session also held a keepalive
# lease, whose end shows that the session's end has been dealt with.
#
my $leases_before = stat_value($node, 'leases');
my ($tp, $tk) = split /\n/,
  sql("SELECT lockable_acquire('plain', '1min'); "
	  . "SELECT lockable_acquire('plain-ka', '1min', '0', true)");
like($tp,   qr/^\d+$/, 'a session acquired a plain lease');
like($tk, qr/^\d+$/, 'and a keepalive lease');
ok(wait_lease_gone('plain-ka', $leases_before + 1),
	'after the session ended, its keepalive lease is gone');
is(sql("SELECT token FROM lockable_leases WHERE name = 'plain'"),
	$tp, 'its plain lease is still there, with its token');
is(sql("SELECT lockable_release('plain', $tp)"),
	't', 'another session releases it with the token');
is(sql("SELECT count(*) FROM lockable_leases WHERE name = 'plain'"),
	'0', 'the plain lease is gone');

#
# lockable.max_hold = 2: the worker renews a keepalive lease for 2 s, then
# stops with a WARNING, and the lease expires although its session lives.
#
$node->append_conf('postgresql.conf', 'lockable.max_hold = 2');
$node->restart;

my $log_offset = -s $node->logfile;
my $start = time();
my ($h4, $h4_pid, $t4) = keepalive_holder('mh', '1s');
$state = poll_result(
	"SELECT CASE WHEN EXISTS (SELECT FROM lockable_leases WHERE name = 'mh') THEN 'wait' "
	  . "ELSE 'gone' END");
my $lifetime = time() - $start;
is($state, 'gone', 'the keepalive lease ended although its session lives');
cmp_ok($lifetime, '>=', 2, 'it lived at least lockable.max_hold');
is(sql("SELECT count(*) FROM pg_stat_activity WHERE pid = $h4_pid"),
	'1', 'the holding session is still connected');
is(stat_value($node, 'expired'), '1', 'it expired');
is(stat_value($node, 'session_ended'), '0', 'it was not ended as a session end');
cmp_ok(stat_value($node, 'renewals'), '>', 0, 'it had been renewed before');
ok( $node->log_contains(
		qr/WARNING:\s+lockable: keepalive of lease "mh" stopped after lockable\.max_hold/,
		$log_offset),
	'the server log has the max_hold WARNING');
is($h4->query_safe("SELECT lockable_heartbeat('mh', $t4)"),
	'f', 'the holder can no longer renew it');
like(sql("SELECT lockable_acquire('mh', '1min')"),
	qr/^\d+$/, 'another session can acquire it');
$h4->quit;

$node->stop;
done_testing();
