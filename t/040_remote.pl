# Copyright (c) 2026, the lockable authors
#
# Remote mode against the stand-in service (t/remote_standin.py) on
# loopback, with a 3 s lease there:
#   - acquire, the worker's heartbeats past the remote lease, release, a
#     local expiry and the end of a keepalive session let go on the service;
#   - exclusion against another client of the service, and waiting for it;
#   - a lease taken away (heartbeat answered false) and heartbeats failing
#     (5xx: counted and retried; for longer than the lease: lost);
#   - errors that leave no lease behind: 401 (wrong or no token), refused
#     connection, a hung service against lockable.remote_timeout,
#     pg_cancel_backend and statement_timeout, 5xx, 3xx, non-JSON and
#     JSON of the wrong shape, a dropped connection;
#   - names that need percent-encoding, and lockable.remote_prefix;
#   - the account token in no log and hidden from non-superusers;
#   - local leases unaffected, even while the service hangs;
#   - what remote mode refuses (no URL, lockable_acquire_any);
#   - waiters follow the backoff (acquires counted per name at the
#     stand-in), remote leases are not reachable from other databases,
#     oversized answers, the worker surviving an error (no file
#     descriptors, by prlimit), host name lookups bounded by
#     lockable.remote_timeout and cancellable (t/slow_resolver.c).
# Sections are numbered as in the test plan; they run in an order that
# leaves reloads and restarts for last.  Waits are polling loops with the
# usual TAP timeout; no assertion is about how long something took, except
# generous bounds showing that a timed-out request or a local expiry does
# not hang.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use LockableTest;
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64;
use Time::HiRes qw(usleep time);

plan skip_all => '/usr/bin/python3 is needed for the stand-in service'
  unless -x '/usr/bin/python3';

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $timeout = $PostgreSQL::Test::Utils::timeout_default;

#
# The stand-in service
#

# a distinctive token, to look for in the logs at the end
my $token = 'lk-secret-' . join('', map { sprintf '%04x', int(rand(65536)) } 1 .. 6);
my $standin_log = "$tmp/standin.log";
my $portfile = "$tmp/standin.port";
# (start_process stops it however the test ends, before the nodes' teardown)
my $standin = start_process(
	[
		'/usr/bin/python3', "$FindBin::RealBin/remote_standin.py",
		'--port', '0', '--portfile', $portfile, '--lease', '3',
		'--token', $token, '--log', $standin_log
	],
	'<', \undef, '>', "$tmp/standin.out", '2>', "$tmp/standin.err");

wait_until(sub { -s $portfile })
  or BAIL_OUT('the stand-in service did not start: '
	  . PostgreSQL::Test::Utils::slurp_file("$tmp/standin.err"));
my $standin_port = PostgreSQL::Test::Utils::slurp_file($portfile);
chomp $standin_port;
like($standin_port, qr/^\d+$/, 'the stand-in service is listening');
my $base = "http://127.0.0.1:$standin_port";
my $http = HTTP::Tiny->new(timeout => $timeout);

# percent-encode a (character) string as one URL path segment or value
sub pct
{
	my ($s) = @_;
	utf8::encode($s);
	$s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord($1))/ge;
	return $s;
}

# GET /_control/WHAT?PARAMS (a hash ref); returns the decoded answer
sub control
{
	my ($what, $params) = @_;
	my $url = "$base/_control/$what";
	$url .= '?' . join('&', map { "$_=" . pct($params->{$_}) } sort keys %$params)
	  if $params;
	my $r = $http->get($url);
	die "stand-in $url: $r->{status} $r->{content}" unless $r->{success};
	return decode_json($r->{content});
}

# set (or with kind 'none', clear) a fault of one op
sub fault
{
	my ($op, $kind, %more) = @_;
	control('fault', { op => $op, kind => $kind, %more });
}

# the names the stand-in holds now (hash ref: name => seconds left)
sub standin_locks { return control('state')->{locks}; }

sub standin_holds { return exists standin_locks()->{ $_[0] } ? 1 : 0; }

# the stand-in's logged /v1 requests for a name (and op, if given)
sub requests
{
	my ($name, $op) = @_;
	return grep { $_->{name} eq $name && (!defined $op || $_->{op} eq $op) }
	  @{ control('log') };
}

# how many /v1 requests of op the stand-in got for name since its last
# reset, whatever their answers (it keeps no list, so none is dropped)
sub count_requests
{
	my ($name, $op) = @_;
	return control('count', { name => $name })->{$op};
}

# another client of the service: GET /v1/OP/NAME with the account token;
# returns the answer's "response"
sub direct
{
	my ($op, $name) = @_;
	my $r = $http->get("$base/v1/$op/" . pct($name),
		{ headers => { Authorization => 'Basic ' . encode_base64("$token:", '') } });
	die "direct $op: $r->{status} $r->{content}" unless $r->{success};
	return decode_json($r->{content})->{response} ? 1 : 0;
}

# An acquire given up on (timeout, cancel) is still carried out by the
# stand-in once its hang ends, as a slow service would: nobody holds that
# lock then, and it would run out after the remote lease.  Wait until the
# $n given-up acquires of $name were answered, then drop the lock.
sub settle_abandoned
{
	my ($name, $n) = @_;
	ok( wait_until(
			sub {
				scalar(grep { $_->{status} == 200 } requests($name, 'acquire')) >= $n;
			}),
		"the stand-in answered the $n given-up acquires of $name");
	control('steal', { name => $name });
}

#
# The node
#
delete $ENV{LOCKABLE_AUTH_TOKEN};
my $node = lockable_node(
	'remote', qq{
lockable.worker_naptime = 100ms
lockable.remote_url = '$base/v1'
lockable.remote_token = '$token'
lockable.remote_lease = 3s
lockable.remote_heartbeat_interval = 300ms
lockable.remote_timeout = 1s
}, extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->safe_psql('postgres', 'CREATE ROLE plain LOGIN');

sub sql { return $node->safe_psql('postgres', $_[0]); }

# the same, in remote mode
sub rsql { return sql("SET lockable.remote = on;\n$_[0]"); }

# all error output seen, to look for the token in at the end
my $all_errors = '';

# Run SQL (in remote mode unless $local) expecting an error; returns its
# stderr, with the SQLSTATE (VERBOSITY verbose).
sub sql_error
{
	my ($query, $local) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY verbose\n"
		  . ($local ? '' : "SET lockable.remote = on;\n")
		  . $query);
	$all_errors .= $err;
	isnt($ret, 0, "fails: $query");
	return $err;
}

# Change a setting in postgresql.conf, reload, and wait until new
# sessions see it (pg_settings.setting, so in the setting's base unit).
sub set_conf
{
	my ($name, $value, $setting) = @_;
	$node->append_conf('postgresql.conf', "$name = $value");
	$node->reload;
	$setting //= $value =~ s/^'(.*)'$/$1/r;
	ok( $node->poll_query_until('postgres',
			"SELECT setting FROM pg_settings WHERE name = '$name'", $setting),
		"reloaded with $name = $value");
}

