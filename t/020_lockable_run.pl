# Copyright (c) 2026, the lockable authors
#
# lockable-run, the command-line tool (tools/lockable-run.c), against a
# temporary server: it runs the command under a lease and returns its exit
# status; it hands the command the lease's token; it refuses a busy lease
# with the conflict exit code, or waits for it; with --slots N at most N
# runs hold a name at once and the others are busy or wait, --shared runs
# hold it together but never with a run without --shared (a waiting writer
# is not overtaken by later readers), a --slots that differs from the
# holders' is the server's error, and a database whose extension is older
# than 1.3 gets a message saying to update it; it kills the command and
# exits with the lost exit code when the lease is force-released or the
# database goes away for longer than the ttl; it rides out a restart
# shorter than the ttl; it forwards SIGTERM; it rejects bad options,
# and options that leave no time to stop the command before the lease can
# expire; when the server freezes, it has killed the command (one that
# ignores SIGTERM, and all of its process group) before the lease can
# expire on the server.
#
# The tool is found in PATH: `make installcheck` puts PostgreSQL's bindir,
# where `make install` puts lockable-run, and the build directory first.
# The build directory's copy goes first here, so that the test checks the
# code it was built with even if someone installs another build meanwhile.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use LockableTest;
use IPC::Run;
use Time::HiRes qw(usleep time clock_gettime CLOCK_MONOTONIC);
use List::Util qw(max);

my $node = lockable_node('lockable_run', q{
lockable.worker_naptime = 100ms
});

my $dsn = $node->connstr('postgres');
my $tempdir = PostgreSQL::Test::Utils::tempdir;

# Commands run by the tool find the server here
$ENV{LR_DSN} = $dsn;

sub sql
{
	my ($query) = @_;
	return $node->safe_psql('postgres', $query);
}

# Start lockable-run with @args in the background; returns a handle.
sub start_tool
{
	my (@args) = @_;
	my $run = { out => '', err => '', started => time() };
	$run->{timer} =
	  IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
	$run->{h} = IPC::Run::start(
		[ 'lockable-run', @args ],
		'<' => \undef,
		'>' => \$run->{out},
		'2>' => \$run->{err},
		$run->{timer});
	return $run;
}

# Wait for it to exit.  Returns its exit status, "signal N" if it was
# killed, or "timeout" (after killing it).
sub finish_tool
{
	my ($run) = @_;
	my $ok = eval { $run->{h}->finish; 1 };
	$run->{elapsed} = time() - $run->{started};
	if (!$ok)
	{
		diag("lockable-run did not finish: $@\nstderr: $run->{err}");
		$run->{h}->kill_kill;
		return 'timeout';
	}
	my $status = $run->{h}->full_result(0);
	return 'signal ' . ($status & 127) if $status & 127;
	return $status >> 8;
}

# Run lockable-run to the end; returns (status, stdout, stderr, seconds).
sub run_tool
{
	my $run = start_tool(@_);
	my $rc = finish_tool($run);
	return ($rc, $run->{out}, $run->{err}, $run->{elapsed});
}

# Wait until the running tool's command has printed something matching $re
sub wait_output
{
	my ($run, $re) = @_;
	while ($run->{out} !~ $re)
	{
		last unless eval { $run->{h}->pump; 1 };
	}
	return $run->{out} =~ $re;
}

sub pid_of
{
	my ($run) = @_;
	return $run->{h}{KIDS}[0]{PID};
}

sub wait_lease
{
	my ($name) = @_;
	ok( $node->poll_query_until(
			'postgres',
			"SELECT EXISTS (SELECT FROM lockable_leases WHERE name = '$name')"),
		"lease $name is taken");
}

# A process that has exited (gone, or a zombie nobody reaps)
sub process_gone
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return 1;
	my $stat = <$fh>;
	close($fh);
	return $stat =~ /^\d+ \(.*\) Z/s;
}

# The clock lease deadlines are kept on (the server's and lockable-run's)
sub monotonic
{
	return clock_gettime(CLOCK_MONOTONIC);
}

# Freeze the server: SIGSTOP the postmaster first (it forks no more), then
# every process under it.  Returns the pids stopped, postmaster first.
my @frozen;

