# Copyright (c) 2026, the lockable authors
#
# lockable_run() under the real pg_cron (Debian's postgresql-15-cron, 1.4),
# preloaded beside lockable.
#
# On a node where pg_cron runs each job on a libpq connection of its own
# (its default mode), two jobs, 'report-a' and 'report-b', both scheduled
# every minute, run the same report under the lease "report":
#
#     SELECT WHERE lockable_run('report', 'SELECT slow_report(''a'')', '2 s')
#
# The first run of the report takes 65 s, over the next minute's trigger;
# later runs take 2 s (to keep the test short).  At the first minute both
# jobs start: one runs the report, the other is skipped.  At the next
# minute the report is still running: the other job is skipped again, and
# pg_cron queues the running job's own next run (pg_cron never runs one job
# twice at once) and starts it as soon as the long run ends.  The test
# checks that:
#
# - no two runs of the report overlap, and each held the lease from its
#   start to its end, 65 s on a 2 s ttl: the worker kept it alive;
# - the skipped runs are visible: cron.job_run_details says "0 rows" for
#   them and "1 row" for the runs that ran (pg_cron records a row count or
#   a command tag, never the value returned: hence the SELECT WHERE), and
#   the server log has the reason ("lockable_run: lease "report" is held by
#   another session (pid N, since T); skipped"), naming the pid of the run
#   holding it;
# - the lease is released when the report ends.
#
# A second node, at the same time, runs its jobs in background workers
# (cron.use_background_workers = on), where cron.job_run_details says
# "SELECT 0" / "SELECT 1".  Its first run takes only 5 s: in pg_cron 1.4's
# background-worker mode the scheduler blocks on a running job's message
# queue and starts or finishes no other job until that job ends (pg_cron
# issue #200, fixed in 1.5), so a long run would show nothing about leases.
#
# lockable_run() called directly (no pg_cron needed) is checked while the
# first minute is awaited: argument errors, return values, release on
# error, on statement_timeout and on a procedure's COMMIT (which fails in a
# function), the lease ending with a terminated session, the skip message
# naming the holder, no re-entry, and the command running with the caller's
# rights.
#
# pg_cron 1.4 schedules by the minute (its '[1-59] seconds' schedules came
# with 1.5), so the test takes from 70 s to 2 min 10 s, depending on when
# in the minute it starts.
#
# A third node (libpq mode) checks lockable_run(..., slots => 2), "at most
# N parallel runs": four jobs start the same command, a run of 3 s under the
# counting lease "pool", every second (pg_cron 1.5 and later) or together
# at the minute (1.4).  Never more than two runs go on at once, and the
# jobs that find both slots taken are skipped.  This is done while the
# other nodes wait for their minutes.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use LockableTest;
use Time::HiRes qw(usleep time);

my $started = time();

# Debian has pg_cron for every supported PostgreSQL but 19 (its server is
# still in experimental): without pg_cron there is nothing to test here.
#
# pg_cron 1.4 passes a job's NOTICE on to the server log itself; 1.6.8 does
# not, and there it reaches the log only as the job's own backend logs it,
# with log_min_messages = notice (what the README tells its users to set).
my $cron_relays_notices;
my $cron_seconds;
{
	my $probe = PostgreSQL::Test::Cluster->new('probe');
	my $pkglibdir = $probe->config_data('--pkglibdir');
	plan skip_all => "pg_cron is not installed ($pkglibdir/pg_cron.so)"
	  unless -f "$pkglibdir/pg_cron.so";
	my $control = slurp_file(
		$probe->config_data('--sharedir') . '/extension/pg_cron.control');
	my ($default_version) = $control =~ /^default_version\s*=\s*'([^']+)'/m;
	$cron_relays_notices = $default_version =~ /^1\.4/;
	$cron_seconds = $default_version !~ /^1\.[0-4](\D|$)/;
	note "pg_cron $default_version";
}

