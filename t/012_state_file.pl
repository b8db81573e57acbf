# Copyright (c) 2026, the lockable authors
#
# Fencing across two sessions: a holder that paused past its ttl, while
# someone else took the lease and wrote, has its next guarded write
# rejected by a trigger calling lockable_check.
#
# Damaged files in pg_lockable never stop the server: a corrupt or
# truncated leases.state is logged and ignored and counts as a crash
# (nothing is restored, a grace period applies); an unreadable horizon file
# is logged and ignored, tokens continue from the current time in
# nanoseconds plus an hour and the grace period is lockable.max_ttl.  With
# a valid leases.state but a lost horizon, the restored leases must still
# bound the grace period of a later crash: the start records them in the
# horizon.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use LockableTest;

# lockable.max_ttl is the grace period when the horizon is lost: keep it
# short, and every ttl here within it.
my $node = lockable_node('state_file', q{
lockable.worker_naptime = 100ms
lockable.default_ttl = '3s'
lockable.max_ttl = '5s'
});

my $state_file = lockable_path($node, 'leases.state');
my $horizon_file = lockable_path($node, 'horizon');

sub sql
{
	my ($query) = @_;
	return $node->safe_psql('postgres', $query);
}

# The server log since $offset shows no crashed process.
sub no_crash_since
{
	my ($offset, $what) = @_;
	unlike(
		slurp_file($node->logfile, $offset),
		qr/terminated by signal|PANIC|was terminated by exception|server process .* exited with exit code/,
		"$what: no process crashed");
}

# Acquire with a wait that outlasts any grace period here.
sub acquire_after_grace
{
	my ($name, $ttl) = @_;
	return sql("SELECT lockable_acquire('$name', '$ttl', wait => '10s')");
}

#
# Fencing, with two sessions.  The guard of the README: the writer passes
# its token with each write and a trigger checks it.
#
sql(q{
CREATE TABLE report (
    id          int PRIMARY KEY,
    body        text,
    lease_token bigint NOT NULL
);
CREATE FUNCTION report_fence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM lockable_check('report', NEW.lease_token);
    RETURN NEW;
END $$;
CREATE TRIGGER report_fence BEFORE INSERT OR UPDATE ON report
    FOR EACH ROW EXECUTE FUNCTION report_fence();
});

my $sa = $node->background_psql('postgres', on_error_stop => 0);
my $sb = $node->background_psql('postgres', on_error_stop => 0);
$sa->query_safe('\set VERBOSITY verbose');

my $tok_a = $sa->query_safe("SELECT lockable_acquire('report', ttl => '1s')");
like($tok_a, qr/^\d+$/, 'fencing: A acquires the lease for 1s');
$sa->query_safe("INSERT INTO report VALUES (1, 'written by A', $tok_a)");
pass('fencing: A writes while it holds the lease');

# A pauses past its ttl (a GC pause, a slow query...).
$sa->query_safe('SELECT pg_sleep(1.5)');
is($sb->query_safe("SELECT lockable_is_held('report', $tok_a)"),
	'f', 'fencing: A\'s lease has expired');
my $tok_b = $sb->query_safe(
	"SELECT lockable_acquire('report', ttl => '3s', wait => '5s')");
like($tok_b, qr/^\d+$/, 'fencing: B acquires the lease');
cmp_ok($tok_b, '>', $tok_a, 'fencing: B\'s token is greater than A\'s');
$sb->query_safe(
	"UPDATE report SET body = 'written by B', lease_token = $tok_b WHERE id = 1");
pass('fencing: B writes');

# A wakes up and writes again, as if it still held the lease.
my ($out, $failed) = $sa->query(
	"UPDATE report SET body = 'written by A, late', lease_token = $tok_a WHERE id = 1"
);
is($failed, 1, 'fencing: A\'s late write fails');
like(
	$sa->{stderr},
	qr/ERROR:\s+55P03:\s+lease "report" is not held with token $tok_a/,
	'fencing: with SQLSTATE 55P03 from lockable_check');
$sa->{stderr} = '';
($out, $failed) =
  $sa->query("INSERT INTO report VALUES (2, 'also by A, late', $tok_a)");