#
# 1. Acquire: the service is asked, a local lease with a token is made.
#
my $t1 = rsql("SELECT lockable_acquire('r1', '1min')");
like($t1, qr/^\d+$/, 'remote acquire returns a token');
ok(standin_holds('r1'), 'the stand-in holds r1');
is(sql("SELECT remote, remote_state, token, keepalive FROM lockable_leases WHERE name = 'r1'"),
	"t|held|$t1|f", 'lockable_leases shows r1 remote and held, with its token');
is(scalar(grep { $_->{status} == 200 } requests('r1', 'acquire')),
	1, 'one acquire of r1 reached the service');
is(sql("SELECT remote_leases || '/' || remote_acquired FROM lockable_stats"),
	'1/1', 'lockable_stats counts the remote lease');
my $hb_at = sql("SELECT remote_heartbeat_at FROM lockable_leases WHERE name = 'r1'");
isnt($hb_at, '', 'remote_heartbeat_at is set at acquire');

#
# 2. The worker heartbeats it for longer than the remote lease (3 s).
#
my $acquired = time();
ok( wait_until(
		sub {
			scalar(grep { $_->{status} == 200 } requests('r1', 'heartbeat')) >= 10
			  && time() - $acquired > 6.5;
		}),
	'the worker sent 10 heartbeats for r1 and more than twice the remote lease passed');
ok(standin_holds('r1'), 'the stand-in still holds r1');
is(sql("SELECT remote_state = 'held' AND remote_failures = 0 AND remote_heartbeat_at > '$hb_at' FROM lockable_leases WHERE name = 'r1'"),
	't', 'r1 is still held, and remote_heartbeat_at has advanced');
cmp_ok(stat_value($node, 'remote_heartbeats'), '>=', 10,
	'lockable_stats.remote_heartbeats counts the heartbeats');
is(stat_value($node, 'remote_heartbeat_errors'), '0', 'no heartbeat failed');

#
# 3. Release: true, and the service lets go before it returns.
#
my $released = stat_value($node, 'remote_released');
is(rsql("SELECT lockable_release('r1', $t1)"), 't', 'lockable_release of r1 returns true');
ok(!standin_holds('r1'), 'the stand-in no longer holds r1 when it returned');
is(scalar(requests('r1', 'release')), 1, 'one release of r1 was sent');
is(stat_value($node, 'remote_released') - $released, 1, 'lockable_stats.remote_released counts it');
is(lease_count($node, 'r1'), '0', 'r1 is gone from lockable_leases');
$t1 = rsql("SELECT lockable_acquire('r1', '1min')");
like($t1, qr/^\d+$/, 'r1 can be acquired again at once');
is(rsql("SELECT lockable_release('r1', $t1)"), 't', 'and released');
is(rsql("SELECT lockable_release('r1', $t1)"), 'f', 'a second release returns false');

#
# 4. A local expiry lets go on the service.
#
$released = stat_value($node, 'remote_released');
my $expired = stat_value($node, 'expired');
my $t4 = rsql("SELECT lockable_acquire('r4', '1s')");
like($t4, qr/^\d+$/, 'r4 acquired for 1 s');
ok(wait_until(sub { !standin_holds('r4') }), 'the stand-in lets go of r4');
ok($node->poll_query_until('postgres',
		"SELECT NOT EXISTS (SELECT FROM lockable_leases WHERE name = 'r4') AND remote_released > $released FROM lockable_stats"),
	'r4 is gone, lockable_stats.remote_released counts it');
is(scalar(grep { $_->{status} == 200 } requests('r4', 'release')),
	1, 'the worker sent the release of r4');
cmp_ok(stat_value($node, 'expired'), '>', $expired, 'r4 expired locally');
is(rsql("SELECT lockable_heartbeat('r4', $t4)"), 'f', 'r4 cannot be renewed after its expiry');

#
# 5. A keepalive lease lives while its session does, and is let go of on
# the service when the session ends.
#
my $s5 = $node->background_psql('postgres');
my $s5_pid = $s5->query_safe('SELECT pg_backend_pid()');
my $t5 = $s5->query_safe(
	"SET lockable.remote = on;\nSELECT lockable_acquire('r5', '1s', '0', true)");
like($t5, qr/^\d+$/, 'keepalive lease r5 acquired for 1 s');
my $state = '';
wait_until(
	sub {
		$state = sql(
			"SELECT CASE WHEN NOT EXISTS (SELECT FROM lockable_leases WHERE name = 'r5' AND remote_state = 'held') THEN 'gone' "
			  . "WHEN clock_timestamp() > (SELECT acquired_at + 2 * ttl FROM lockable_leases WHERE name = 'r5') THEN 'alive' END");
		$state ne '';
	});
is($state, 'alive', 'r5 is held after twice its ttl while its session lives');
ok(standin_holds('r5'), 'the stand-in holds r5');
is(sql("SELECT keepalive AND pid = $s5_pid FROM lockable_leases WHERE name = 'r5'"),
	't', 'lockable_leases shows r5 as keepalive, held by the session');
my $ended = stat_value($node, 'session_ended');
$s5->quit;
ok(wait_until(sub { !standin_holds('r5') }),
	'the stand-in lets go of r5 after the session ended');
is(scalar(grep { $_->{status} == 200 } requests('r5', 'release')),
	1, 'the worker sent the release of r5');
ok($node->poll_query_until('postgres',
		"SELECT NOT EXISTS (SELECT FROM lockable_leases WHERE name = 'r5') AND session_ended > $ended FROM lockable_stats"),
	'r5 is gone, lockable_stats.session_ended counts it');

#
# 6. Exclusion against another client of the service.
#
is(direct('acquire', 'r6'), 1, 'another client acquires r6 on the service');
my $refused = stat_value($node, 'remote_refused');
is(rsql("SELECT lockable_acquire('r6', '1min') IS NULL"), 't',
	'lockable_acquire of r6 returns NULL');
is(stat_value($node, 'remote_refused') - $refused, 1, 'lockable_stats.remote_refused counts it');
is(lease_count($node, 'r6'), '0', 'no lease r6 is left');

my $asked = scalar(requests('r6', 'acquire'));
my ($s6, $s6_pid) = start_query($node,
	"SET lockable.remote = on;\nSELECT lockable_acquire('r6', '1min', '5s');",
	on_error_stop => 0);
ok(wait_until(sub { scalar(requests('r6', 'acquire')) >= $asked + 2 }),
	'the waiting acquire of r6 asks the service again');