#
# Two nodes, pg_cron and lockable preloaded, one per pg_cron mode.
#
sub cron_node
{
	my ($name, $background_workers) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	my $conf = q{
shared_preload_libraries = 'pg_cron,lockable'
cron.database_name = 'postgres'
lockable.worker_naptime = 100ms
};
	if ($background_workers)
	{
		$conf .= "cron.use_background_workers = on\n"
		  . "max_worker_processes = 16\n";
	}
	else
	{
		# pg_cron connects to cron.host (default localhost over TCP); the
		# test node listens on a unix socket only.
		$conf .= "cron.host = '" . $node->host . "'\n";
	}
	$conf .= "log_min_messages = notice\n" unless $cron_relays_notices;
	$node->append_conf('postgresql.conf', $conf);
	return $node;
}

my %nodes = (
	libpq => cron_node('cron_libpq', 0),
	bgw => cron_node('cron_bgw', 1),
	pool => cron_node('cron_pool', 0));
# The four jobs of the pool may all run at once, as far as pg_cron goes.
$nodes{pool}->append_conf('postgresql.conf', "cron.max_running_jobs = 8\n");

my $sharedir = $nodes{libpq}->config_data('--sharedir');
plan skip_all => 'pg_cron is not installed (postgresql-15-cron)'
  unless -f "$sharedir/extension/pg_cron.control";
my @modes = ('libpq', 'bgw');

# What cron.job_run_details.return_message says for a run that ran the
# report (one row), and for a skipped run (no row).
my %ran_msg = (libpq => '1 row', bgw => 'SELECT 1');
my %skip_msg = (libpq => '0 rows', bgw => 'SELECT 0');

# How long the first run of the report takes (see above), and what to wait
# for: on the libpq node the first two runs and the skips of the first
# minute and of the next, while the first run still goes on; on the other,
# the first minute's run and skip.
my %first_run = (libpq => 65, bgw => 5);
my %min_runs = (libpq => 2, bgw => 1);
my %skips = (libpq => 2, bgw => 1);

$_->start for values %nodes;

