# Copyright (c) 2026, the lockable authors
#
# Disk errors do not stop the lease engine.  pg_lockable/ is made
# unwritable (chmod 0555: reads work, creating, renaming and removing files
# fail), as a full or read-only file system would:
#  - the worker keeps sweeping and renewing keepalive leases, survives its
#    failed writes of the horizon file (logged, rate-limited, retried) and
#    writes it once the directory is writable again;
#  - release, heartbeat and force_release need no I/O and keep working even
#    when the reserved tokens have run out;
#  - only what truly needs a durable record fails, with SQLSTATE class 53
#    or 58: a grant once the reserved tokens have run out, a renewal with a
#    ttl longer than any before;
#  - a state file that cannot be removed after it was read is reported,
#    and is not restored after a later crash.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use FindBin;
use lib $FindBin::RealBin;
use LockableTest;

my $node = lockable_node(
	'disk_errors', q{
lockable.worker_naptime = 100ms
lockable.default_ttl = '3s'
lockable.max_ttl = '30s'
});
my $dir = lockable_path($node);
my $state_file = lockable_path($node, 'leases.state');

# Whatever happens, leave the directory removable for the cleanup.
END { chmod(0755, $dir) if defined $dir && -d $dir; }

sub sql
{
	my ($query) = @_;
	return $node->safe_psql('postgres', $query);
}

# The output of $query, or the error it raised.
sub sql_or_error
{
	my ($query) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $query);
	return $ret == 0 ? $out : "ERROR: $err";
}

# "ok", or the SQLSTATE and message of the error $query raised
sql(q{
CREATE FUNCTION try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
});

# Grant and release $n leases, to use up reserved tokens.
sub burn
{
	my ($n) = @_;
	return sql(qq{
SELECT try(\$q\$SELECT count(*) FROM generate_series(1, $n) AS i
           WHERE lockable_release('burn', lockable_acquire('burn', '1s'))\$q\$)});
}

#
# Leases held when the disk goes bad.
#
my ($keeper, undef, $tk) = keepalive_session($node, 'kept', '2s');
like($tk, qr/^\d+$/, 'a keepalive lease with a 2s ttl');
my $tp = sql("SELECT lockable_acquire('plain', '10s')");
like($tp, qr/^\d+$/, 'a plain lease for 10s');
like(sql("SELECT lockable_acquire('forced', '10s')"), qr/^\d+$/,
	'another one, to be forced');
like(sql("SELECT lockable_acquire('brief', '1s')"), qr/^\d+$/,
	'a brief one, for the sweep to expire');
my $expired_before = sql('SELECT expired FROM lockable_stats');
my $worker_pid = sql('SELECT worker_pid FROM lockable_stats');
like($worker_pid, qr/^\d+$/, 'the worker runs');

my $offset = -s $node->logfile;
chmod(0555, $dir) or die "chmod $dir: $!";

# Half a block of tokens (4,194,304) makes the worker reserve the next one,
# which fails.
is(burn(2_200_000), 'ok', 'two million grants still have reserved tokens');
sleep(3);

is($keeper->query_safe("SELECT lockable_is_held('kept', $tk)"),
	't', 'unwritable: the worker still renews the keepalive lease');
is(sql('SELECT worker_pid FROM lockable_stats'),
	$worker_pid, 'unwritable: the worker did not exit');
cmp_ok(sql('SELECT expired FROM lockable_stats'), '>', $expired_before,
	'unwritable: the worker still sweeps expired leases');

# Use up what is left of the reservation: a grant that cannot be made
# durable fails, with a disk or I/O error.
like(burn(1_000_000), qr/^5[38]\d\d\d lockable: could not reserve fencing tokens durably/,
	'tokens used up: a grant fails with SQLSTATE class 53 or 58');
like(sql("SELECT try(\$q\$SELECT lockable_acquire('new', '1s')\$q\$)"),
	qr/^5[38]\d\d\d /, 'tokens used up: so does the next acquire');

# Everything that gives a lease up or renews it within the ttl horizon
# needs no I/O.
is(sql_or_error("SELECT lockable_heartbeat('plain', $tp)"),
	't', 'tokens used up: a heartbeat works');