is(direct('release', 'r6'), 1, 'the other client releases r6');
my $t6 = $s6->query('');
like($t6, qr/^\d+$/, 'the waiting lockable_acquire got r6');
is($s6->{stderr}, '', 'without an error');
ok(standin_holds('r6'), 'the stand-in holds r6');
is(sql("SELECT remote_state = 'held' AND pid = $s6_pid FROM lockable_leases WHERE name = 'r6'"),
	't', 'lockable_leases shows r6 held by the waiter');
is(direct('acquire', 'r6'), 0, 'the other client cannot acquire r6 now');
is($s6->query_safe("SELECT lockable_release('r6', $t6)"), 't', 'the waiter releases r6');
ok(!standin_holds('r6'), 'the stand-in no longer holds r6');
$s6->quit;

#
# 6b. A waiter follows the backoff: it asks again after 0.1 s, then twice
# as long each time up to every second.  Within a 5 s wait that is at most
# 9 acquires (at 0, 0.1, 0.3, 0.7, 1.5, 2.5, 3.5, 4.5 and at the end, 5 s);
# a slow machine only stretches the gaps, so it can only send fewer.  Its
# own refusals, another waiter's refusals and local leases ending do not
# make it ask sooner: only a remote lease of this cluster of the same name
# ending does, and there is none here.
#
control('take', { name => $_, seconds => 120 }) foreach qw(r6w r6x r6y r6z);
my $before = count_requests('r6w', 'acquire');
is(rsql("SELECT lockable_acquire('r6w', '1min', '5s') IS NULL"), 't',
	'a 5 s wait for r6w, held by another client, returns NULL');
my $n6 = count_requests('r6w', 'acquire') - $before;
note "one waiter sent $n6 acquires of r6w in its 5 s wait";
cmp_ok($n6, '<=', 10, 'the waiter sent at most 10 acquires in 5 s (9 by the backoff)');
cmp_ok($n6, '>=', 2, 'and asked again at least once');

# three waiters at once, on three names, while local leases come and go
my %before = map { $_ => count_requests($_, 'acquire') } qw(r6x r6y r6z);
my @waiters;
foreach my $name (qw(r6x r6y r6z))
{
	my ($s) = start_query($node,
		"SET lockable.remote = on;\nSELECT lockable_acquire('$name', '1min', '5s') IS NULL;",
		on_error_stop => 0);
	push @waiters, $s;
}
sql(q{DO $$
BEGIN
	FOR i IN 1..40 LOOP
		PERFORM lockable_release('l6', lockable_acquire('l6', '1min'));
		PERFORM pg_sleep(0.05);
	END LOOP;
END $$});
foreach my $s (@waiters)
{
	is($s->query(''), 't', 'a concurrent 5 s wait returns NULL');
	$s->quit;
}
foreach my $name (qw(r6x r6y r6z))
{
	my $n = count_requests($name, 'acquire') - $before{$name};
	note "the waiter of $name sent $n acquires in its 5 s wait";
	cmp_ok($n, '<=', 10,
		"the waiter of $name sent at most 10 acquires, with two other waiters and 40 local leases ending");
}
control('steal', { name => $_ }) foreach qw(r6w r6x r6y r6z);

# A waiter for a name a session of this cluster holds asks nothing while it
# is held here, and gets it once it is let go of.
my $t6h = rsql("SELECT lockable_acquire('r6h', '1min')");
like($t6h, qr/^\d+$/, 'r6h acquired');
my ($s6h) = start_query($node,
	"SET lockable.remote = on;\nSELECT lockable_acquire('r6h', '1min', '1min') IS NOT NULL;",
	on_error_stop => 0);
usleep(1_500_000);
is(count_requests('r6h', 'acquire'), 1,
	'while r6h is held here, its waiter sends no acquire');
is(rsql("SELECT lockable_release('r6h', $t6h)"), 't', 'r6h is released');
is($s6h->query(''), 't', 'the waiter gets r6h');
is(count_requests('r6h', 'acquire'), 2, 'with one acquire');
$s6h->quit;
is(sql("SELECT lockable_force_release('r6h')"), 't', 'r6h is force-released');
ok(wait_until(sub { !standin_holds('r6h') }), 'the stand-in lets go of r6h');

#
# 7. A lease taken away on the service is lost.
#
my $lost = stat_value($node, 'remote_lost');
my $t7 = rsql("SELECT lockable_acquire('r7', '1min')");
like($t7, qr/^\d+$/, 'r7 acquired');
my $log_offset = -s $node->logfile;
control('steal', { name => 'r7' });
ok($node->poll_query_until('postgres', "SELECT remote_lost > $lost FROM lockable_stats"),
	'lockable_stats.remote_lost counts r7 after it was stolen');
ok(wait_until(sub {
			$node->log_contains(qr/WARNING:  lockable: remote lease "r7" was lost/, $log_offset)
		}),
	'the server log has the WARNING about r7');
ok($node->log_contains(qr/DETAIL:  The service answered false to a heartbeat/, $log_offset),
	'it says the service answered false');
is(sql("SELECT remote, remote_state, token FROM lockable_leases WHERE name = 'r7'"),
	"t|lost|$t7", 'lockable_leases shows r7 lost, with its token');
is(stat_value($node, 'remote_leases'), '0', 'r7 no longer counts as a remote lease');
is(rsql("SELECT lockable_is_held('r7', $t7)"), 'f', 'lockable_is_held says r7 is not held');
is(rsql("SELECT lockable_heartbeat('r7', $t7)"), 'f', 'its heartbeat returns false');
is(lease_count($node, 'r7'), '0', 'after that the lost row of r7 is gone');
is(rsql("SELECT lockable_release('r7', $t7)"), 'f', 'its release returns false too');
is(scalar(requests('r7', 'release')), 0, 'no release of r7 was sent to the service');

my $t7b = rsql("SELECT lockable_acquire('r7b', '1min')");
control('steal', { name => 'r7b' });
ok($node->poll_query_until('postgres',
		"SELECT remote_state = 'lost' FROM lockable_leases WHERE name = 'r7b'"),
	'r7b is lost after it was stolen');
is(rsql("SELECT lockable_release('r7b', $t7b)"), 'f', 'its release returns false');
is(lease_count($node, 'r7b'), '0', 'after that the lost row of r7b is gone');
like(rsql("SELECT lockable_acquire('r7b', '1min')"), qr/^\d+$/,
	'r7b can be acquired again');
is(sql("SELECT lockable_force_release('r7b')"), 't', 'and force-released');
ok(wait_until(sub { !standin_holds('r7b') }), 'the stand-in lets go of r7b');