# The report: record when it started and ended, and whether this session
# held the lease "report" at both moments.  The first run takes
# test.first_run seconds (65 or 5, see above), later ones 2 s.
my $setup = q{
CREATE EXTENSION pg_cron;
CREATE EXTENSION lockable;
CREATE TABLE runs (
    id serial PRIMARY KEY,
    job text,
    pid integer,
    started timestamptz,
    finished timestamptz,
    held_at_start boolean,
    held_at_end boolean);
CREATE FUNCTION slow_report(who text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    held0 boolean := EXISTS (SELECT FROM lockable_leases
                             WHERE name = 'report' AND pid = pg_backend_pid());
BEGIN
    PERFORM pg_sleep(CASE WHEN EXISTS (SELECT FROM runs) THEN 2
                          ELSE current_setting('test.first_run')::float8 END);
    INSERT INTO runs (job, pid, started, finished, held_at_start, held_at_end)
    VALUES (who, pg_backend_pid(), t0, clock_timestamp(), held0,
            EXISTS (SELECT FROM lockable_leases
                    WHERE name = 'report' AND pid = pg_backend_pid()));
END $$;
};

# Both jobs in one transaction, so that pg_cron sees them at the same
# minute.
my $schedule = q{
BEGIN;
SELECT cron.schedule('report-a', '* * * * *',
    $$SELECT WHERE lockable_run('report', 'SELECT slow_report(''a'')', '2 s')$$);
SELECT cron.schedule('report-b', '* * * * *',
    $$SELECT WHERE lockable_run('report', 'SELECT slow_report(''b'')', '2 s')$$);
COMMIT;
};

for my $mode (@modes)
{
	$nodes{$mode}->safe_psql('postgres',
		$setup
		  . "ALTER DATABASE postgres SET test.first_run = $first_run{$mode};");
}
$nodes{$_}->safe_psql('postgres', $schedule) for @modes;
my $scheduled = time();
note sprintf('jobs scheduled %.1f s after the start', $scheduled - $started);

is( $nodes{libpq}->safe_psql(
		'postgres', q{SELECT nodename, nodeport FROM cron.job ORDER BY jobid}),
	join("\n", ($nodes{libpq}->host . '|' . $nodes{libpq}->port) x 2),
	'libpq mode: the jobs connect to the node\'s unix socket');

#
# lockable_run called directly, on the libpq node, while the first minute
# is awaited.  Lease names "direct-*" keep out of the jobs' way.
#
my $node = $nodes{libpq};

sub sql
{
	my ($query) = @_;
	return $node->safe_psql('postgres', $query);
}

# Run SQL in one psql session, going on after errors, with the SQLSTATE
# shown: (stdout, stderr).
sub psql_verbose
{
	my ($query) = @_;
	my ($ret, $stdout, $stderr) = $node->psql(
		'postgres',
		"\\set VERBOSITY verbose\n$query",
		on_error_stop => 0);
	return ($stdout, $stderr);
}

# Argument errors
my (undef, $err) = psql_verbose(q{SELECT lockable_run(NULL, 'SELECT 1')});
like($err, qr/ERROR:\s+22004: lease name must not be null/,
	'a NULL name is error 22004');
(undef, $err) = psql_verbose(q{SELECT lockable_run('direct', NULL)});
like($err, qr/ERROR:\s+22004: command must not be null/,
	'a NULL command is error 22004');
(undef, $err) = psql_verbose(qq{SELECT lockable_run('direct', E' \\n\\t')});
like($err, qr/ERROR:\s+22023: command must not be empty/,
	'an empty command is error 22023');
(undef, $err) = psql_verbose(q{SELECT lockable_run('', 'SELECT 1')});
like($err, qr/ERROR:\s+22023: lease name must not be empty/,
	'an empty name is lockable_acquire\'s error 22023');
(undef, $err) =
  psql_verbose(q{SELECT lockable_run('direct', 'SELECT 1', '-1 s')});
like($err, qr/ERROR:\s+22023: ttl must be positive/,
	'a negative ttl is lockable_acquire\'s error 22023');
is(lease_count($node, 'direct'), '0', 'no lease is left by the argument errors');

# A command that succeeds: true, its effects committed with the caller's
# transaction, the lease released.  Several statements are fine.
sql('CREATE TABLE direct_log (x int)');
my $acquired_before = stat_value($node, 'acquired');
my $released_before = stat_value($node, 'released');
is( sql(
		q{SELECT lockable_run('direct', 'INSERT INTO direct_log VALUES (1); INSERT INTO direct_log VALUES (2)')}
	),
	't',
	'lockable_run returns true when it ran the command');
is(sql('SELECT string_agg(x::text, \',\' ORDER BY x) FROM direct_log'),
	'1,2', 'the command ran');
is(lease_count($node, 'direct'), '0', 'the lease is released after the command');
cmp_ok(stat_value($node, 'acquired') - $acquired_before,
	'>=', 1, 'lockable_stats.acquired counts the lease');
cmp_ok(stat_value($node, 'released') - $released_before,
	'>=', 1, 'lockable_stats.released counts its release');

# A command that fails: the error reaches the caller with its SQLSTATE, the
# command's effects are rolled back, the lease is released.
(undef, $err) = psql_verbose(
	q{SELECT lockable_run('direct', 'INSERT INTO direct_log VALUES (3); SELECT 1/0')});
like($err, qr/ERROR:\s+22012: division by zero/,
	'an error in the command reaches the caller unchanged');
is(sql('SELECT count(*) FROM direct_log WHERE x = 3'),
	'0', 'the failed command\'s effects are rolled back');
is(lease_count($node, 'direct'), '0', 'the lease is released after an error');
like(sql(q{SELECT lockable_acquire('direct', '1 min')}),
	qr/^\d+$/, 'the name can be acquired again after the error');
is(sql(q{SELECT lockable_force_release('direct')}), 't', 'cleanup');

# statement_timeout (a cancel, which WHEN OTHERS does not catch) releases
# the lease too, before the session ends: seen from the same session.
my $out;
($out, $err) = psql_verbose(
	q{SET statement_timeout = '300ms';
SELECT lockable_run('direct-timeout', 'SELECT pg_sleep(60)');
RESET statement_timeout;
SELECT 'left: ' || count(*) FROM lockable_leases WHERE name = 'direct-timeout';});
like($err, qr/ERROR:\s+57014: canceling statement due to statement timeout/,
	'statement_timeout cancels the command');
like($out, qr/^left: 0$/m,
	'the lease is released at the cancel, while the session goes on');

# Transaction control inside the command fails: it runs inside a function.
sql(q{CREATE PROCEDURE direct_commit() LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO direct_log VALUES (4);
    COMMIT;
END $$});
(undef, $err) =
  psql_verbose(q{SELECT lockable_run('direct', 'CALL direct_commit()')});
like($err, qr/ERROR:\s+2D000: invalid transaction termination/,
	'a procedure that COMMITs fails with 2D000 inside lockable_run');
is(sql('SELECT count(*) FROM direct_log WHERE x = 4'),
	'0', 'and its work is rolled back');
is(lease_count($node, 'direct'), '0', 'the lease is released after it');

# SECURITY INVOKER: the command runs with the caller's rights.
sql(q{CREATE ROLE direct_user; CREATE TABLE direct_secret (x int)});
(undef, $err) = psql_verbose(
	q{SET ROLE direct_user;
SELECT lockable_run('direct-priv', 'INSERT INTO direct_secret VALUES (1)');});
like($err, qr/ERROR:\s+42501: permission denied for table direct_secret/,
	'the command runs with the caller\'s rights');
is(lease_count($node, 'direct-priv'), '0', 'the lease is released after it');

is( sql(
		q{SELECT prosecdef, provolatile, proparallel FROM pg_proc WHERE oid = 'lockable_run(text, text, interval, integer)'::regprocedure}
	),
	'f|v|u',
	'lockable_run is SECURITY INVOKER, VOLATILE, PARALLEL UNSAFE');

# A lease lost while the command ran (here the command force-releases it)
# is reported with a WARNING; the command did run.
($out, $err) = psql_verbose(
	q{SELECT lockable_run('direct-lost', $$SELECT lockable_force_release('direct-lost')$$)}
);
is($out, 't', 'a command that lost the lease still ran: true');
like(
	$err,
	qr/WARNING:\s+01000: lockable_run: lease "direct-lost" was lost while the command ran/,
	'with a WARNING that the lease was lost');

# Not re-entrant: the same name inside the command is skipped, and says so.
($out, $err) = psql_verbose(
	q{SELECT lockable_run('direct-nest', $$SELECT lockable_run('direct-nest', 'INSERT INTO direct_log VALUES (5)')$$)}
);
is($out, 't', 'the outer lockable_run ran');
like(
	$err,
	qr/NOTICE:\s+00000: lockable_run: lease "direct-nest" is held by this session \(pid \d+, since [^)]+\); leases are not re-entrant; skipped/,
	'the inner one on the same name is skipped: this session holds it');
