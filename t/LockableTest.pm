# Helpers shared by lockable's TAP tests: the scaffolding that several
# t/*.pl files need.  What a test asserts stays in the test; the few helpers
# that run assertions of their own say so.
package LockableTest;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep time);
use Exporter 'import';

our @EXPORT = qw(
  lockable_node lockable_path read_raw write_raw
  sql_as sql_fails stat_value lease_count
  wait_until wait_for_waiters start_query keepalive_session crash_backend
  start_process);

# lockable_node(NAME, SETTINGS, INIT_OPTIONS): a started node with lockable
# in shared_preload_libraries, SETTINGS (lines of postgresql.conf) appended,
# and the extension created in database postgres.  INIT_OPTIONS go to
# PostgreSQL::Test::Cluster's init (e.g. allows_streaming => 1).
sub lockable_node
{
	my ($name, $settings, %init) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);

	$node->init(%init);
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'lockable'\n" . ($settings // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION lockable');
	return $node;
}

# lockable_path(NODE, FILE): the path of FILE (leases.state, horizon) in
# NODE's pg_lockable/ directory; without FILE, of the directory itself.
sub lockable_path
{
	my ($node, $file) = @_;
	my $dir = $node->data_dir . '/pg_lockable';
	return defined $file ? "$dir/$file" : $dir;
}

# read_raw(PATH), write_raw(PATH, DATA): a whole file as bytes, for tests
# that damage or rewrite lockable's binary files.
sub read_raw
{
	my ($path) = @_;
	open(my $fh, '<:raw', $path) or die "could not read \"$path\": $!";
	local $/;
	my $data = <$fh>;
	close($fh);
	return $data;
}

sub write_raw
{
	my ($path, $data) = @_;
	open(my $fh, '>:raw', $path) or die "could not write \"$path\": $!";
	print $fh $data;
	close($fh) or die "could not close \"$path\": $!";
	return;
}

# sql_as(NODE, USER, QUERY, DB): run QUERY in DB (default postgres) as role
# USER (the bootstrap superuser if undef); dies on error.
sub sql_as
{
	my ($node, $user, $query, $db) = @_;
	$db //= 'postgres';
	my $connstr = $node->connstr($db);
	$connstr .= " user=$user" if defined $user;
	return $node->safe_psql($db, $query, connstr => $connstr);
}

# sql_fails(NODE, QUERY, PSQL_OPTIONS): run QUERY in database postgres,
# expecting it to fail: one test, "fails: QUERY".  Returns psql's stderr,
# which shows the SQLSTATE (VERBOSITY verbose).  PSQL_OPTIONS go to
# PostgreSQL::Test::Cluster's psql.
sub sql_fails
{
	my ($node, $query, %options) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($ret, $stdout, $stderr) =
	  $node->psql('postgres', "\\set VERBOSITY verbose\n$query", %options);
	isnt($ret, 0, "fails: $query");
	return $stderr;
}

# stat_value(NODE, COLUMN): one column of lockable_stats (quoted, in case
# one is a keyword).
sub stat_value
{
	my ($node, $column) = @_;
	return $node->safe_psql('postgres',
		qq{SELECT "$column" FROM lockable_stats});
}

# lease_count(NODE, NAME): how many rows lockable_leases has for NAME in
# database postgres: one per holder (0 or 1 but for counting and shared
# leases).
sub lease_count
{
	my ($node, $name) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM lockable_leases WHERE name = '$name'");
}

# wait_until(CODE): run CODE until it returns true, up to the usual TAP
# timeout; returns whether it did.  For conditions that are not one query
# (poll_query_until is for those): a service, a file, a value to keep.
sub wait_until
{
	my ($cond) = @_;
	my $until = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (time() < $until)
	{
		return 1 if $cond->();
		usleep(50_000);
	}
	return 0;
}

# wait_for_waiters(NODE, NAME, N): wait until lockable_leases shows N
# sessions queued for lease NAME; returns whether it did.  A counting or
# shared lease has a row per holder, each with the name's waiters: max()
# makes that one answer (and NULL, so go on waiting, while nobody holds
# NAME).
sub wait_for_waiters
{
	my ($node, $name, $n) = @_;
	return $node->poll_query_until('postgres',
		"SELECT max(waiters) = $n FROM lockable_leases WHERE name = '$name'");
}

# start_query(NODE, SQL, OPTIONS): a new background psql session on
# NODE's database postgres that has begun to run SQL (a wait, a sleep)
# without waiting for it to end; returns (session, backend pid).
# $session->query('') or query_safe('') later waits for SQL's result.
# OPTIONS go to background_psql (e.g. on_error_stop => 0).
sub start_query
{
	my ($node, $sql, %options) = @_;
	my $session = $node->background_psql('postgres', %options);
	my $pid = $session->query_safe('SELECT pg_backend_pid()');
	$session->query_until(qr/started/, "\\echo started\n$sql\n");
	return ($session, $pid);
}

# keepalive_session(NODE, NAME, TTL, ARGS): a new background psql session
# on NODE's database postgres that holds keepalive lease NAME for TTL, which
# ends with the session; returns (session, backend pid, token: empty if
# NAME was busy).  ARGS, if given, are more named arguments of
# lockable_acquire (e.g. "slots => 3").
sub keepalive_session
{
	my ($node, $name, $ttl, $args) = @_;
	my $session = $node->background_psql('postgres');
	my $pid = $session->query_safe('SELECT pg_backend_pid()');
	$args = defined $args ? ", $args" : '';
	my $token = $session->query_safe(
		"SELECT lockable_acquire('$name', '$ttl', keepalive => true$args)");
	return ($session, $pid, $token);
}

# crash_backend(NODE, WHAT): kill a busy backend of NODE with SIGKILL, as
# the OOM killer would, and wait until the postmaster has reinitialized
# and accepts connections again (NODE needs restart_after_crash = on).
# Two tests: the kill (WHAT, by default "backend PID killed with SIGKILL")
# and the connection after it.  Returns the log offset from before the
# crash.
sub crash_backend
{
	my ($node, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $offset = -s $node->logfile;
	my ($victim, $pid) =
	  start_query($node, 'SELECT pg_sleep(60);', on_error_stop => 0);
	is(kill('KILL', $pid), 1, $what // "backend $pid killed with SIGKILL");
	$node->wait_for_log(qr/all server processes terminated; reinitializing/,
		$offset);
	ok($node->poll_query_until('postgres', 'SELECT true'),
		'the server accepts connections again after the crash');
	# psql has lost its connection and exited
	eval { $victim->quit; };
	return $offset;
}

# start_process(COMMAND, REDIRECTS): IPC::Run::start of COMMAND (an array
# ref) with REDIRECTS ('<', \undef, '>', FILE...), for a server a test runs
# beside PostgreSQL.  Returns the harness.  The process is killed when the
# test ends, however it ends, unless it was stopped before.
my @processes;

sub start_process
{
	my ($command, @redirects) = @_;
	my $h = IPC::Run::start($command, @redirects);
	push @processes, $h;
	return $h;
}

# This runs before PostgreSQL::Test::Cluster's own END (loaded first), so
# before the nodes' teardown.  Reaping a process sets $?, which is the
# test's exit status here: keep it.
END
{
	local $?;
	foreach my $h (@processes)
	{
		$h->kill_kill(grace => 5) if $h->pumpable;
	}
}

1;
