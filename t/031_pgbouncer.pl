# Copyright (c) 2026, the lockable authors
#
# Leases through PgBouncer in transaction pooling mode, where consecutive
# transactions of one client land on different server connections.
#
# - Pooling really moves a client: while other clients hold server
#   connections in open transactions, one client's statements run on
#   several backends.
# - A plain lease (token-based) works there: acquired on one backend,
#   heartbeated and released on others, refused to a second client while
#   held, handed to it (even to a waiting one) after the release.
# - A session advisory lock does not: pg_advisory_unlock() landing on
#   another backend returns false with a WARNING, the lock stays held by the
#   pooled server connection, and whichever client lands there next "gets"
#   it.
# - A keepalive lease is bound to the server connection, not to the client:
#   it survives the client's disconnect (and its own ttl, renewed by the
#   worker) for as long as PgBouncer keeps that server connection, and ends
#   only when the server connection ends.
#
# The test drives /usr/sbin/pgbouncer (Debian's package), on loopback,
# in the foreground under IPC::Run; it is skipped when that is not installed.
#
# Making a client move off a backend deterministically: a client's next
# transaction cannot run on a server connection that another client holds
# in an open transaction.  So "helper" clients open transactions (BEGIN;
# SELECT pg_backend_pid()) until one of them holds the backend to avoid;
# PgBouncer reuses idle server connections last-in first-out
# (server_round_robin = 0, the default), so the first helper normally gets
# the connection that was just released.  The pool has 4 server connections
# and at most 3 helpers, so the client always has one left.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use LockableTest;
use IPC::Run;

my $pgbouncer = '/usr/sbin/pgbouncer';
plan skip_all => "$pgbouncer is not installed" unless -x $pgbouncer;

my $pool_size = 4;

my $node = lockable_node('pgbouncer', q{
lockable.worker_naptime = 100ms
});

sub sql
{
	my ($query) = @_;
	return $node->safe_psql('postgres', $query);
}

#
# PgBouncer: transaction pooling, 4 server connections to the node's unix
# socket, clients on 127.0.0.1 only, trusting the test's own user.
#
my $user = sql('SELECT current_user');
my $dir = PostgreSQL::Test::Utils::tempdir;
my $bport = PostgreSQL::Test::Cluster::get_free_port();
my $node_host = $node->host;
my $node_port = $node->port;

open my $fh, '>', "$dir/userlist.txt" or die "userlist.txt: $!";
print $fh qq{"$user" ""\n};
close $fh;

open $fh, '>', "$dir/pgbouncer.ini" or die "pgbouncer.ini: $!";
print $fh <<"EOF";
[databases]
postgres = host=$node_host port=$node_port dbname=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bport
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = $pool_size
min_pool_size = 0
reserve_pool_size = 0
server_round_robin = 0
server_reset_query =
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
close $fh;

# start_process: PgBouncer is not left behind, even when the test dies.
my ($bouncer_out, $bouncer_err) = ('', '');
my $bouncer = start_process([ $pgbouncer, "$dir/pgbouncer.ini" ],
	'>', \$bouncer_out, '2>', \$bouncer_err);

my $bconnstr =
  "host=127.0.0.1 port=$bport dbname=postgres user=$user sslmode=disable";