#
# 8. Failing heartbeats are counted and retried; the lease is kept if one
# succeeds in time, and lost otherwise.
#
my $hb_errors = stat_value($node, 'remote_heartbeat_errors');
$lost = stat_value($node, 'remote_lost');
my $t8 = rsql("SELECT lockable_acquire('r8', '1min')");
like($t8, qr/^\d+$/, 'r8 acquired');
fault('heartbeat', 'status', status => 503);
ok(wait_until(sub { grep { $_->{status} == 503 } requests('r8', 'heartbeat') }),
	'a heartbeat of r8 is answered 503');
fault('heartbeat', 'none');
ok($node->poll_query_until('postgres',
		"SELECT remote_heartbeat_errors > $hb_errors FROM lockable_stats"),
	'lockable_stats.remote_heartbeat_errors counts it');
ok($node->poll_query_until('postgres',
		"SELECT remote_state = 'held' AND remote_failures = 0 FROM lockable_leases WHERE name = 'r8'"),
	'after the fault cleared, heartbeats of r8 succeed again');
ok(standin_holds('r8'), 'the stand-in still holds r8');
is(stat_value($node, 'remote_lost'), $lost, 'r8 was not lost');

$log_offset = -s $node->logfile;
fault('heartbeat', 'status', status => 503);
ok($node->poll_query_until('postgres', "SELECT remote_lost > $lost FROM lockable_stats"),
	'with the fault kept, lockable_stats.remote_lost counts r8');
cmp_ok(stat_value($node, 'remote_heartbeat_errors') - $hb_errors, '>=', 2,
	'after more failed heartbeats');
is(sql("SELECT remote_state FROM lockable_leases WHERE name = 'r8'"),
	'lost', 'lockable_leases shows r8 lost');
cmp_ok(sql("SELECT remote_failures FROM lockable_leases WHERE name = 'r8'"),
	'>', 0, 'with its failed heartbeats');
ok(wait_until(sub {
			$node->log_contains(qr/WARNING:  lockable: remote lease "r8" was lost/, $log_offset)
		}),
	'the server log has the WARNING about r8');
ok($node->log_contains(qr/DETAIL:  No heartbeat succeeded within lockable\.remote_lease \(3000 ms\)/, $log_offset),
	'it says no heartbeat succeeded within the remote lease');
fault('heartbeat', 'none');
is(rsql("SELECT lockable_release('r8', $t8)"), 'f', 'the release of lost r8 returns false');
is(scalar(requests('r8', 'release')), 0, 'no release of r8 was sent to the service');
ok(wait_until(sub { !standin_holds('r8') }), 'r8 runs out on the stand-in');

#
# 13. Bad answers to an acquire are errors, and leave no lease.
#
my $errors = stat_value($node, 'remote_errors');
my @bad = (
	[ 'status', { status => 500 }, qr/ERROR:  38000: lockable: remote acquire of "r13" failed: HTTP status 500/, '500' ],
	[ 'status', { status => 302 }, qr/ERROR:  38000: .*HTTP status 302 \(redirects are not followed\)/, 'a 302 redirect' ],
	[ 'status', { status => 403 }, qr/ERROR:  28000: .*HTTP status 403/, '403' ],
	[ 'nonjson', {}, qr/ERROR:  08P01: .*the answer is not \{"response": true\|false\}/, 'a non-JSON answer' ],
	[ 'badjson', {}, qr/ERROR:  08P01: .*the answer is not \{"response": true\|false\}/, 'JSON of the wrong shape' ],
	[ 'close', {}, qr/ERROR:  08006: lockable: remote acquire of "r13" failed/, 'a connection closed without an answer' ]);
foreach my $b (@bad)
{
	my ($kind, $params, $re, $what) = @$b;
	fault('acquire', $kind, %$params);
	my $err = sql_error("SELECT lockable_acquire('r13', '1min')");
	like($err, $re, "$what: the acquire fails");
	like($err, qr/DETAIL:  No lease was taken\./, "$what: it says no lease was taken");
	is(lease_count($node, 'r13'), '0', "$what: no lease r13 is left");
	fault('acquire', 'none');
}
is(stat_value($node, 'remote_errors') - $errors, scalar(@bad), 'lockable_stats.remote_errors counts them');
is(stat_value($node, 'remote_leases'), '0', 'no remote lease is left');
like(rsql("SELECT lockable_acquire('r13', '1min')"), qr/^\d+$/,
	'with the faults cleared, r13 can be acquired');
is(rsql("SELECT lockable_release('r13', (SELECT token FROM lockable_leases WHERE name = 'r13'))"),
	't', 'and released');

# Answers are read into a buffer grown as they come, up to 64 kB: one of
# 60000 bytes is read whole, one over 64 kB is an error.
fault('acquire', 'big', bytes => 60000);
my $t13b = rsql("SELECT lockable_acquire('r13b', '1min')");
like($t13b, qr/^\d+$/, 'an acquire answered with 60000 bytes of JSON is granted');
fault('heartbeat', 'big', bytes => 60000);
my $hb13 = count_requests('r13b', 'heartbeat');
ok(wait_until(sub { count_requests('r13b', 'heartbeat') >= $hb13 + 2 }),
	'the worker heartbeats r13b, answered with 60000 bytes of JSON');
is(sql("SELECT remote_state || '|' || remote_failures FROM lockable_leases WHERE name = 'r13b'"),
	'held|0', 'and its heartbeats succeed');
fault('all', 'none');
is(rsql("SELECT lockable_release('r13b', $t13b)"), 't', 'r13b is released');
fault('acquire', 'big', bytes => 100000);
my $err13 = sql_error("SELECT lockable_acquire('r13c', '1min')");
like($err13, qr/ERROR:  08P01: lockable: remote acquire of "r13c" failed: the answer is longer than 65536 bytes/,
	'an acquire answered with 100000 bytes fails with 08P01');
is(lease_count($node, 'r13c'), '0', 'no lease r13c is left');
fault('acquire', 'none');
control('steal', { name => 'r13c' });	# the stand-in did take it

#
# 11. A hung service: the acquire gives up after lockable.remote_timeout.
#
fault('acquire', 'hang');
my $start = time();
my $err = sql_error("SELECT lockable_acquire('r11', '1min')");
my $took = time() - $start;
like($err, qr/ERROR:  08006: lockable: remote acquire of "r11" failed: no answer within lockable\.remote_timeout/,
	'an acquire the service does not answer fails with 08006 naming lockable.remote_timeout');
cmp_ok($took, '<', 20, 'it returned');
note sprintf('the hung acquire returned after %.1f s', $took);
is(lease_count($node, 'r11'), '0', 'no lease r11 is left');
fault('acquire', 'none');
settle_abandoned('r11', 1);

#
# 12. A hung service: pg_cancel_backend and statement_timeout interrupt the
# acquire at once (lockable.remote_timeout 60 s is no help here; requests
# wait at most a third of lockable.remote_lease, so that goes up too).
#
set_conf('lockable.remote_lease', '300s', '300000');
set_conf('lockable.remote_timeout', '60s', '60000');
fault('acquire', 'hang');
my ($s12, $s12_pid) = start_query($node,
	"SET lockable.remote = on;\nSELECT lockable_acquire('r12', '1min');",
	on_error_stop => 0);