is(sql('SELECT count(*) FROM direct_log WHERE x = 5'),
	'0', 'the inner command did not run');

# Another session holds the lease: false, the command does not run, the
# NOTICE and the LOG line name the holder.
my ($holder, $holder_pid, $held) =
  keepalive_session($node, 'direct-held', '1 min');
like($held, qr/^\d+$/, 'a second session holds direct-held');
my $refused_before = stat_value($node, 'refused');
my $log_offset = -s $node->logfile;
($out, $err) = psql_verbose(
	q{SELECT lockable_run('direct-held', 'INSERT INTO direct_log VALUES (6)')});
is($out, 'f', 'lockable_run returns false when the lease is taken');
like(
	$err,
	qr/NOTICE:\s+00000: lockable_run: lease "direct-held" is held by another session \(pid $holder_pid, since [^)]+\); skipped/,
	'the NOTICE names the holder\'s pid');
is(sql('SELECT count(*) FROM direct_log WHERE x = 6'),
	'0', 'the command did not run');
ok( $node->log_contains(
		qr/LOG:\s+lockable_run: lease "direct-held" is held by another session \(pid $holder_pid, since [^)]+\); skipped/,
		$log_offset),
	'the server log has the reason too');
cmp_ok(stat_value($node, 'refused') - $refused_before,
	'>=', 1, 'lockable_stats.refused counts the skip');