# One psql call through PgBouncer: (exit status, stdout, stderr).
sub bouncer_psql
{
	my ($query) = @_;
	my ($stdout, $stderr) = ('', '');
	IPC::Run::run(
		[ 'psql', '-XAtq', '-d', $bconnstr, '-c', $query ],
		'>', \$stdout, '2>', \$stderr,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	chomp $stdout;
	return ($? >> 8, $stdout, $stderr);
}

if (!wait_until(sub { (bouncer_psql('SELECT 1'))[0] == 0 }))
{
	diag "pgbouncer stderr: $bouncer_err";
	diag slurp_file("$dir/pgbouncer.log") if -f "$dir/pgbouncer.log";
	BAIL_OUT('pgbouncer did not accept connections');
}
pass('pgbouncer accepts connections in transaction pooling mode');

# A client session through PgBouncer.  background_psql() connects to the
# node; a second -d (psql keeps the last one) points it at PgBouncer.
sub bouncer_session
{
	return $node->background_psql('postgres',
		extra_params => [ '-d', $bconnstr ]);
}

# Run a query in a session, expecting no error; returns its output.
sub q_ok
{
	my ($session, $query) = @_;
	return $session->query_safe($query);
}

# Fill the pool: 4 clients each open a transaction, which makes PgBouncer
# start 4 server connections; then end them.  From here on the pool is
# full and stable (no connection is started or closed during the test).
my @helpers = map { bouncer_session() } 1 .. $pool_size;
my @pool_pids =
  map { q_ok($_, 'BEGIN; SELECT pg_backend_pid();') } @helpers;
q_ok($_, 'COMMIT') for @helpers;
my %pool = map { $_ => 1 } @pool_pids;
is(scalar(keys %pool), $pool_size,
	"$pool_size clients in open transactions hold $pool_size different server connections"
);
is( sql(
		"SELECT count(*) FROM pg_stat_activity WHERE pid IN ("
		  . join(',', @pool_pids) . ")"),
	$pool_size,
	'they are server backends of the node');
(pop @helpers)->quit;    # 3 helpers are enough, and leave the client one

# Make sure no client but the caller's helpers can land on backend $pid:
# if it is among @busy (backends that other clients hold in a running
# transaction), nothing to do; otherwise open helper transactions until one
# of them holds it, leaving at least one server connection free.  Returns
# the helpers that hold an open transaction; end them with end_helpers().
sub occupy
{
	my ($pid, @busy) = @_;
	if (grep { $_ eq $pid } @busy)
	{
		pass("backend $pid is busy with another client's transaction");
		return ();
	}
	my $max = $pool_size - 1 - scalar(@busy);
	my @open;
	for my $h (@helpers[ 0 .. $max - 1 ])
	{
		my $got = q_ok($h, 'BEGIN; SELECT pg_backend_pid();');
		push @open, $h;
		last if $got eq $pid;
	}
	my $held = grep { $_ eq $pid }
	  map { q_ok($_, 'SELECT pg_backend_pid()') } @open;
	ok($held, "a helper client holds backend $pid in an open transaction");
	return @open;
}

sub end_helpers
{
	q_ok($_, 'COMMIT') for @_;
}

# Run "$query, pg_backend_pid()" in a session; returns (result, pid).
sub with_pid
{
	my ($session, $query) = @_;
	my $out = q_ok($session, "SELECT $query, pg_backend_pid()");
	my @cols = split /\|/, $out;
	my $pid = pop @cols;
	return (join('|', @cols), $pid);
}

#
# One client's consecutive transactions run on different backends.
#
my $ca = bouncer_session();
my %a_pids;
my $moved = 0;
for my $i (1 .. 3)
{
	my (undef, $before) = with_pid($ca, "'spread'");
	my @open = occupy($before);
	my (undef, $after) = with_pid($ca, "'spread'");
	$a_pids{$_} = 1 for $before, $after;
	$moved++ if $after ne $before;
	ok($pool{$after}, "client A's statement $i ran on a pooled backend");
	end_helpers(@open);
}
is($moved, 3,
	'client A\'s next transaction runs on another backend each time its last one is busy'
);
cmp_ok(scalar(keys %a_pids), '>', 1,
	'one client session used several server backends');

#
# A plain lease: acquired, heartbeated and released by client A on
# different backends; client B is refused while A holds it and gets it
# after A releases.
#
my ($token, $acq_pid) = with_pid($ca, "lockable_acquire('job', ttl => '10 s')");
like($token, qr/^\d+$/, "client A acquired 'job' through the pooler");
is( sql(
		"SELECT token = $token AND pid = $acq_pid FROM lockable_leases WHERE name = 'job'"
	),
	't', 'lockable_leases shows the lease with the acquiring backend');

my $cb = bouncer_session();
my @open = occupy($acq_pid);
my ($b_res) = with_pid($cb, "lockable_acquire('job', ttl => '10 s') IS NULL");
is($b_res, 't', 'client B cannot acquire job while A holds it');
my ($hb, $hb_pid) = with_pid($ca, "lockable_heartbeat('job', $token, '20 s')");
is($hb, 't', 'client A heartbeats job with its token');
isnt($hb_pid, $acq_pid, 'the heartbeat ran on another backend than the acquire');
end_helpers(@open);

is( sql(
		"SELECT ttl = '20 s' AND renewals = 1 AND expires_at > now() + '15 s' "
		  . "FROM lockable_leases WHERE name = 'job'"),
	't',
	'the heartbeat renewed the lease for 20 s');
is( sql("SELECT count(*) FROM pg_stat_activity WHERE pid = $acq_pid"),
	'1',
	'the acquiring backend is still connected (a pooled server connection)');

# A heartbeat with a wrong token fails, wherever it lands.
my ($bad) = with_pid($cb, "lockable_heartbeat('job', $token + 1)");
is($bad, 'f', 'client B cannot heartbeat job without the token');

@open = occupy($acq_pid);
my ($rel, $rel_pid) = with_pid($ca, "lockable_release('job', $token)");
is($rel, 't', 'client A releases job with its token');
isnt($rel_pid, $acq_pid, 'the release ran on another backend than the acquire');
end_helpers(@open);

my ($b_token) = with_pid($cb, "lockable_acquire('job', ttl => '10 s')");
like($b_token, qr/^\d+$/, 'client B acquires job once A has released it');
cmp_ok($b_token, '>', $token, 'with a greater fencing token');
my ($b_rel) = with_pid($cb, "lockable_release('job', $b_token)");
is($b_rel, 't', 'client B releases it');

# A waiting client is woken by a release that runs on another backend.
# While B waits, its transaction holds one server connection; A runs on
# another one.
($token, $acq_pid) = with_pid($ca, "lockable_acquire('job', ttl => '10 s')");
like($token, qr/^\d+$/, 'client A acquires job again');
$cb->query_until(qr/waiting/,
	"\\echo waiting\nSELECT lockable_acquire('job', ttl => '10 s', wait => '30 s');\n"
);
ok(wait_for_waiters($node, 'job', 1), 'client B waits for job');
my $b_wait_pid = sql(
	"SELECT pid FROM pg_stat_activity "
	  . "WHERE query LIKE '%wait => ''30 s''%' AND pid <> pg_backend_pid()");
ok($pool{$b_wait_pid}, 'its wait runs on a pooled backend');
@open = occupy($acq_pid, $b_wait_pid);
($rel, $rel_pid) = with_pid($ca, "lockable_release('job', $token)");
is($rel, 't', 'client A releases job while B waits');
isnt($rel_pid, $acq_pid, 'on another backend than its acquire');
isnt($rel_pid, $b_wait_pid, 'and not on the waiting client\'s backend');
end_helpers(@open);
$b_token = $cb->query_safe('');
like($b_token, qr/^\d+$/, 'the waiting client B got job');
cmp_ok($b_token, '>', $token, 'with a greater fencing token');
($b_rel) = with_pid($cb, "lockable_release('job', $b_token)");
is($b_rel, 't', 'client B releases it');
is(sql("SELECT count(*) FROM lockable_leases"), '0', 'no lease is left');

#
# The contrast: a session advisory lock taken through the pooler stays with
# the server connection.  A's unlock lands on another backend and fails;
# the next client on A's old backend finds the lock already its own.
#
my ($locked, $lock_pid) = with_pid($ca, 'pg_try_advisory_lock(42)');
is($locked, 't', 'client A takes session advisory lock 42 through the pooler');
@open = occupy($lock_pid);
my ($holder) = grep { q_ok($_, 'SELECT pg_backend_pid()') eq $lock_pid } @open;
is(q_ok($holder, 'SELECT pg_try_advisory_lock(42)'),
	't', 'another client landing on that backend also "gets" lock 42');
$ca->{stderr} = '';
my ($out) = $ca->query('SELECT pg_advisory_unlock(42), pg_backend_pid()');
my ($unlocked, $unlock_pid) = split /\|/, $out;
is($unlocked, 'f', 'client A\'s pg_advisory_unlock(42) on another backend returns false');
isnt($unlock_pid, $lock_pid, 'it ran on another backend');
like($ca->{stderr}, qr/WARNING:.*you don't own a lock of type ExclusiveLock/,
	'with a WARNING that it does not own the lock');
$ca->{stderr} = '';
is( sql(
		"SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = 42 AND granted"
	),
	$lock_pid,
	'lock 42 is still held by the pooled backend A took it on');
q_ok($holder, 'SELECT pg_advisory_unlock_all()');
end_helpers(@open);
is(sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
	'0', 'lock 42 released by the client on that backend');

#
# A keepalive lease through the pooler is bound to the server connection:
# it survives the client's disconnect and its own ttl, and ends only when
# the server connection ends.
#
my $k = bouncer_session();
my ($k_token, $k_pid) =
  with_pid($k, "lockable_acquire('ka', ttl => '1 s', keepalive => true)");
like($k_token, qr/^\d+$/, 'client K acquires keepalive lease ka through the pooler');
$k->quit;
my $renewals_before = stat_value($node, 'renewals');

# Only the worker can keep it alive past its ttl now: wait until it has been
# renewed twice and is older than its ttl (an expired lease is not shown).
ok( $node->poll_query_until(
		'postgres',
		"SELECT renewals >= 2 AND now() > acquired_at + ttl FROM lockable_leases "
		  . "WHERE name = 'ka' AND token = $k_token AND pid = $k_pid AND keepalive"
	),
	'after client K disconnected, the keepalive lease outlives its 1 s ttl');
cmp_ok(stat_value($node, 'renewals'), '>', $renewals_before,
	'renewed by the worker: its server connection is alive in the pool');
is(sql("SELECT count(*) FROM pg_stat_activity WHERE pid = $k_pid"),
	'1', 'the server connection that acquired it is still connected');
@open = occupy($k_pid);
my ($c_res, $c_pid) =
  with_pid($ca, "lockable_acquire('ka', ttl => '1 s') IS NULL");
is($c_res, 't', 'another client cannot acquire ka');
($holder) = grep { q_ok($_, 'SELECT pg_backend_pid()') eq $k_pid } @open;
is(q_ok($holder, "SELECT lockable_acquire('ka', ttl => '1 s') IS NULL"),
	't', 'nor can a client that lands on the server connection holding it');
end_helpers(@open);

# Ending the server connection ends the lease.
is(sql("SELECT pg_terminate_backend($k_pid)"), 't',
	'the server connection that acquired ka is terminated');
ok( $node->poll_query_until(
		'postgres',
		"SELECT NOT EXISTS (SELECT FROM lockable_leases WHERE name = 'ka')"),
	'the keepalive lease ends with its server connection');
# Let PgBouncer see that server connection close before using the pool.
ok( $node->poll_query_until(
		'postgres',
		"SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $k_pid)"),
	'the terminated server connection is gone');
my ($ka2) = with_pid($ca, "lockable_acquire('ka', ttl => '1 s')");
like($ka2, qr/^\d+$/, 'then another client acquires ka');

$_->quit for $ca, $cb, @helpers;
$bouncer->kill_kill;
note "pgbouncer log:\n", slurp_file("$dir/pgbouncer.log");
$node->stop;
done_testing();