ok($node->poll_query_until('postgres',
		"SELECT wait_event_type = 'Extension' AND state = 'active' FROM pg_stat_activity WHERE pid = $s12_pid"),
	'the acquiring backend waits for the service (wait_event_type Extension)');
is(sql("SELECT remote_state FROM lockable_leases WHERE name = 'r12'"),
	'acquiring', 'lockable_leases shows r12 being acquired');
is(sql("SELECT pg_cancel_backend($s12_pid)"), 't', 'pg_cancel_backend');
$s12->query('');
like($s12->{stderr}, qr/ERROR:  canceling statement due to user request/,
	'the acquire ended with "canceling statement due to user request"');
$all_errors .= $s12->{stderr};
$s12->{stderr} = '';
is(lease_count($node, 'r12'), '0', 'no lease r12 is left');
is($s12->query_safe('SELECT 1'), '1', 'the session goes on');
$s12->quit;

$start = time();
$err = sql_error("SET statement_timeout = '500ms';\nSELECT lockable_acquire('r12', '1min')");
$took = time() - $start;
like($err, qr/ERROR:  57014: canceling statement due to statement timeout/,
	'under statement_timeout the acquire ends with "canceling statement due to statement timeout"');
cmp_ok($took, '<', 20, 'it returned');
is(lease_count($node, 'r12'), '0', 'no lease r12 is left');
fault('acquire', 'none');
settle_abandoned('r12', 2);
set_conf('lockable.remote_timeout', '1s', '1000');
set_conf('lockable.remote_lease', '3s', '3000');
my $t12 = rsql("SELECT lockable_acquire('r12', '1min')");
like($t12, qr/^\d+$/, 'with the fault cleared, r12 can be acquired');
is(rsql("SELECT lockable_release('r12', $t12)"), 't', 'and released');
is_deeply(standin_locks(), {}, 'the stand-in holds nothing now');

#
# 14. Names are one percent-encoded path segment; lockable.remote_prefix.
#
my $odd = "a/b?c#d%e f \x{e9}";
my $odd_sql = q{'a/b?c#d%e f ' || chr(233)};
my $t14 = rsql("SELECT lockable_acquire($odd_sql, '1min')");
like($t14, qr/^\d+$/, 'a name with / ? # %, a space and a non-ASCII letter is acquired');
is_deeply([ keys %{ standin_locks() } ], [$odd], 'the stand-in holds exactly that name');
is(sql("SELECT remote_state FROM lockable_leases WHERE name = $odd_sql"),
	'held', 'lockable_leases shows it held');
is(scalar(requests($odd, 'acquire')), 1, 'the stand-in logged an acquire of that name');
is(rsql("SELECT lockable_release($odd_sql, $t14)"), 't', 'it is released');
is_deeply(standin_locks(), {}, 'the stand-in no longer holds it');
is(scalar(grep { $_->{status} == 200 } requests($odd, 'release')), 1,
	'the stand-in logged its release');
is_deeply([ grep { $_->{status} == 400 || $_->{status} == 404 } @{ control('log') } ], [],
	'the stand-in found no request malformed (no 400 or 404)');

set_conf('lockable.remote_prefix', q{'clusterA:'});
my $tp = rsql("SELECT lockable_acquire('p14', '1min')");
like($tp, qr/^\d+$/, 'p14 acquired with lockable.remote_prefix = clusterA:');
is_deeply([ keys %{ standin_locks() } ], ['clusterA:p14'],
	'the stand-in holds clusterA:p14');
is(sql("SELECT name || '|' || remote_state FROM lockable_leases WHERE remote"),
	'p14|held', 'lockable_leases shows it as p14');
is(rsql("SELECT lockable_heartbeat('p14', $tp)"), 't', 'lockable_heartbeat of p14 works');
is(rsql("SELECT lockable_is_held('p14', $tp)"), 't', 'lockable_is_held of p14 works');
is(rsql("SELECT lockable_release('p14', $tp)"), 't', 'lockable_release of p14 works');
is_deeply(standin_locks(), {}, 'the stand-in no longer holds clusterA:p14');
is(scalar(requests('clusterA:p14', 'release')), 1, 'it got the release of clusterA:p14');
$err = sql_error("SELECT lockable_acquire(repeat('x', 195), '1min')");
like($err, qr/ERROR:  22001: lease name is too long/,
	'a 195-byte name is too long with the 9-byte prefix (22001)');
set_conf('lockable.remote_prefix', q{''});

#
# 16. Local leases work as usual while remote mode is configured, even
# while the service hangs.  A longer remote lease keeps the worker's hung
# heartbeats going (each one given up after lockable.remote_timeout).
#
set_conf('lockable.remote_lease', '30s', '30000');
fault('heartbeat', 'hang');
my $t16 = rsql("SELECT lockable_acquire('r16', '1min')");
like($t16, qr/^\d+$/, 'r16 acquired');
ok($node->poll_query_until('postgres',
		"SELECT remote_failures > 0 FROM lockable_leases WHERE name = 'r16'"),
	'a hung heartbeat of r16 timed out');
my $l16 = sql("SELECT lockable_acquire('l16', '1min')");
like($l16, qr/^\d+$/, 'remote off: a local lease is acquired');
is(sql("SELECT remote FROM lockable_leases WHERE name = 'l16'"), 'f',
	'lockable_leases shows it local');
is(sql("SELECT lockable_heartbeat('l16', $l16)"), 't', 'it is renewed');
is(sql("SELECT lockable_release('l16', $l16)"), 't', 'it is released');
ok(!standin_holds('l16') && !requests('l16'), 'the service never heard of it');
$expired = stat_value($node, 'expired');
$start = time();
like(sql("SELECT lockable_acquire('e16', '1s')"), qr/^\d+$/, 'a local lease with ttl 1 s');
ok($node->poll_query_until('postgres',
		"SELECT expired > $expired AND NOT EXISTS (SELECT FROM lockable_leases WHERE name = 'e16') FROM lockable_stats"),
	'the worker sweeps it when it expires');
$took = time() - $start;
cmp_ok($took, '<', 10, 'in time although the service hangs');
note sprintf('the local lease was swept %.1f s after it was acquired', $took);
cmp_ok(stat_value($node, 'last_sweep_ms'), '<', 1000, 'lockable_stats.last_sweep_ms stays small');
is(sql("SELECT remote_state FROM lockable_leases WHERE name = 'r16'"), 'held',
	'r16 is still held (the remote lease is 30 s)');