$holder->quit;

# The session running the command is terminated: its keepalive lease ends
# with it, at once.
my ($victim, $victim_pid) = start_query($node,
	"SELECT lockable_run('direct-kill', 'SELECT pg_sleep(600)', '1 min');");
ok( $node->poll_query_until(
		'postgres',
		"SELECT keepalive FROM lockable_leases WHERE name = 'direct-kill' AND pid = $victim_pid"
	),
	'a running command holds a keepalive lease');
my $ended_before = stat_value($node, 'session_ended');
is(sql("SELECT pg_terminate_backend($victim_pid)"),
	't', 'the session running the command is terminated');
ok( $node->poll_query_until(
		'postgres',
		"SELECT NOT EXISTS (SELECT FROM lockable_leases WHERE name = 'direct-kill')"
	),
	'its lease ends with the session');
cmp_ok(stat_value($node, 'session_ended') - $ended_before,
	'>=', 1, 'lockable_stats.session_ended counts it');
# psql has exited with the connection: quitting it finds a broken pipe.
eval { $victim->quit; };

note sprintf('direct checks done %.1f s after the start', time() - $started);

#
# At most 2 parallel runs: lockable_run(..., slots => 2) on the pool node.
# Each run records when it started and ended, and whether its session held
# a slot of "pool" (slots = 2) at both moments.  Four jobs start it, every
# second, or with pg_cron 1.4 together at the next minute.
#
{
	my $pool = $nodes{pool};
	my $q = sub { return $pool->safe_psql('postgres', $_[0]); };

	# The table runs of the other nodes (and their report, unused here).
	$q->(
		$setup . q{
CREATE FUNCTION pool_run(who text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    held0 boolean := EXISTS (SELECT FROM lockable_leases
                             WHERE name = 'pool' AND slots = 2
                               AND pid = pg_backend_pid());
BEGIN
    PERFORM pg_sleep(3);
    INSERT INTO runs (job, pid, started, finished, held_at_start, held_at_end)
    VALUES (who, pg_backend_pid(), t0, clock_timestamp(), held0,
            EXISTS (SELECT FROM lockable_leases
                    WHERE name = 'pool' AND slots = 2
                      AND pid = pg_backend_pid()));
END $$;
});

	my @jobs = map { "pool-$_" } qw(a b c d);
	my $when = $cron_seconds ? '1 seconds' : '* * * * *';
	$q->(
		"BEGIN;\n"
		  . join(
			'',
			map {
				"SELECT cron.schedule('$_', '$when', \$\$SELECT WHERE lockable_run('pool', 'SELECT pool_run(''$_'')', '2 s', slots => 2)\$\$);\n"
			} @jobs)
		  . "COMMIT;\n");
	my $pool_scheduled = time();

	# Every second: several rounds of runs.  At the minute: one round, of
	# two runs and two skips.
	my $min_runs = $cron_seconds ? 6 : 2;
	my $min_skips = $cron_seconds ? 4 : 2;
	ok( $pool->poll_query_until(
			'postgres',
			qq{SELECT (SELECT count(*) FROM runs) >= $min_runs
                  AND (SELECT count(*) FROM cron.job_run_details
                       WHERE return_message = '0 rows') >= $min_skips}),
		"pool: $min_runs runs of the command and $min_skips skipped runs");
	note sprintf('pool: done %.1f s after scheduling',
		time() - $pool_scheduled);

	# Checked while the jobs may still run: pg_cron cancels the runs of a
	# job that is unscheduled or deactivated ("job canceled"), and every
	# second one is running.  So only what has ended is looked at; a run
	# records itself (and commits) before pg_cron learns its result.
	note "pool: runs of the command:\n"
	  . $q->(q{SELECT job, pid, started::time(3), finished::time(3),
                   held_at_start, held_at_end FROM runs ORDER BY started});
	is( $q->(q{SELECT count(*) FROM cron.job_run_details
             WHERE status IN ('succeeded', 'failed')
               AND (status <> 'succeeded' OR return_message NOT IN ('1 row', '0 rows'))}
		),
		'0',
		'pool: every run of the jobs succeeded, with "1 row" or "0 rows"');

	# The most runs at once: at some run's start, the runs going on then.
	is( $q->(q{SELECT max((SELECT count(*) FROM runs r2
                    WHERE r2.started <= r1.started AND r1.started < r2.finished))
            FROM runs r1}),
		'2',
		'pool: at most 2 runs went on at once, and 2 did');
	is($q->(q{SELECT bool_and(held_at_start AND held_at_end) FROM runs}),
		't', 'pool: every run held a slot from its start to its end');
	is( $q->(q{SELECT bool_and(finished - started >= interval '3 s') FROM runs}),
		't',
		'pool: each run took 3 s, on a 2 s ttl kept alive by the worker');
	is( $q->(q{SELECT count(*) FROM cron.job_run_details d
             WHERE d.return_message = '1 row'
               AND NOT EXISTS (SELECT FROM runs r WHERE r.pid = d.job_pid)}),
		'0',
		'pool: each run that says "1 row" ran the command');
	is( $q->(q{SELECT count(*) FROM runs r JOIN cron.job_run_details d ON d.job_pid = r.pid
             WHERE d.status IN ('succeeded', 'failed') AND d.return_message <> '1 row'}),
		'0',
		'pool: and no run that says otherwise (a skipped one) ran it');
	my $skipped = $q->(
		q{SELECT count(*) FROM cron.job_run_details WHERE return_message = '0 rows'});

	$q->(join(', ', 'SELECT 1', map { "cron.unschedule('$_')" } @jobs));
	ok( $pool->poll_query_until(
			'postgres',
			q{SELECT NOT EXISTS (SELECT FROM cron.job_run_details
                       WHERE status NOT IN ('succeeded', 'failed'))
               AND NOT EXISTS (SELECT FROM lockable_leases WHERE name = 'pool')}
		),
		'pool: once unscheduled, all runs end and every slot of "pool" is released');

	# The server log says why each skipped run was skipped (a run canceled
	# by the unschedule may have logged one more).
	my @skips = (slurp_file($pool->logfile) =~
		  /LOG:\s+lockable_run: lease "pool" (.*); skipped/g);
	cmp_ok(scalar(@skips), '>=', $skipped,
		'pool: the server log has the reason for each skipped run');
	ok( scalar(grep { /^has all of its slots taken \(slots = 2; held by pids \d+, \d+\)$/ } @skips),
		'pool: which says that both slots were taken, and by whom');
	cmp_ok($q->(q{SELECT refused FROM lockable_stats}),
		'>=', $skipped, 'pool: lockable_stats.refused counts them');
}

#
# pg_cron.  Wait until, on the libpq node, the report has run twice and a
# job was skipped at the first minute (the jobs start together) and at the
# second (the first run, 65 s long, is still going), at most about 2 min
# 10 s after scheduling; on the other node, until the first minute's run
# and skip are over.
#
my $deadline = $scheduled + 200;
$deadline = time() + $PostgreSQL::Test::Utils::timeout_default
  if time() + $PostgreSQL::Test::Utils::timeout_default > $deadline;

# Poll both nodes, and unschedule a node's jobs as soon as it is done, so
# that no further minute starts runs there.
my %done;
while (time() < $deadline && keys(%done) < @modes)
{
	for my $mode (grep { !$done{$_} } @modes)
	{
		my $n = $nodes{$mode};
		next
		  unless $n->safe_psql(
			'postgres', qq{SELECT (SELECT count(*) FROM runs) >= $min_runs{$mode}
          AND (SELECT count(*) FROM cron.job_run_details
               WHERE return_message = '$skip_msg{$mode}') >= $skips{$mode}}
		  ) eq 't';
		$n->safe_psql('postgres',
			q{SELECT cron.unschedule('report-a'), cron.unschedule('report-b')});
		$done{$mode} = 1;
		note sprintf('%s: done %.1f s after scheduling',
			$mode, time() - $scheduled);
	}
	usleep(250_000);
}
for my $mode (@modes)
{
	ok($done{$mode},
		"$mode: the report ran $min_runs{$mode} time(s) and a job was skipped $skips{$mode} time(s)"
	);
}

for my $mode (@modes)
{
	my $n = $nodes{$mode};
	my ($ran, $skip) = ($ran_msg{$mode}, $skip_msg{$mode});
	my $q = sub { return $n->safe_psql('postgres', $_[0]); };

	# Nothing left running: every run of the jobs has ended.
	ok( $n->poll_query_until(
			'postgres',
			q{SELECT NOT EXISTS (SELECT FROM cron.job_run_details
                       WHERE status NOT IN ('succeeded', 'failed'))
               AND NOT EXISTS (SELECT FROM lockable_leases WHERE name = 'report')}
		),
		"$mode: all runs ended and the lease \"report\" is released");

	note "$mode: cron.job_run_details:\n"
	  . $q->(q{SELECT d.jobid, d.job_pid, d.status, d.return_message,
                   d.start_time::time(3), d.end_time::time(3)
            FROM cron.job_run_details d
            ORDER BY d.start_time});
	note "$mode: runs of the report:\n"
	  . $q->(q{SELECT job, pid, started::time(3), finished::time(3),
                   held_at_start, held_at_end FROM runs ORDER BY started});

	is( $q->(qq{SELECT count(*) FROM cron.job_run_details
             WHERE status <> 'succeeded' OR return_message NOT IN ('$ran', '$skip')}
		),
		'0',
		"$mode: every run of the jobs succeeded, with \"$ran\" or \"$skip\"");

	# No two runs of the report at once, each inside the lease.
	is( $q->(q{SELECT count(*) FROM runs r1 JOIN runs r2
             ON r1.id < r2.id
            AND r1.started < r2.finished AND r2.started < r1.finished}),
		'0',
		"$mode: no two runs of the report overlap");
	is($q->(q{SELECT bool_and(held_at_start AND held_at_end) FROM runs}),
		't', "$mode: every run held the lease from its start to its end");
	cmp_ok(
		$q->(q{SELECT extract(epoch FROM finished - started) FROM runs ORDER BY started LIMIT 1}
		),
		'>=',
		$first_run{$mode},
		"$mode: the first run took $first_run{$mode} s, on a 2 s ttl kept alive by the worker"
	);

	# What pg_cron shows: "$ran" for each run that ran the report (the
	# same backend, by pid), "$skip" for each skipped one.
	is( $q->(qq{SELECT count(*) FROM cron.job_run_details WHERE return_message = '$ran'}
		),
		$q->(q{SELECT count(*) FROM runs}),
		"$mode: cron.job_run_details shows \"$ran\" exactly for the runs that ran the report"
	);
	is( $q->(qq{SELECT count(*) FROM cron.job_run_details d JOIN runs r ON r.pid = d.job_pid
             WHERE d.return_message = '$ran'}),
		$q->(q{SELECT count(*) FROM runs}),
		"$mode: and their job_pid is the backend that ran it");
	is( $q->(qq{SELECT count(*) FROM cron.job_run_details d JOIN runs r ON r.pid = d.job_pid
             WHERE d.return_message = '$skip'}),
		'0',
		"$mode: no skipped run ran the report");

	if ($first_run{$mode} > 60)
	{
		# The second minute's trigger came while the first run was going:
		# the other job was skipped then.
		is( $q->(qq{SELECT count(*) > 0 FROM cron.job_run_details d,
                 (SELECT started, finished FROM runs ORDER BY started LIMIT 1) f
             WHERE d.return_message = '$skip'
               AND d.start_time > f.started + interval '30 s'
               AND d.end_time < f.finished}),
			't',
			"$mode: the next minute's trigger, while the long run went on, was skipped"
		);

		# pg_cron did not start the job of the long run twice at once: it
		# queued that job's next run and started it when the long run had
		# ended, late, rather than at the minute.
		is( $q->(qq{WITH first_run AS (
                SELECT jobid, start_time, end_time FROM cron.job_run_details
                WHERE return_message = '$ran' ORDER BY start_time LIMIT 1),
              next_run AS (
                SELECT d.start_time FROM cron.job_run_details d JOIN first_run USING (jobid)
                WHERE d.start_time > first_run.start_time ORDER BY d.start_time LIMIT 1)
             SELECT next_run.start_time >= first_run.end_time
                AND next_run.start_time > date_trunc('minute', first_run.start_time) + interval '61 s'
             FROM first_run, next_run}),
			't',
			"$mode: pg_cron ran the long run's job again only after it, late (queued, not skipped)"
		);
	}

	# The server log says why each skipped run was skipped, naming the
	# pid of the run holding the lease.
	my $log = slurp_file($n->logfile);
	my @holders = ($log =~
		  /LOG:\s+lockable_run: lease "report" is held by another session \(pid (\d+), since [^)]+\); skipped/g
	);
	is( scalar(@holders),
		$q->(qq{SELECT count(*) FROM cron.job_run_details WHERE return_message = '$skip'}
		),
		"$mode: the server log has the reason for each skipped run");
	my %run_pids = map { $_ => 1 } split /\n/, $q->(q{SELECT pid FROM runs});
	is(scalar(grep { !$run_pids{$_} } @holders),
		0, "$mode: each names the pid of a run of the report");
	cmp_ok($q->(q{SELECT refused FROM lockable_stats}),
		'>=', scalar(@holders), "$mode: lockable_stats.refused counts them");
}