is($failed, 1, 'fencing: so does a late insert by A');
like($sa->{stderr}, qr/ERROR:\s+55P03:/, 'fencing: also with 55P03');
$sa->{stderr} = '';
is( sql(
		"SELECT string_agg(body || ':' || (lease_token = $tok_b), ',') FROM report"),
	'written by B:true',
	'fencing: the table holds B\'s write only');
is($sb->query_safe("SELECT lockable_release('report', $tok_b)"),
	't', 'fencing: B releases the lease');
$sa->quit;
$sb->quit;

#
# A leases.state with bytes flipped in the middle.
#
my $t1 = sql("SELECT lockable_acquire('kept', '3s')");
like($t1, qr/^\d+$/, 'corrupt: kept acquired for 3s');
my $offset = -s $node->logfile;
$node->stop;
ok(-e $state_file, 'corrupt: the clean stop wrote the state file');
my $data = read_raw($state_file);
my $mid = int(length($data) / 2);
substr($data, $mid, 4) = join('', map { chr(ord($_) ^ 0xFF) } split //, substr($data, $mid, 4));
write_raw($state_file, $data);
$node->start;
my $log = slurp_file($node->logfile, $offset);
like(
	$log,
	qr/LOG:  lockable: ignoring corrupt file "pg_lockable\/leases\.state"/,
	'corrupt: the log says the state file is ignored');
like(
	$log,
	qr/lockable: the server did not shut down cleanly; no lease will be granted for 3000 ms/,
	'corrupt: it counts as a crash, with a grace period');
unlike($log, qr/lockable: restored/, 'corrupt: nothing is restored');
ok(!-e $state_file, 'corrupt: the corrupt file is removed');
is(sql("SELECT count(*) FROM lockable_leases"),
	'0', 'corrupt: the lease is not restored');
is(sql("SELECT grace_until IS NOT NULL FROM lockable_stats"),
	't', 'corrupt: lockable_stats.grace_until is set');
is(sql("SELECT lockable_acquire('kept', '3s', wait => '0') IS NULL"),
	't', 'corrupt: kept is not granted during the grace period');
my $t2 = acquire_after_grace('kept', '3s');
cmp_ok($t2, '>', $t1, 'corrupt: after the grace period, a greater token');
no_crash_since($offset, 'corrupt');

#
# A leases.state truncated to 10 bytes.
#
$offset = -s $node->logfile;
$node->stop;
ok(-e $state_file, 'truncated: the clean stop wrote the state file');
write_raw($state_file, substr(read_raw($state_file), 0, 10));
is(-s $state_file, 10, 'truncated: the state file is 10 bytes long');
$node->start;
$log = slurp_file($node->logfile, $offset);
like(
	$log,
	qr/LOG:  lockable: ignoring corrupt file "pg_lockable\/leases\.state"/,
	'truncated: the log says the state file is ignored');
like(
	$log,
	qr/lockable: the server did not shut down cleanly; no lease will be granted for 3000 ms/,
	'truncated: it counts as a crash, with a grace period');
ok(!-e $state_file, 'truncated: the file is removed');
is(sql("SELECT count(*) FROM lockable_leases"),
	'0', 'truncated: the lease is not restored');
is(sql("SELECT lockable_acquire('kept', '3s', wait => '0') IS NULL"),
	't', 'truncated: kept is not granted during the grace period');
my $t3 = acquire_after_grace('kept', '3s');
cmp_ok($t3, '>', $t2, 'truncated: after the grace period, a greater token');
no_crash_since($offset, 'truncated');

#
# A horizon file of the wrong length, then one of 32 random bytes, with
# no state file: tokens continue from the time in nanoseconds plus an
# hour, and the grace period is lockable.max_ttl.
#
$offset = -s $node->logfile;
$node->stop;
unlink($state_file) or die "could not remove \"$state_file\": $!";
write_raw($horizon_file, substr(read_raw($horizon_file), 0, 10));
$node->start;
$log = slurp_file($node->logfile, $offset);
like(
	$log,
	qr/LOG:  lockable: ignoring file "pg_lockable\/horizon": it is 10 bytes long, expected 32/,
	'short horizon: the log says the horizon file is ignored');
like(
	$log,
	qr/lockable: the token horizon is lost; tokens continue from \d+/,
	'short horizon: the log says where tokens continue');
like(
	$log,
	qr/lockable: the server did not shut down cleanly; no lease will be granted for 5000 ms/,
	'short horizon: the grace period is lockable.max_ttl');
is(sql("SELECT grace_until IS NOT NULL FROM lockable_stats"),
	't', 'short horizon: lockable_stats.grace_until is set');
no_crash_since($offset, 'short horizon');

$offset = -s $node->logfile;
$node->stop('immediate');    # saves no state file
ok(!-e $state_file, 'garbage horizon: there is no state file');
write_raw($horizon_file, join('', map { chr(int(rand(256))) } 1 .. 32));
$node->start;
my $started = sql("SELECT extract(epoch FROM now())");
$log = slurp_file($node->logfile, $offset);
like(
	$log,
	qr/LOG:  lockable: ignoring file "pg_lockable\/horizon": wrong magic number, version or checksum/,
	'garbage horizon: the log says the horizon file is ignored');
like(
	$log,
	qr/lockable: the server did not shut down cleanly; no lease will be granted for 5000 ms/,
	'garbage horizon: the grace period is lockable.max_ttl');
is(sql("SELECT grace_until IS NOT NULL FROM lockable_stats"),
	't', 'garbage horizon: lockable_stats.grace_until is set');
is(sql("SELECT lockable_acquire('kept', '3s', wait => '0') IS NULL"),
	't', 'garbage horizon: kept is not granted during the grace period');
my $t4 = acquire_after_grace('kept', '3s');
cmp_ok($t4, '>', 10**12,
	'garbage horizon: the new token is large (time-based)');
cmp_ok($t4, '>', $t3, 'garbage horizon: greater than every token before');
# nanoseconds since 2000-01-01 (PostgreSQL's epoch) at the start, plus an
# hour (a minute less, for the clock readings)
cmp_ok($t4, '>=', ($started - 946684800 + 3600 - 60) * 1e9,
	'garbage horizon: tokens continue from the time in nanoseconds plus an hour');
is( sprintf('%08X', unpack('L', read_raw($horizon_file))),
	'4C4B4C48',
	'garbage horizon: the first grant wrote a valid horizon file again');
no_crash_since($offset, 'garbage horizon');

#
# A valid leases.state with a lost horizon file: the leases are restored,
# and their ttls must still bound a later crash's grace period.
#
is(sql("SELECT lockable_release('kept', $t4)"), 't', 'kept released');
my $long = sql("SELECT lockable_acquire('long', '5s')");
my $long_deadline = sql(
	"SELECT extract(epoch FROM expires_at) FROM lockable_leases WHERE name = 'long'"
);
$offset = -s $node->logfile;
$node->stop;
write_raw($horizon_file, join('', map { chr(int(rand(256))) } 1 .. 32));
$node->start;
$log = slurp_file($node->logfile, $offset);
like(
	$log,
	qr/LOG:  lockable: ignoring file "pg_lockable\/horizon": wrong magic number, version or checksum/,
	'lost horizon, valid state: the horizon file is ignored');
like(
	$log,
	qr/lockable: restored 1 leases from the last shutdown, 0 had expired/,
	'lost horizon, valid state: the leases are restored');
is(sql("SELECT token FROM lockable_leases WHERE name = 'long'"),
	$long, 'lost horizon, valid state: with their tokens');
like(sql("SELECT lockable_acquire('brief', '1s')"),
	qr/^\d+$/, 'lost horizon, valid state: a lease with a short ttl granted');
$node->stop('immediate');
$node->start;
{
	# The start that restored 'long' wrote a horizon covering its ttl, so
	# the crash grace lasts at least until its deadline.
	my $grace_until = sql(
		"SELECT coalesce(extract(epoch FROM grace_until), 0) FROM lockable_stats"
	);
	cmp_ok($grace_until, '>=', $long_deadline,
		'lost horizon, valid state: the grace period after a crash covers the restored lease'
	);
}

$node->stop;
done_testing();