is(rsql("SELECT lockable_release('r16', $t16)"), 't', 'r16 is released');
fault('heartbeat', 'none');
ok($node->poll_query_until('postgres', 'SELECT remote_leases = 0 FROM lockable_stats'),
	'the worker is done with r16');
ok(wait_until(sub { !standin_holds('r16') }), 'the stand-in no longer holds r16');
set_conf('lockable.remote_lease', '3s', '3000');

#
# 18. A remote lease belongs to the database that acquired it: from another
# database the functions that take a name do not reach it (as for a local
# lease), although the name stays busy there (remote names are one per
# cluster, as on the service).
#
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', 'CREATE EXTENSION lockable');
sub osql { return $node->safe_psql('other', "SET lockable.remote = on;\n$_[0]"); }
my $t18 = rsql("SELECT lockable_acquire('r18', '1min')");
like($t18, qr/^\d+$/, 'r18 acquired in database postgres');
is(osql("SELECT count(*) FROM lockable_leases WHERE name = 'r18'"), '0',
	'database other does not see r18 in lockable_leases');
is(osql("SELECT lockable_is_held('r18', $t18)"), 'f',
	'from database other, lockable_is_held says r18 is not held');
my (undef, undef, $err18) = $node->psql('other', "SELECT lockable_check('r18', $t18)");
like($err18, qr/ERROR:  lease "r18" is not held with token $t18/,
	'from database other, lockable_check raises');
is(osql("SELECT lockable_heartbeat('r18', $t18)"), 'f',
	'from database other, lockable_heartbeat of r18 returns false');
is(osql("SELECT lockable_acquire('r18', '1min') IS NULL"), 't',
	'from database other, r18 is busy');
my $t18r = rsql("SELECT lockable_acquire('r18r', '1min')");
is(osql("SELECT lockable_release('r18r', $t18r)"), 'f',
	'from database other, lockable_release of r18r returns false');
rsql("SELECT lockable_acquire('r18f', '1min')");
is(osql("SELECT lockable_force_release('r18f')"), 'f',
	'from database other, lockable_force_release of r18f returns false');
is( sql("SELECT string_agg(name || '|' || remote_state, ',' ORDER BY name) FROM lockable_leases WHERE name LIKE 'r18%'"),
	'r18|held,r18f|held,r18r|held',
	'r18, r18f and r18r are still held in database postgres');
is(sql("SELECT token FROM lockable_leases WHERE name = 'r18'"), $t18,
	'r18 with its token');
ok(standin_holds('r18') && standin_holds('r18f') && standin_holds('r18r'),
	'the stand-in still holds r18, r18f and r18r');
is(scalar(requests('r18r', 'release')) + scalar(requests('r18f', 'release')),
	0, 'no release of r18r or r18f was sent');
is(rsql("SELECT lockable_release('r18r', $t18r)"), 't',
	'in database postgres, lockable_release of r18r works');
is(sql("SELECT lockable_force_release('r18f')"), 't',
	'in database postgres, lockable_force_release of r18f works');
is(rsql("SELECT lockable_is_held('r18', $t18)"), 't',
	'in database postgres, lockable_is_held says r18 is held');
is(rsql("SELECT lockable_heartbeat('r18', $t18)"), 't',
	'in database postgres, its heartbeat works');

# a lost lease's row is cleared by its own database only
control('steal', { name => 'r18' });
ok($node->poll_query_until('postgres',
		"SELECT remote_state = 'lost' FROM lockable_leases WHERE name = 'r18'"),
	'r18 is lost after it was stolen');
is(osql("SELECT lockable_release('r18', $t18)"), 'f',
	'from database other, the release of lost r18 returns false');
is(lease_count($node, 'r18'), '1', 'and the lost row of r18 is still there');
is(rsql("SELECT lockable_release('r18', $t18)"), 'f',
	'in database postgres, the release of lost r18 returns false');
is(lease_count($node, 'r18'), '0', 'and that clears the lost row');