# The skip's NOTICE is not kept in cron.job_run_details (the command tag
# replaces it), but it reaches the server log.  pg_cron 1.4 passes it on:
# the launcher logs it in background-worker mode, libpq prints it to the
# launcher's stderr in libpq mode.  Later releases pass no job notices on
# (1.6.8); with log_min_messages = notice the job's backend logs it.
if ($cron_relays_notices)
{
	like(
		slurp_file($nodes{bgw}->logfile),
		qr/LOG:\s+cron job \d+: NOTICE: lockable_run: lease "report" is held by another session/,
		'bgw: the NOTICE of a skipped run is in the server log, from the pg_cron launcher'
	);
	like(
		slurp_file($nodes{libpq}->logfile),
		qr/^NOTICE:\s+lockable_run: lease "report" is held by another session/m,
		'libpq: the NOTICE of a skipped run is in the server log, from libpq in the launcher'
	);
}
else
{
	for my $mode (qw(bgw libpq))
	{
		like(
			slurp_file($nodes{$mode}->logfile),
			qr/NOTICE:\s+lockable_run: lease "report" is held by another session/,
			"$mode: the NOTICE of a skipped run is in the server log, from the job's backend"
		);
	}
}

$_->stop for values %nodes;

note sprintf('total %.1f s', time() - $started);
done_testing();
