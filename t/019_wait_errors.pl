# Copyright (c) 2026, the lockable authors
#
# Errors and exits inside waits leave nothing behind.
#
# (a) A backend terminated with pg_terminate_backend (FATAL, which runs no
#     PG_FINALLY) while it waits in lockable_acquire_any is no longer
#     counted among the any-waiters.  That count is internal (while it is
#     non-zero every lease deletion broadcasts the any-waiters' condition
#     variable), so it is read from the postmaster with gdb when gdb can
#     attach, and skipped otherwise; what users see (other pool waiters are
#     still woken) is checked everywhere.
# (b) An error that interrupts the wait for the end of a crash grace period
#     (here statement_timeout), caught in PL/pgSQL, leaves no lock_timeout
#     timer armed: a later, unrelated statement is not cancelled "due to
#     lock timeout".  lock_timeout itself still ends such a wait.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use LockableTest;

my $node = lockable_node('wait_errors', q{
lockable.worker_naptime = 100ms
restart_after_crash = on
});

sub sql
{
	my ($query) = @_;
	return $node->safe_psql('postgres', $query);
}

# lockable_shared->any_waiters, read from the postmaster with gdb; undef if
# gdb is missing or cannot attach or read it.
sub any_waiters
{
	my $pid = $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'");
	# the postmaster is the checkpointer's parent
	my $status = slurp_file("/proc/$pid/status");
	return undef unless $status =~ /^PPid:\s*(\d+)/m;
	my $postmaster = $1;
	my ($stdout, $stderr);
	my $ok = eval {
		IPC::Run::run(
			[
				'gdb', '-p', $postmaster, '-batch', '-nx',
				'-iex', 'set debuginfod enabled off',
				'-ex', 'print lockable_shared->any_waiters.value'
			],
			'<', \undef, '>', \$stdout, '2>', \$stderr,
			IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	};
	return undef unless $ok && defined $stdout;
	return $stdout =~ /^\$1 = (\d+)$/m ? $1 : undef;
}

# Wait until session $pid sleeps in an acquire (wait_event_type Extension)
sub wait_sleeping
{
	my ($pid) = @_;
	return $node->poll_query_until('postgres',
		"SELECT wait_event_type = 'Extension' FROM pg_stat_activity WHERE pid = $pid"
	);
}

#
# (a) pg_terminate_backend during lockable_acquire_any.
#
my $held = sql("SELECT lockable_acquire('pool-a', '1 min')");
like($held, qr/^\d+$/, 'pool-a is held');

my ($victim, $victim_pid) = start_query($node,
	"SELECT * FROM lockable_acquire_any(ARRAY['pool-a'], wait => NULL);",
	on_error_stop => 0);
ok(wait_sleeping($victim_pid), 'a session waits in lockable_acquire_any');

my $waiting = any_waiters();
SKIP:
{
	skip 'gdb cannot read lockable_shared->any_waiters here', 1
	  unless defined $waiting;
	is($waiting, 1, 'gdb: the waiter counts itself as an any-waiter');
}

is(sql("SELECT pg_terminate_backend($victim_pid)"),
	't', 'the waiter is terminated');
ok( $node->poll_query_until(
		'postgres',
		"SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $victim_pid)"),
	'the terminated waiter has exited');
eval { $victim->quit; };

SKIP:
{
	skip 'gdb cannot read lockable_shared->any_waiters here', 1
	  unless defined $waiting;
	is(any_waiters(), 0,
		'gdb: the terminated waiter no longer counts as an any-waiter');
}

# Another pool waiter is still woken when the lease ends.
my ($next, $next_pid) = start_query($node,
	"SELECT name FROM lockable_acquire_any(ARRAY['pool-a'], wait => '1 min');");
ok(wait_sleeping($next_pid), 'a second session waits for the pool');
is(sql("SELECT lockable_release('pool-a', $held)"), 't', 'pool-a released');
is($next->query_safe(''), 'pool-a', 'the second waiter got pool-a');
$next->quit;
is(sql("SELECT count(lockable_force_release(name)) FROM lockable_leases"),
	'1', 'nothing else was left behind: one lease, the second waiter\'s');

#
# (b) A crash grace period, and an error inside its wait.  The ttl horizon
# is 1 min, so the grace period outlasts everything below.
#
like(sql("SELECT lockable_acquire('job', '1 min')"),
	qr/^\d+$/, 'job acquired for 1 min');
crash_backend($node, 'a backend is killed with SIGKILL');
is(sql("SELECT grace_until > now() + '20 s' FROM lockable_stats"),
	't', 'a crash grace period runs');

# statement_timeout ends the grace wait; PL/pgSQL catches it and goes on
# sleeping for longer than lock_timeout.
my ($stdout, $stderr);
$node->psql(
	'postgres', q{
SET lock_timeout = '2s';
SET statement_timeout = '500ms';
DO $$
BEGIN
    BEGIN
        PERFORM lockable_acquire('job', wait => '10 s');
    EXCEPTION WHEN query_canceled THEN
        RAISE NOTICE 'caught: %', SQLERRM;
    END;
    PERFORM pg_sleep(4);
    RAISE NOTICE 'slept';
END $$;
},
	stdout => \$stdout,
	stderr => \$stderr);
like(
	$stderr,
	qr/NOTICE:  caught: canceling statement due to statement timeout/,
	'statement_timeout ended the wait for the grace period');
unlike($stderr, qr/lock timeout/,
	'no lock_timeout timer was left armed by the wait');
like($stderr, qr/NOTICE:  slept/,
	'the unrelated sleep after the caught error ran to its end');

# lock_timeout still ends a wait for the grace period
$node->psql(
	'postgres', q{
SET lock_timeout = '300ms';
SELECT lockable_acquire('job', wait => NULL);
},
	stdout => \$stdout,
	stderr => \$stderr);
like(
	$stderr,
	qr/ERROR:  canceling statement due to lock timeout/,
	'lock_timeout ends a wait for the grace period');

$node->stop;

done_testing();