#
# 19. An error in the worker's remote requests does not stop the worker.
# The worker is kept from opening any file (prlimit lowers its
# RLIMIT_NOFILE to its lowest free descriptor): a heartbeat still goes out
# on the cached connection, then waiting for the answer needs an epoll
# descriptor and raises "epoll_create1 failed".  The worker must log it,
# count the heartbeat failed, go on sweeping local leases, and heartbeat
# again once descriptors can be had.
#
SKIP:
{
	my $prlimit = (grep { -x $_ } qw(/usr/bin/prlimit /bin/prlimit))[0];
	skip 'prlimit (util-linux) and /proc are needed', 15
	  unless $prlimit && -d '/proc/self/fd';

	set_conf('lockable.remote_lease', '30s', '30000');
	my $t19 = rsql("SELECT lockable_acquire('r19', '1min')");
	like($t19, qr/^\d+$/, 'r19 acquired');
	ok(wait_until(sub { count_requests('r19', 'heartbeat') >= 2 }),
		'the worker heartbeats r19');
	my $wpid = sql("SELECT worker_pid FROM lockable_stats");
	opendir(my $dh, "/proc/$wpid/fd") or die "/proc/$wpid/fd: $!";
	my %open = map { $_ => 1 } grep { /^\d+$/ } readdir $dh;
	closedir $dh;
	my $free = 0;
	$free++ while $open{$free};
	my ($soft, $hard) = PostgreSQL::Test::Utils::slurp_file("/proc/$wpid/limits")
	  =~ /^Max open files\s+(\S+)\s+(\S+)/m;
	$log_offset = -s $node->logfile;
	my $hb_errors19 = stat_value($node, 'remote_heartbeat_errors');
	my $expired19 = stat_value($node, 'expired');
	like(sql("SELECT lockable_acquire('e19', '1s')"), qr/^\d+$/,
		'a local lease e19 with ttl 1 s');
	system($prlimit, '--pid', $wpid, "--nofile=$free:$hard") == 0
	  or die "prlimit failed";
	if (!wait_until(sub { $node->log_contains(qr/epoll_create1 failed/, $log_offset) }))
	{
		# A descriptor came free under the lowered limit (a connection
		# closed meanwhile), so the fault was not injected: nothing to see.
		system($prlimit, '--pid', $wpid, "--nofile=$soft:$hard");
		sql("SELECT lockable_force_release('r19')");
		$node->poll_query_until('postgres', 'SELECT remote_leases = 0 FROM lockable_stats');
		set_conf('lockable.remote_lease', '3s', '3000');
		skip 'the fault was not injected: a descriptor came free under the lowered limit', 11;
	}
	pass('the worker hits "epoll_create1 failed" waiting for a heartbeat');
	ok($node->poll_query_until('postgres',
			"SELECT expired > $expired19 AND NOT EXISTS (SELECT FROM lockable_leases WHERE name = 'e19') FROM lockable_stats"),
		'the worker sweeps local lease e19 meanwhile');
	ok($node->poll_query_until('postgres',
			"SELECT remote_heartbeat_errors > $hb_errors19 FROM lockable_stats"),
		'lockable_stats.remote_heartbeat_errors counts the failed heartbeat');
	is(sql("SELECT worker_pid FROM lockable_stats"),
		$wpid, 'the worker is still the same process');
	ok(wait_until(sub { $node->log_contains(qr/LOG:  lockable: the worker's remote requests failed with an error/, $log_offset) }),
		'the worker logs the error');
	# (if the worker died, the postmaster started another without the limit)
	system($prlimit, '--pid', $wpid, "--nofile=$soft:$hard");

	# r19 may have run out on the stand-in (its lease is 3 s) meanwhile
	my $t19b = rsql("SELECT lockable_acquire('r19b', '1min')");
	like($t19b, qr/^\d+$/, 'with descriptors back, r19b is acquired');
	ok($node->poll_query_until('postgres',
			"SELECT remote_heartbeat_at > acquired_at AND remote_failures = 0 FROM lockable_leases WHERE name = 'r19b'"),
		'and the worker heartbeats it');
	ok(!$node->log_contains(qr/"lockable worker" \(PID \d+\) exited/, $log_offset),
		'the worker did not exit');
	is(rsql("SELECT lockable_release('r19b', $t19b)"), 't', 'r19b is released');
	sql("SELECT lockable_force_release('r19')");
	ok($node->poll_query_until('postgres', 'SELECT remote_leases = 0 FROM lockable_stats'),
		'the worker is done with r19 and r19b');
	set_conf('lockable.remote_lease', '3s', '3000');
}

#
# 17. What remote mode refuses.
#
$err = sql_error("SELECT * FROM lockable_acquire_any(ARRAY['a17', 'b17'], '1min')");
like($err, qr/ERROR:  0A000: lockable_acquire_any does not support remote mode/,
	'lockable_acquire_any is an error in remote mode (0A000)');
is(sql("SELECT name FROM lockable_acquire_any(ARRAY['a17', 'b17'], '1min')"), 'a17',
	'it works with remote off');
is(sql("SELECT lockable_force_release('a17')"), 't', 'cleanup');

# counting and shared leases: the service has one holder per lease
$err = sql_error("SELECT lockable_acquire('c17', '1min', slots => 2)");
like($err, qr/ERROR:  0A000: remote mode does not support counting or shared leases/,
	'slots > 1 is an error in remote mode (0A000)');
$err = sql_error("SELECT lockable_acquire('c17', '1min', shared => true)");
like($err, qr/ERROR:  0A000: remote mode does not support counting or shared leases/,
	'shared => true is an error in remote mode (0A000)');
$err = sql_error("SELECT * FROM lockable_acquire_any(ARRAY['c17'], '1min', slots => 3)");
like($err, qr/ERROR:  0A000: remote mode does not support counting or shared leases/,
	'and so is lockable_acquire_any with slots > 1');
is(sql("SELECT count(*) FROM lockable_leases WHERE name = 'c17'") . '/'
	  . sql("SELECT remote_leases FROM lockable_stats"),
	'0/0', 'nothing is left of the refused acquires, locally or remotely');
ok(rsql("SELECT lockable_acquire('c17', '1min', slots => 1, shared => false)") =~ /^\d+$/,
	'slots => 1 and shared => false are a plain remote lease');
is(rsql("SELECT lockable_force_release('c17')"), 't', 'cleanup');

my $s17 = $node->background_psql('postgres', on_error_stop => 0);
$s17->query_safe('SET lockable.remote = on');
set_conf('lockable.remote_url', q{''});
$err = sql_error('SET lockable.remote = on', 1);
like($err, qr/ERROR:  55000: lockable\.remote cannot be turned on while lockable\.remote_url is empty/,
	'SET lockable.remote = on is an error without lockable.remote_url (55000)');
is($s17->query_safe('SHOW lockable.remote_url'), '',
	'a session that turned remote mode on earlier sees the empty URL');
$s17->query("SELECT lockable_acquire('r17', '1min')");
like($s17->{stderr}, qr/ERROR:  lockable\.remote is on but lockable\.remote_url is not set/,
	'a session that turned remote mode on earlier cannot acquire without lockable.remote_url');
$all_errors .= $s17->{stderr};
$s17->quit;
is(lease_count($node, 'r17'), '0', 'no lease r17 is left');

#
# 10. A refused connection.
#
my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1)
  or die "socket: $!";
my $closed_port = $sock->sockport;
close $sock;
set_conf('lockable.remote_url', "'http://127.0.0.1:$closed_port/v1'");
$err = sql_error("SELECT lockable_acquire('r10', '1min')");
like($err, qr/ERROR:  08006: lockable: remote acquire of "r10" failed: /,
	'an acquire against a closed port fails with 08006');
is(lease_count($node, 'r10'), '0', 'no lease r10 is left');
is(stat_value($node, 'remote_leases'), '0', 'no remote lease is left');
set_conf('lockable.remote_url', "'$base/v1'");

#
# 20. Name resolution is bounded by lockable.remote_timeout and can be
# cancelled.  t/slow_resolver.c, preloaded into the server, makes
# getaddrinfo() of slow.lockable.test take 60 s (then 127.0.0.1), as a
# DNS server that does not answer would; no DNS server is involved.
# libcurl resolves in a thread and gives up waiting for it at the timeout
# or on cancel; it must not then wait for the thread to finish.
#
SKIP:
{
	my $cc = `pg_config --cc`;
	chomp $cc;
	my $shim = "$tmp/slow_resolver.so";
	skip 'no C compiler for t/slow_resolver.c', 20
	  unless $cc
	  && system(split(/\s+/, $cc), '-shared', '-fPIC', '-o', $shim,
		"$FindBin::RealBin/slow_resolver.c", '-ldl') == 0;
	{
		local $ENV{LD_PRELOAD} = $shim;
		local $ENV{LOCKABLE_TEST_SLOW_HOST} = 'slow.lockable.test';
		local $ENV{LOCKABLE_TEST_SLOW_SECONDS} = '60';
		$node->restart;
	}
	set_conf('lockable.remote_url', "'http://slow.lockable.test:$standin_port/v1'");

	$start = time();
	$err = sql_error("SELECT lockable_acquire('r20', '1min')");
	$took = time() - $start;
	like($err, qr/ERROR:  08006: lockable: remote acquire of "r20" failed: no answer within lockable\.remote_timeout \(Resolving timed out/,
		'an acquire whose host name does not resolve fails with 08006 naming lockable.remote_timeout');
	cmp_ok($took, '<', 20, 'it returned long before the name resolved (60 s)');
	note sprintf('the acquire returned after %.1f s', $took);

	# the worker's requests: local leases are swept while they time out (a
	# long remote lease keeps the worker retrying the heartbeat)
	set_conf('lockable.remote_lease', '300s', '300000');
	set_conf('lockable.remote_url', "'$base/v1'");
	my $t20 = rsql("SELECT lockable_acquire('r20', '1min')");
	like($t20, qr/^\d+$/, 'r20 acquired with the address that resolves');
	set_conf('lockable.remote_url', "'http://slow.lockable.test:$standin_port/v1'");
	$hb_errors = stat_value($node, 'remote_heartbeat_errors');
	ok($node->poll_query_until('postgres',
			"SELECT remote_heartbeat_errors > $hb_errors FROM lockable_stats"),
		'a heartbeat of r20 to the host that does not resolve fails');
	$expired = stat_value($node, 'expired');
	$start = time();
	like(sql("SELECT lockable_acquire('e20', '1s')"), qr/^\d+$/, 'a local lease with ttl 1 s');
	ok($node->poll_query_until('postgres',
			"SELECT expired > $expired AND NOT EXISTS (SELECT FROM lockable_leases WHERE name = 'e20') FROM lockable_stats"),
		'the worker sweeps it when it expires');
	$took = time() - $start;
	cmp_ok($took, '<', 20, 'in time although heartbeats wait for the name');
	note sprintf('the local lease was swept %.1f s after it was acquired', $took);
	sql("SELECT lockable_force_release('r20')");

	# cancel, with a timeout that would not end the request
	set_conf('lockable.remote_timeout', '60s', '60000');
	my ($s20, $s20_pid) = start_query($node,
		"SET lockable.remote = on;\nSELECT lockable_acquire('r20c', '1min');",
		on_error_stop => 0);
	ok($node->poll_query_until('postgres',
			"SELECT wait_event_type = 'Extension' AND state = 'active' FROM pg_stat_activity WHERE pid = $s20_pid"),
		'the acquiring backend waits for the name to resolve');
	$start = time();
	sql("SELECT pg_cancel_backend($s20_pid)");
	$s20->query('');
	$took = time() - $start;
	like($s20->{stderr}, qr/ERROR:  canceling statement due to user request/,
		'pg_cancel_backend ends the acquire');
	cmp_ok($took, '<', 20, 'long before the name resolved (60 s)');
	note sprintf('the cancelled acquire returned after %.1f s', $took);
	$all_errors .= $s20->{stderr};
	$s20->quit;
	set_conf('lockable.remote_timeout', '1s', '1000');
	set_conf('lockable.remote_lease', '3s', '3000');
	set_conf('lockable.remote_url', "'$base/v1'");
	ok($node->poll_query_until('postgres', 'SELECT remote_leases = 0 FROM lockable_stats'),
		'no remote lease is left');
}

#
# 9. A wrong token, and none (the token is a postmaster setting).
#
foreach my $case ([ q{'wrong-token'}, 'bad', 'a wrong token' ], [ q{''}, 'missing', 'no token' ])
{
	my ($value, $auth, $what) = @$case;
	$node->append_conf('postgresql.conf', "lockable.remote_token = $value");
	$node->restart;
	control('reset');
	$err = sql_error("SELECT lockable_acquire('r9', '1min')");
	like($err, qr/ERROR:  28000: lockable: remote acquire of "r9" failed: HTTP status 401/,
		"$what: the acquire fails with 28000 and HTTP status 401");
	like($err, qr/HINT:  Set lockable\.remote_token/, "$what: the hint names lockable.remote_token");
	is(lease_count($node, 'r9'), '0', "$what: no lease r9 is left");
	is_deeply([ map { "$_->{status} $_->{auth}" } requests('r9') ], ["401 $auth"],
		"$what: the stand-in saw auth=$auth");
}
$node->append_conf('postgresql.conf', "lockable.remote_token = '$token'");
$node->restart;
my $t9 = rsql("SELECT lockable_acquire('r9', '1min')");
like($t9, qr/^\d+$/, 'with the right token again, r9 is acquired');
is(rsql("SELECT lockable_release('r9', $t9)"), 't', 'and released');

#
# 15. The token is in no log, and hidden from non-superusers.
#
my $plain = $node->connstr('postgres') . ' user=plain';
my ($ret, $out);
($ret, $out, $err) = $node->psql('postgres', 'SHOW lockable.remote_token', connstr => $plain);
isnt($ret, 0, 'a non-superuser cannot SHOW lockable.remote_token');
like($err, qr/permission denied|must be superuser/, 'permission denied');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_settings WHERE name = 'lockable.remote_token'",
		connstr => $plain),
	'0',
	'pg_settings has no row for lockable.remote_token for a non-superuser');
unlike($all_errors, qr/\Q$token\E/, 'no error message contained the token');
my $server_log = PostgreSQL::Test::Utils::slurp_file($node->logfile);
like($server_log, qr/HTTP status 401/, 'the server log has the 401 errors');
unlike($server_log, qr/\Q$token\E/, 'the server log does not contain the token');
my $service_log = PostgreSQL::Test::Utils::slurp_file($standin_log);
like($service_log, qr/auth=bad/, 'the stand-in log has the refused requests');
unlike($service_log, qr/\Q$token\E/, 'the stand-in log does not contain the token');

#
# 16. lockable.max_remote_leases: remote entries (held, being acquired or
# being released) have slots of their own; when all are used an acquire
# fails with 54000 and nothing held is disturbed.
#
$node->append_conf('postgresql.conf', "lockable.max_remote_leases = 2");
$node->restart;
control('reset');
my $s1 = rsql("SELECT lockable_acquire('slot1', '1min')");
my $s2 = rsql("SELECT lockable_acquire('slot2', '1min')");
like("$s1 $s2", qr/^\d+ \d+$/, 'max_remote_leases = 2: two remote leases are acquired');
$err = sql_error("SELECT lockable_acquire('slot3', '1min')");
like($err, qr/ERROR:  54000: too many remote leases/,
	'max_remote_leases = 2: a third fails with 54000');
like($err, qr/HINT:  .*lockable\.max_remote_leases/, 'the hint names lockable.max_remote_leases');
is(lease_count($node, 'slot3'), '0', 'no entry slot3 is left');
is(rsql("SELECT lockable_is_held('slot1', $s1) AND lockable_is_held('slot2', $s2)"),
	't', 'the two held remote leases are still held');
is(sql("SELECT lockable_acquire('local-while-remote-full', '1min') IS NOT NULL"),
	't', 'local leases do not need a remote slot');
is(rsql("SELECT lockable_release('slot1', $s1)"), 't', 'one remote lease is released');
ok(wait_until(sub { lease_count($node, 'slot1') eq '0' }), 'the release of slot1 reached the service');
my $s3 = rsql("SELECT lockable_acquire('slot3', '1min')");
like($s3, qr/^\d+$/, 'its slot is free again: slot3 is acquired');

$node->stop;
done_testing();