is(sql_or_error("SELECT lockable_heartbeat('plain', $tp, '5s')"),
	't', 'tokens used up: a heartbeat with a shorter ttl works');
like(sql("SELECT try(\$q\$SELECT lockable_heartbeat('plain', $tp, '20s')\$q\$)"),
	qr/^5[38]\d\d\d lockable: could not record the ttl horizon durably/,
	'a heartbeat with a ttl longer than any before fails with class 53 or 58');
is(sql("SELECT lockable_is_held('plain', $tp)"),
	't', 'the lease is still held after that failed heartbeat');
is(sql_or_error("SELECT lockable_force_release('forced')"),
	't', 'tokens used up: force_release works');
is(sql_or_error("SELECT lockable_release('plain', $tp)"),
	't', 'tokens used up: a release works');

my $log = slurp_file($node->logfile, $offset);
unlike($log, qr/background worker "lockable worker" \(PID \d+\) exited/,
	'unwritable: the worker never exited');
my @worker_lines = grep { /\[$worker_pid\]/ && /pg_lockable/ } split /\n/, $log;
ok(@worker_lines >= 1 && @worker_lines <= 2,
	'unwritable: the worker logged its failures once, not at every retry')
  or diag(join("\n", @worker_lines));

# The directory is writable again: the worker reserves tokens, and grants
# work again without a restart.
chmod(0755, $dir) or die "chmod $dir: $!";
ok($node->wait_for_log(qr/lockable: the horizon file is written again/, $offset),
	'writable again: the worker writes the horizon file and says so');
my $ta = sql("SELECT lockable_acquire('after', '1s')");
like($ta, qr/^\d+$/, 'writable again: grants work again');
sql("SELECT lockable_release('after', $ta)");
is(sql('SELECT worker_pid FROM lockable_stats'), $worker_pid,
	'writable again: still the same worker');
$keeper->quit;

#
# A state file that cannot be removed once read must not be restored after
# a later crash.  The start with pg_lockable/ unwritable cannot reserve
# tokens either: nothing is granted, but the restored lease can be released.
#
my $ts = sql("SELECT lockable_acquire('stale', '20s')");
$node->stop;
ok(-e $state_file, 'the clean stop saved the state file');
chmod(0555, $dir) or die "chmod $dir: $!";
$offset = -s $node->logfile;
$node->start;
$log = slurp_file($node->logfile, $offset);
like($log, qr/lockable: restored 1 leases from the last shutdown/,
	'unwritable at start: the lease is restored');
like($log, qr/WARNING:  lockable: could not remove file "pg_lockable\/leases\.state"/,
	'unwritable at start: the state file that cannot be removed is reported');
ok(-e $state_file, 'unwritable at start: the state file is still there');
like(sql("SELECT try(\$q\$SELECT lockable_acquire('new', '1s')\$q\$)"),
	qr/^5[38]\d\d\d /, 'unwritable at start: an acquire fails with class 53 or 58');
is(sql_or_error("SELECT lockable_release('stale', $ts)"),
	't', 'unwritable at start: the restored lease is released');
$worker_pid = sql('SELECT worker_pid FROM lockable_stats');
sleep(2);
is(sql('SELECT worker_pid FROM lockable_stats'), $worker_pid,
	'unwritable at start: the worker keeps running');
chmod(0755, $dir) or die "chmod $dir: $!";

$offset = -s $node->logfile;
$node->stop('immediate');
$node->start;
$log = slurp_file($node->logfile, $offset);
unlike($log, qr/lockable: restored/, 'crash: the stale state file is not restored');
like($log, qr/lockable: the server did not shut down cleanly/,
	'crash: it counts as a crash');
is(sql("SELECT count(*) FROM lockable_leases WHERE name = 'stale'"),
	'0', 'crash: the released lease does not come back');
is(sql('SELECT grace_until IS NOT NULL FROM lockable_stats'),
	't', 'crash: a grace period runs');
ok(!-e $state_file, 'crash: the stale state file is gone');

$node->stop;
done_testing();