sub freeze_node
{
	open(my $pf, '<', $node->data_dir . '/postmaster.pid') or die "postmaster.pid: $!";
	my $postmaster = <$pf>;
	close($pf);
	chomp $postmaster;
	die "no postmaster pid" unless $postmaster =~ /^\d+$/;
	kill('STOP', $postmaster) or die "could not stop the postmaster: $!";
	@frozen = ($postmaster);

	# its descendants, from the parent pids in /proc
	my %children;
	opendir(my $dh, '/proc') or die "/proc: $!";
	foreach my $pid (grep { /^\d+$/ } readdir($dh))
	{
		open(my $fh, '<', "/proc/$pid/stat") or next;
		my $stat = <$fh>;
		close($fh);
		push @{ $children{$1} }, $pid if $stat && $stat =~ /^\d+ \(.*\) \S+ (\d+)/s;
	}
	closedir($dh);
	my @todo = ($postmaster);
	while (@todo)
	{
		foreach my $child (@{ $children{ shift @todo } // [] })
		{
			kill('STOP', $child);
			push @frozen, $child;
			push @todo, $child;
		}
	}
	return @frozen;
}

# Let it go on: the children first, then the postmaster
sub thaw_node
{
	kill('CONT', reverse @frozen) if @frozen;
	@frozen = ();
}

# A test that dies must not leave the server stopped: it could not be
# shut down.
END { thaw_node(); }

#
# Which lockable-run runs; --help, --version.
#
$ENV{PATH} = "$ENV{TESTDIR}:$ENV{PATH}"
  if defined $ENV{TESTDIR} && -x "$ENV{TESTDIR}/lockable-run";
my $which = '';
IPC::Run::run([ 'sh', '-c', 'command -v lockable-run' ], '>', \$which);
chomp $which;
ok($which ne '', 'lockable-run is in PATH');
note("using $which");

my ($rc, $out, $err, $secs) = run_tool('--help');
is($rc, 0, '--help exits 0');
like($out, qr/SYNOPSIS.*--name.*EXIT STATUS.*LOCKABLE_TOKEN/s,
	'--help prints the usage text');
like($out, qr/--conflict-exit-code.*--lost-exit-code.*--kill-signal.*--kill-after/s,
	'--help lists the options');
like($out, qr/--slots=N.*--shared/s, '--help lists --slots and --shared');
is($err, '', '--help prints nothing on stderr');

($rc, $out) = run_tool('-?');
is($rc, 0, '-? exits 0');
like($out, qr/SYNOPSIS/, '-? prints the usage text');

($rc, $out) = run_tool('--version');
is($rc, 0, '--version exits 0');
like($out, qr/^lockable-run \(lockable\) \d/, '--version prints the version');

#
# Bad options: exit status 64, a message and a pointer to --help; the
# command does not run.
#
my $marker = "$tempdir/ran";
my @bad = (
	[ [], qr/--name is required/, 'no options' ],
	[ [ '-n', 'x' ], qr/no command given/, 'no command' ],
	[ [ '-n', '', 'touch', $marker ], qr/must not be empty/, 'empty name' ],
	[ [ '--bogus', '-n', 'x', 'touch', $marker ],
		qr/unrecognized option "--bogus"/, 'unknown long option' ],
	[ [ '-x', '-n', 'x', 'touch', $marker ], qr/invalid option/,
		'unknown short option' ],
	[ [ '-n', 'x', '--ttl' ], qr/requires an argument/, 'missing argument' ],
	[ [ '-n', 'x', '--ttl', '10x', 'touch', $marker ],
		qr/invalid value "10x" for --ttl/, 'bad ttl unit' ],
	[ [ '-n', 'x', '--ttl', '0', 'touch', $marker ],
		qr/invalid value "0" for --ttl/, 'zero ttl' ],
	[ [ '-n', 'x', '--ttl', 'forever', 'touch', $marker ],
		qr/invalid value "forever" for --ttl/, 'endless ttl' ],
	[ [ '-n', 'x', '--wait', '-1s', 'touch', $marker ],
		qr/invalid value "-1s" for --wait/, 'negative wait' ],
	[ [ '-n', 'x', '--wait', '1e3', 'touch', $marker ],
		qr/invalid value "1e3" for --wait/, 'exponent in a duration' ],
	[ [ '-n', 'x', '--ttl', '1s', '--heartbeat', '1s', 'touch', $marker ],
		qr/--heartbeat \(1s\) must be less than --ttl \(1s\)/,
		'heartbeat not shorter than ttl' ],
	[ [ '-n', 'x', '--ttl', '1500ms', 'touch', $marker ],
		qr/--ttl \(1\.5s\) is too short: .*at least 2s/,
		'ttl too short to stop the command in time' ],
	[ [ '-n', 'x', '--ttl', '10s', '--kill-after', '5s', 'touch', $marker ],
		qr/--kill-after \(5s\) is too long for --ttl \(10s\): .*at most 4s/,
		'kill-after not well below the ttl' ],
	[ [ '-n', 'x', '--kill-after', 'forever', 'touch', $marker ],
		qr/--kill-after forever cannot stop the command before the lease can expire/,
		'kill-after forever' ],
	[ [ '-n', 'x', '--ttl', '10s', '--kill-after', '2s', '--heartbeat', '4s',
		'touch', $marker ],
		qr/--heartbeat \(4s\) is too long: .*at most 3\.5s/,
		'heartbeat too close to the point where the command is stopped' ],
	[ [ '-n', 'x', '--kill-signal', 'NOPE', 'touch', $marker ],
		qr/invalid signal "NOPE"/, 'bad signal' ],
	[ [ '-n', 'x', '-E', '256', 'touch', $marker ],
		qr/invalid value "256" for --conflict-exit-code/,
		'conflict exit code out of range' ],
	[ [ '-n', 'x', '--lost-exit-code', 'many', 'touch', $marker ],
		qr/invalid value "many" for --lost-exit-code/, 'bad lost exit code' ],
	[ [ '-n', 'x', '--slots', '0', 'touch', $marker ],
		qr/invalid value "0" for --slots: a whole number from 1 to 10000 is expected/,
		'zero slots' ],
	[ [ '-n', 'x', '--slots', '10001', 'touch', $marker ],
		qr/invalid value "10001" for --slots: a whole number from 1 to 10000/,
		'too many slots' ],
	[ [ '-n', 'x', '--slots', 'x', 'touch', $marker ],
		qr/invalid value "x" for --slots/, 'slots not a number' ],
	[ [ '-n', 'x', '--slots', '-2', 'touch', $marker ],
		qr/invalid value "-2" for --slots/, 'negative slots' ],
	[ [ '-n', 'x', '--slots', '2.5', 'touch', $marker ],
		qr/invalid value "2\.5" for --slots/, 'fractional slots' ],
	[ [ '-n', 'x', '--slots' ], qr/requires an argument/, 'slots without a number' ],
	[ [ '-d', $dsn, '-n', 'x' x 201, 'touch', $marker ],
		qr/lease name is too long/, 'name refused by the server' ],
	[ [ '-d', $dsn, '-n', 'x', '--ttl', '2h', 'touch', $marker ],
		qr/ttl exceeds lockable.max_ttl/, 'ttl refused by the server' ]);
foreach my $case (@bad)
{
	my ($args, $re, $what) = @$case;
	($rc, $out, $err) = run_tool(@$args);
	is($rc, 64, "$what: exit status 64");
	like($err, $re, "$what: message");
}
($rc, $out, $err) = run_tool('-n', 'x');
like($err, qr/Try "lockable-run --help"/, 'usage errors point to --help');
ok(!-e $marker, 'the command did not run after a usage error');

# --kill-after does not matter when --kill-signal is KILL
($rc, $out, $err) = run_tool('-d', $dsn, '-n', 'x', '--ttl', '2s',
	'--kill-signal', 'KILL', '--kill-after', 'forever', '--', 'true');
is($rc, 0, '--kill-signal KILL: --kill-after forever is accepted');
is($err, '', '--kill-signal KILL: no complaint');

#
# No database, or no extension: exit status 69, the command does not run.
#
($rc, $out, $err) =
  run_tool('-d', "host=$tempdir/nowhere", '-n', 'x', 'touch', $marker);
is($rc, 69, 'no server: exit status 69');
like($err, qr/could not connect to the database/, 'no server: message');

($rc, $out, $err) =
  run_tool('-d', $node->connstr('template1'), '-n', 'x', 'touch', $marker);
is($rc, 69, 'no extension: exit status 69');
like($err, qr/CREATE EXTENSION lockable/, 'no extension: hint');
ok(!-e $marker, 'the command did not run without a lease');

#
# The command runs under the lease and its exit status is returned.
#
($rc, $out, $err) = run_tool('-d', $dsn, '-n', 'job', '--', 'sh', '-c', 'exit 3');
is($rc, 3, 'the exit status of the command is returned');
is($err, '', 'nothing on stderr when all goes well');

($rc) = run_tool('-d', $dsn, '-n', 'job', 'true');
is($rc, 0, 'exit status 0, with the command right after the options');

($rc) = run_tool('-d', $dsn, '-n', 'job', '--', 'sh', '-c', 'kill -KILL $$');
is($rc, 128 + 9, 'a command killed by a signal gives 128 + the signal');

($rc, $out, $err) = run_tool('-d', $dsn, '-n', 'job', '--', "$tempdir/nonexistent");
is($rc, 127, 'a command that does not exist gives 127');
like($err, qr/could not execute/, 'and says so');

my $noexec = "$tempdir/noexec.sh";
open(my $fh, '>', $noexec) or die;
print $fh "#!/bin/sh\nexit 0\n";
close($fh);
chmod(0644, $noexec);
($rc) = run_tool('-d', $dsn, '-n', 'job', '--', $noexec);
is($rc, 126, 'a command that cannot be executed gives 126');
is(lease_count($node, 'job'), 0, 'every lease was released');

# The environment: LOCKABLE_NAME, LOCKABLE_TOKEN = the lease's token
($rc, $out, $err) = run_tool(
	'-d', $dsn, '-n', 'report', '--ttl', '30s', '--',
	'sh', '-c',
	'echo "$LOCKABLE_NAME $LOCKABLE_TOKEN"; '
	  . 'psql -XAtq -d "$LR_DSN" -c '
	  . '"SELECT token, ttl, keepalive FROM lockable_leases WHERE name = \'report\'"');
is($rc, 0, 'a command reading the lease');
like($out, qr/^report (\d+)\n\1\|00:00:30\|f$/,
	'LOCKABLE_NAME and LOCKABLE_TOKEN are the lease, a plain one with the ttl given'
);
is(lease_count($node, 'report'), 0, 'the lease is released after the command');

# Connection defaults from the PG* environment, as psql
{
	local $ENV{PGHOST} = $node->host;
	local $ENV{PGPORT} = $node->port;
	local $ENV{PGDATABASE} = 'postgres';
	($rc) = run_tool('-n', 'env', '--', 'sh', '-c', 'exit 4');
	is($rc, 4, 'without --dbname, the PG* environment is used');
}

#
# A busy lease: the conflict exit code, the command does not run.
#
my $holder = sql("SELECT lockable_acquire('busy', '5 min')");
($rc, $out, $err) = run_tool('-d', $dsn, '-n', 'busy', '--', 'touch', $marker);
is($rc, 75, 'busy: exit status 75 by default');
like($err, qr/lease "busy" is busy/, 'busy: message');
ok(!-e $marker, 'busy: the command did not run');

($rc, $out, $err) =
  run_tool('-d', $dsn, '-n', 'busy', '-E', '1', '--', 'touch', $marker);
is($rc, 1, 'busy: -E sets the exit status');

($rc, $out, $err) = run_tool('-d', $dsn, '-n', 'busy', '--conflict-exit-code',
	'0', '--quiet', '--', 'touch', $marker);
is($rc, 0, 'busy: --conflict-exit-code 0');
is($err, '', 'busy: --quiet prints nothing');
ok(!-e $marker, 'busy: the command still did not run');

($rc, $out, $err, $secs) =
  run_tool('-d', $dsn, '-n', 'busy', '--wait', '500ms', '--', 'touch', $marker);
is($rc, 75, 'busy after --wait 500ms: exit status 75');
like($err, qr/gave up after 500ms/, 'busy after --wait: message');
cmp_ok($secs, '>=', 0.4, 'it waited');

# --wait: queued behind the holder, runs when the holder releases
my $run = start_tool('-d', $dsn, '-n', 'busy', '--wait', '1m', '--',
	'sh', '-c', 'echo "ran with $LOCKABLE_TOKEN"; exit 5');
ok(wait_for_waiters($node, 'busy', 1), '--wait: queued behind the holder');
is(sql("SELECT lockable_release('busy', $holder)"), 't', 'the holder releases');
$rc = finish_tool($run);
is($rc, 5, '--wait: the command ran once the lease was free');
like($run->{out}, qr/^ran with (\d+)$/, '--wait: with a token');
$run->{out} =~ /(\d+)/;
cmp_ok($1, '>', $holder, '--wait: a newer token than the holder\'s');
is(lease_count($node, 'busy'), 0, '--wait: released afterwards');

# A signal while waiting for the lease cancels the wait
$holder = sql("SELECT lockable_acquire('busy', '5 min')");
$run = start_tool('-d', $dsn, '-n', 'busy', '--wait', 'forever', '--',
	'touch', $marker);
ok(wait_for_waiters($node, 'busy', 1), '--wait forever: queued');
$run->{h}->signal('TERM');
$rc = finish_tool($run);
is($rc, 128 + 15, 'SIGTERM while waiting: exit status 143');
ok(wait_for_waiters($node, 'busy', 0), 'SIGTERM while waiting: no longer queued');
ok(!-e $marker, 'SIGTERM while waiting: the command did not run');
sql("SELECT lockable_release('busy', $holder)");

#
# --slots N and --shared: several runs hold one name at once.
#

# Start a run of lockable-run with @opts for lease $name whose command
# says "ready <token>", then holds the lease until end_holder().
my $holders_started = 0;

sub start_holder
{
	my ($name, @opts) = @_;
	my $go = "$tempdir/holder-go-" . ++$holders_started;
	my $run = start_tool('-d', $dsn, '-n', $name, @opts, '--', 'sh', '-c',
		'echo "ready $LOCKABLE_TOKEN"; while [ ! -e "$1" ]; do sleep 0.1; done',
		'sh', $go);
	$run->{go} = $go;
	return $run;
}

# Wait until the holder's command runs; returns its token (undef if the
# run ended without running it)
sub holder_token
{
	my ($run) = @_;
	return wait_output($run, qr/^ready \d+$/m)
	  ? ($run->{out} =~ /^ready (\d+)$/m)[0]
	  : undef;
}

# Let the holder's command end; returns lockable-run's exit status
sub end_holder
{
	my ($run) = @_;
	open(my $t, '>', $run->{go}) or die "$run->{go}: $!";
	close($t);
	return finish_tool($run);
}

# The queue of lease NAME (lockable_leases repeats it on every holder's row)
sub queued
{
	my ($name, $n) = @_;
	return $node->poll_query_until('postgres',
		"SELECT coalesce(max(waiters), 0) = $n FROM lockable_leases WHERE name = '$name'"
	);
}

# The tokens that hold NAME, and their slots and mode: "token|slots|shared"
sub holders
{
	my ($name) = @_;
	return sql("SELECT string_agg(format('%s|%s|%s', token, slots, shared), ' ' ORDER BY token) "
		  . "FROM lockable_leases WHERE name = '$name'");
}

# Three runs of --slots 2 started at once: two run, the third is busy.
my @runs = map { start_holder('pool', '--slots', '2') } (1 .. 3);
ok( wait_until(
		sub { scalar(grep { process_gone(pid_of($_)) } @runs) == 1 }),
	'--slots 2, three runs at once: one of them exits');
my ($busy) = grep { process_gone(pid_of($_)) } @runs;
my @holding = grep { $_ != $busy } @runs;
is(finish_tool($busy), 75, '--slots 2: the third run is busy (exit status 75)');
like($busy->{err}, qr/lease "pool" is busy \(no slot of 2 free/,
	'--slots 2: the busy message says no slot is free');
is($busy->{out}, '', '--slots 2: the busy run\'s command did not run');
my @tokens = map { holder_token($_) } @holding;
ok(defined $tokens[0] && defined $tokens[1] && $tokens[0] != $tokens[1],
	'--slots 2: the other two run, each with a token of its own');
is(holders('pool'),
	join(' ', map { "$_|2|f" } sort { $a <=> $b } @tokens),
	'--slots 2: lockable_leases shows both holders with slots 2, not shared');

# --wait: queued for a slot, runs when one frees
my $waiter = start_holder('pool', '--slots', '2', '--wait', '1m', '--verbose');
ok(queued('pool', 1), '--slots 2 --wait: the fourth run waits for a slot');
is(end_holder($holding[0]), 0, '--slots 2: a holder ends, releasing its slot');
my $waiter_token = holder_token($waiter);
ok(defined $waiter_token, '--slots 2 --wait: the waiting run got the slot');
cmp_ok($waiter_token // 0, '>', max(@tokens),
	'--slots 2 --wait: with a token newer than the holders\'');
like($waiter->{err},
	qr/acquired lease "pool" \(one of 2 slots\) with token $waiter_token/,
	'--verbose says which kind of lease was taken');
is(lease_count($node, 'pool'), 2, '--slots 2: still two holders');

# A --slots that differs from the holders': the server's error, exit 69,
# nothing held disturbed
my $before_mismatch = holders('pool');
($rc, $out, $err) =
  run_tool('-d', $dsn, '-n', 'pool', '--slots', '3', '--', 'touch', $marker);
is($rc, 69, '--slots 3 while held with 2: exit status 69');
note("lockable-run said: $err");
like($err,
	qr/could not acquire lease "pool": ERROR: +lease "pool" is held with slots = 2 .*asked for slots = 3/,
	'--slots 3 while held with 2: the server\'s message, naming both numbers');
($rc, $out, $err) = run_tool('-d', $dsn, '-n', 'pool', '--', 'touch', $marker);
is($rc, 69, 'no --slots while held with 2: exit status 69');
like($err, qr/lease "pool" is held with slots = 2 .*asked for slots = 1/,
	'no --slots while held with 2: the same error');
ok(!-e $marker, 'a mismatched --slots: the command did not run');
is(holders('pool'), $before_mismatch,
	'a mismatched --slots: the holders keep their slots');

is(end_holder($holding[1]), 0, '--slots 2: the second holder ends well');
is(end_holder($waiter), 0, '--slots 2: the run that waited ends well');
is(lease_count($node, 'pool'), 0, '--slots 2: every slot was released');

# --shared: readers run together; a writer is refused or waits, and
# readers that come after a waiting writer do not overtake it.
my @readers = map { start_holder('catalog', '--shared') } (1 .. 3);
my @reader_tokens = map { holder_token($_) } @readers;
is(scalar(grep { defined } @reader_tokens), 3, '--shared: three runs hold the lease together');
is(holders('catalog'),
	join(' ', map { "$_|1|t" } sort { $a <=> $b } @reader_tokens),
	'--shared: lockable_leases shows three shared holders');

($rc, $out, $err) =
  run_tool('-d', $dsn, '-n', 'catalog', '--', 'touch', $marker);
is($rc, 75, 'a run without --shared while shared runs hold it: busy');
like($err, qr/lease "catalog" is busy \(held by someone else\)/,
	'without --shared: the plain busy message');
ok(!-e $marker, 'without --shared: the command did not run');

my $writer = start_holder('catalog', '--wait', '1m');
ok(queued('catalog', 1), 'a writer with --wait waits for the readers');
($rc, $out, $err) =
  run_tool('-d', $dsn, '-n', 'catalog', '--shared', '--', 'touch', $marker);
is($rc, 75, 'a later --shared run does not overtake the waiting writer');
like($err,
	qr/lease "catalog" is busy \(held without --shared, or others are waiting first\)/,
	'--shared busy: the message says why');
ok(!-e $marker, '--shared busy: the command did not run');
my $late_reader = start_holder('catalog', '--shared', '--wait', '1m');
ok(queued('catalog', 2), 'a later --shared run with --wait queues behind the writer');

is(end_holder($_), 0, '--shared: a reader ends well') foreach @readers;
my $writer_token = holder_token($writer);
ok(defined $writer_token, 'the writer runs once the readers are gone');
cmp_ok($writer_token // 0, '>', max(@reader_tokens),
	'the writer\'s token is newer than the readers\'');
is(holders('catalog'), "$writer_token|1|f", 'the writer holds the lease alone');
ok(queued('catalog', 1), 'the late reader still waits while the writer runs');
is(end_holder($writer), 0, 'the writer ends well');
my $late_token = holder_token($late_reader);
cmp_ok($late_token // 0, '>', $writer_token, 'then the late reader runs');
is(end_holder($late_reader), 0, 'the late reader ends well');
is(lease_count($node, 'catalog'), 0, '--shared: every holder released the lease');

# --shared --slots 2: at most two readers
@readers = map { start_holder('capped', '--shared', '--slots', '2') } (1 .. 2);
ok(defined holder_token($readers[0]) && defined holder_token($readers[1]),
	'--shared --slots 2: two readers run together');
($rc, $out, $err) = run_tool('-d', $dsn, '-n', 'capped', '--shared', '--slots',
	'2', '--', 'touch', $marker);
is($rc, 75, '--shared --slots 2: a third reader is busy');
like($err, qr/lease "capped" is busy \(no shared slot of 2 free/,
	'--shared --slots 2: the message says so');
is(end_holder($_), 0, '--shared --slots 2: a reader ends well') foreach @readers;

# A database whose extension is still at 1.2: plain runs work as before,
# --slots and --shared say that the extension must be updated.
sql('CREATE DATABASE old_ext');
$node->safe_psql('old_ext', "CREATE EXTENSION lockable VERSION '1.2'");
my $old_dsn = $node->connstr('old_ext');
($rc, $out, $err) = run_tool('-d', $old_dsn, '-n', 'job', '--', 'sh', '-c', 'exit 3');
is($rc, 3, 'extension 1.2: a run without --slots or --shared works');
is($err, '', 'extension 1.2: without complaint');
foreach my $opt ([ '--slots', '2' ], ['--shared'])
{
	($rc, $out, $err) =
	  run_tool('-d', $old_dsn, '-n', 'job', @$opt, '--', 'touch', $marker);
	is($rc, 69, "extension 1.2, @$opt: exit status 69");
	like($err,
		qr/--slots and --shared need version 1\.3 of the lockable extension, and this database has 1\.2: update it with ALTER EXTENSION lockable UPDATE/,
		"extension 1.2, @$opt: says to update the extension");
}
ok(!-e $marker, 'extension 1.2: the command did not run');
($rc, $out, $err) = run_tool('-d', $node->connstr('template1'), '-n', 'x',
	'--slots', '2', '--', 'touch', $marker);
is($rc, 69, 'no extension, --slots: exit status 69');
like($err, qr/is the lockable extension installed in this database \(CREATE EXTENSION lockable\)\?/,
	'no extension, --slots: says to install it, not to update it');

#
# The lease is lost while the command runs: force-released by an
# administrator.  The command is killed, the lost exit code returned.
#
$run = start_tool('-d', $dsn, '-n', 'lost', '--ttl', '10s', '--heartbeat',
	'500ms', '--', 'sleep', '30');
wait_lease('lost');
is(sql("SELECT lockable_force_release('lost')"), 't', 'force-released');
$rc = finish_tool($run);
is($rc, 76, 'lease lost: exit status 76');
like($run->{err}, qr/lease "lost" lost: the server says it is no longer held.*sending SIGTERM/,
	'lease lost: message');
cmp_ok($run->{elapsed}, '<', 15, 'lease lost: the command was stopped early');

# A command that ignores SIGTERM gets SIGKILL after --kill-after, and
# --lost-exit-code and --kill-signal are honoured.
$run = start_tool('-d', $dsn, '-n', 'lost', '--ttl', '10s', '--heartbeat',
	'500ms', '--kill-signal', 'SIGUSR1', '--kill-after', '1s',
	'--lost-exit-code', '111', '--',
	'sh', '-c', 'trap "" USR1; echo ready; sleep 30');
wait_output($run, qr/ready/);
wait_lease('lost');
sql("SELECT lockable_force_release('lost')");
$rc = finish_tool($run);
is($rc, 111, 'lease lost: --lost-exit-code');
like($run->{err}, qr/sending SIGUSR1.*still running 1s after SIGUSR1; sending SIGKILL/s,
	'lease lost: --kill-signal, then SIGKILL after --kill-after');
cmp_ok($run->{elapsed}, '<', 15, 'lease lost: the command was killed early');

# The command ends on SIGTERM, but a process it started ignores it: that
# one gets SIGKILL after --kill-after too, and lockable-run exits only once
# the whole process group is gone.
$run = start_tool('-d', $dsn, '-n', 'lost', '--ttl', '10s', '--heartbeat',
	'500ms', '--kill-after', '1s', '--', 'sh', '-c',
	'(trap "" TERM; exec sleep 600) >/dev/null 2>&1 & echo "pids $$ $!"; wait');
ok(wait_output($run, qr/^pids \d+ \d+$/m), 'lease lost: the command and its child run');
my ($lost_sh, $lost_bg) = $run->{out} =~ /^pids (\d+) (\d+)$/m;
wait_lease('lost');
sql("SELECT lockable_force_release('lost')");
$rc = finish_tool($run);
is($rc, 76, 'lease lost, child ignoring SIGTERM: exit status 76');
ok(process_gone($lost_bg),
	'lease lost: the process left in the group was killed before lockable-run exited');
like($run->{err},
	qr/processes of the command's process group are still running 1s after SIGTERM; sending SIGKILL/,
	'lease lost: SIGKILL for the rest of the group');
kill('KILL', $lost_bg) unless process_gone($lost_bg);

# Lost between two heartbeats: found when releasing
($rc, $out, $err) = run_tool('-d', $dsn, '-n', 'lost', '--', 'sh', '-c',
	'psql -XAtq -d "$LR_DSN" -c "SELECT lockable_force_release(\'lost\')"');
is($rc, 76, 'lease gone when the command ended: exit status 76');
like($err, qr/no longer held with token \d+ when the command ended/,
	'lease gone when the command ended: message');

#
# Signals to lockable-run are forwarded to the command, the lease released.
#
# (sleep's output goes elsewhere: the harness waits for the end of the
# output, and this measures lockable-run, not when sleep dies)
$run = start_tool('-d', $dsn, '-n', 'signal', '--', 'sh', '-c',
	'trap "echo got TERM; exit 7" TERM; sleep 30 >/dev/null 2>&1 & echo ready; wait');
ok(wait_output($run, qr/ready/), 'the command is running');
$run->{h}->signal('TERM');
$rc = finish_tool($run);
is($rc, 7, 'SIGTERM: the command\'s exit status');
like($run->{out}, qr/got TERM/, 'SIGTERM was forwarded to the command');
is(lease_count($node, 'signal'), 0, 'SIGTERM: the lease was released');
cmp_ok($run->{elapsed}, '<', 15, 'SIGTERM: did not wait for the command\'s sleep');

$run = start_tool('-d', $dsn, '-n', 'signal', '--', 'sh', '-c',
	'echo ready; exec sleep 30');
ok(wait_output($run, qr/ready/), 'the command is running');
$run->{h}->signal('TERM');
$rc = finish_tool($run);
is($rc, 128 + 15, 'SIGTERM: a command killed by it gives 143');
is(lease_count($node, 'signal'), 0, 'SIGTERM: the lease was released');

# If lockable-run itself is killed, the command gets --kill-signal (Linux)
SKIP:
{
	skip 'PR_SET_PDEATHSIG is Linux only', 2 unless $^O eq 'linux';
	$run = start_tool('-d', $dsn, '-n', 'orphan', '--', 'sh', '-c',
		'echo $$; exec sleep 30');
	wait_output($run, qr/^\d+\n/);
	my ($child) = $run->{out} =~ /^(\d+)/;
	kill 'KILL', pid_of($run);
	$rc = finish_tool($run);
	is($rc, 'signal 9', 'lockable-run killed');
	my $deadline = time() + 10;
	usleep(50_000) while !process_gone($child) && time() < $deadline;
	ok(process_gone($child), 'its command was stopped too');
}

#
# A restart shorter than the ttl: the tool reconnects and goes on renewing
# (clean shutdowns keep plain leases).
#
my $go = "$tempdir/go";
$run = start_tool('-d', $dsn, '-n', 'restart', '--ttl', '30s', '--heartbeat',
	'500ms', '--', 'sh', '-c',
	'while [ ! -e "$1" ]; do sleep 0.1; done; exit 4', 'sh', $go);
wait_lease('restart');
$node->restart;
# renewals counted before the shutdown are restored with the lease
my $before = sql("SELECT renewals FROM lockable_leases WHERE name = 'restart'");
ok( $node->poll_query_until(
		'postgres',
		"SELECT renewals > $before FROM lockable_leases WHERE name = 'restart'"),
	'restart: renewed again after the restart');
open($fh, '>', $go) or die;
close($fh);
$rc = finish_tool($run);
is($rc, 4, 'restart: the command ran to its end');
like($run->{err}, qr/lost the connection to the database.*renewed again/s,
	'restart: reported the outage and the recovery');
is(lease_count($node, 'restart'), 0, 'restart: released afterwards');

# A restart while the connection is idle, and the command ends before the
# next heartbeat: the release notices the closed connection and reconnects.
my $go2 = "$tempdir/go2";
$run = start_tool('-d', $dsn, '-n', 'restart', '--ttl', '60s', '--',
	'sh', '-c', 'while [ ! -e "$1" ]; do sleep 0.1; done', 'sh', $go2);
wait_lease('restart');
$node->restart;
open($fh, '>', $go2) or die;
close($fh);
$rc = finish_tool($run);
is($rc, 0, 'restart between heartbeats: the command\'s status');
is($run->{err}, '', 'restart between heartbeats: no complaint');
is(lease_count($node, 'restart'), 0, 'restart between heartbeats: released');

#
# The server freezes (SIGSTOP on all of its processes): heartbeats hang,
# and nobody can tell lockable-run that the lease ends.  The command ignores
# SIGTERM, and so does the process it started.  Both must be gone before
# the lease can expire on the server: the deadline of the lease's last
# renewal, ttl after the server ran it.  (Before the fix the command got
# --kill-signal at that deadline and SIGKILL only --kill-after later.)
#
# The ttl is long enough for the safety margin (ttl/10) to dwarf a busy
# machine's scheduling delays; the lease's deadline is read from the server
# while lockable-run is stopped, so that no renewal can move it unseen.
#
$run = start_tool('-d', $dsn, '-n', 'frozen', '--ttl', '15s', '--heartbeat',
	'1s', '--kill-after', '3s', '--', 'sh', '-c',
	'trap "" TERM; sleep 600 >/dev/null 2>&1 & echo "pids $$ $!"; wait');
ok(wait_output($run, qr/^pids \d+ \d+$/m), 'frozen server: the command is running');
my ($cmd_pid, $bg_pid) = $run->{out} =~ /^pids (\d+) (\d+)$/m;
wait_lease('frozen');

# Stop lockable-run, let a heartbeat it may have sent land, and read the
# deadline: as seconds left, added to the monotonic clock read before the
# query (the server's deadline is at least that).
kill('STOP', pid_of($run));
my ($deadline, $seen) = (undef, '');
for (my $i = 0; $i < 50; $i++)
{
	usleep(200_000);
	my $t0 = monotonic();
	my $row = sql(
		"SELECT renewals, extract(epoch FROM expires_at - clock_timestamp()) "
		  . "FROM lockable_leases WHERE name = 'frozen'");
	my ($renewals, $left) = split /\|/, $row;
	$deadline = $t0 + $left;
	last if $renewals eq $seen;    # no renewal landed meanwhile
	$seen = $renewals;
}
freeze_node();
my $frozen_at = monotonic();
kill('CONT', pid_of($run));
note(sprintf('froze the server (%d processes) %.3fs before the lease deadline',
		scalar(@frozen), $deadline - $frozen_at));

# Watch both processes until they are gone (or well past the deadline)
my %gone_at;
while (keys %gone_at < 2 && monotonic() < $deadline + 30)
{
	foreach my $pid ($cmd_pid, $bg_pid)
	{
		$gone_at{$pid} //= monotonic() if process_gone($pid);
	}
	usleep(20_000);
}
my $left_cmd = $deadline - ($gone_at{$cmd_pid} // monotonic());
my $left_bg = $deadline - ($gone_at{$bg_pid} // monotonic());
ok(defined $gone_at{$cmd_pid} && $left_cmd > 0,
	'frozen server: the command was stopped before the lease deadline')
  or diag(sprintf('the command was %s %.3fs after the deadline',
		defined $gone_at{$cmd_pid} ? 'gone' : 'still running', -$left_cmd));
ok(defined $gone_at{$bg_pid} && $left_bg > 0,
	'frozen server: so was the rest of its process group')
  or diag(sprintf('the background process was %s %.3fs after the deadline',
		defined $gone_at{$bg_pid} ? 'gone' : 'still running', -$left_bg));
note(sprintf('stopped %.3fs and %.3fs before the deadline', $left_cmd, $left_bg));
kill('KILL', $bg_pid) unless defined $gone_at{$bg_pid};

thaw_node();
$rc = finish_tool($run);
is($rc, 76, 'frozen server: exit status 76');
like($run->{err},
	qr/lease "frozen" lost: no heartbeat succeeded .*sending SIGTERM.*sending SIGKILL/s,
	'frozen server: SIGTERM, then SIGKILL');
note("lockable-run said:\n$run->{err}");
is(sql('SELECT 1'), '1', 'the server runs again');

#
# The database goes away for longer than the ttl: the command is killed
# once the renewal window (ttl - kill-after - margin) has passed without a
# heartbeat.
#
$run = start_tool('-d', $dsn, '-n', 'gone', '--ttl', '3s', '--', 'sleep', '30');
wait_lease('gone');
$node->stop('fast');
$rc = finish_tool($run);
is($rc, 76, 'database gone: exit status 76');
like($run->{err},
	qr/lease "gone" lost: no heartbeat succeeded within 1\.5s \(the ttl of 3s, less 500ms to stop the command and a safety margin of 1s\)/,
	'database gone: message');
cmp_ok($run->{elapsed}, '<', 15, 'database gone: the command was stopped early');

done_testing();
