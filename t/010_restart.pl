# Copyright (c) 2026, the lockable authors
#
# A clean restart keeps the leases: at a fast shutdown the postmaster saves
# every live plain lease to pg_lockable/leases.state, and the next start
# restores each into its own database with the same token, owner, ttl and
# deadline, then removes the file.  Tokens continue above every token
# granted before (from the wall clock in nanoseconds, if that is larger:
# see t/013_tokens_monotonic.pl), and there is no grace period.  A lease whose deadline passes
# while the server is down is not restored, and keepalive leases (whose
# sessions are gone) are not saved at all.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use LockableTest;
use Time::HiRes qw(usleep time);

# A short default ttl keeps the ttl horizon, and so any grace period, short.
my $node = lockable_node('clean_restart', q{
lockable.worker_naptime = 100ms
lockable.default_ttl = '3s'
});
$node->safe_psql(
	'postgres', q{
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
CREATE DATABASE other;
});
$node->safe_psql('other', 'CREATE EXTENSION lockable');

my $state_file = lockable_path($node, 'leases.state');
my $horizon_file = lockable_path($node, 'horizon');

sub sql { return sql_as($node, undef, @_); }

# The leases of a database as the superuser (a member of every role, so it
# sees every token): name => { column => value }.  Times as epoch seconds.
sub leases_of
{
	my ($db) = @_;
	my %leases;
	my $rows = sql_as(
		$node, undef, q{
SELECT name, token, owner, coalesce(pid::text, 'NULL'),
       extract(epoch FROM acquired_at), extract(epoch FROM expires_at),
       extract(epoch FROM ttl), keepalive, renewals
FROM lockable_leases ORDER BY name}, $db);
	for my $row (split /\n/, $rows)
	{
		my ($name, $token, $owner, $pid, $acquired, $expires, $ttl,
			$keepalive, $renewals)
		  = split /\|/, $row;
		$leases{$name} = {
			token => $token,
			owner => $owner,
			pid => $pid,
			acquired => $acquired,
			expires => $expires,
			ttl => $ttl,
			keepalive => $keepalive,
			renewals => $renewals,
		};
	}
	return \%leases;
}

#
# Leases held by two roles in two databases, one renewed, and a keepalive
# lease whose session stays connected until the shutdown.
#
my $a_token = sql_as($node, 'alice', "SELECT lockable_acquire('job-a', '1min')");
like($a_token, qr/^\d+$/, 'alice acquired job-a');
my $b_token = sql_as($node, 'bob', "SELECT lockable_acquire('job-b', '45s')");
like($b_token, qr/^\d+$/, 'bob acquired job-b');
is(sql_as($node, 'bob', "SELECT lockable_heartbeat('job-b', $b_token, '50s')"),
	't', 'bob renewed job-b with a new ttl');
my $o_token =
  sql_as($node, 'alice', "SELECT lockable_acquire('job-a', '40s')", 'other');
like($o_token, qr/^\d+$/,
	'alice acquired a lease of the same name in the other database');

my ($keeper, undef, $k_token) = keepalive_session($node, 'kept', '3s');
like($k_token, qr/^\d+$/, 'a keepalive lease acquired');

my $before = leases_of('postgres');
my $before_other = leases_of('other');
is_deeply(
	[ sort keys %$before ],
	[ 'job-a', 'job-b', 'kept' ],
	'three leases in postgres before the restart');
is($before->{'job-a'}{owner}, 'alice', 'job-a is owned by alice');
is($before->{'job-b'}{owner}, 'bob', 'job-b is owned by bob');
is($before->{'job-b'}{renewals}, '1', 'job-b was renewed once');
like($before->{'job-a'}{pid}, qr/^\d+$/, 'before the restart job-a has a pid');

my @tokens_before = ($a_token, $b_token, $o_token, $k_token);
my $max_before = (sort { $b <=> $a } @tokens_before)[0];

#
# Clean restart (fast mode).
#
my $log_offset = -s $node->logfile;
$node->restart;
$keeper->quit;    # its connection was closed by the shutdown
my $log = slurp_file($node->logfile, $log_offset);
like(
	$log,
	qr/lockable: saved 3 leases for the next start/,
	'the shutdown saved the three plain leases, not the keepalive one');
like(
	$log,
	qr/lockable: restored 3 leases from the last shutdown, 0 had expired/,
	'the start restored them');
unlike($log, qr/did not shut down cleanly/, 'no crash was detected');
ok(!-e $state_file, 'the state file is removed once it has been read');
ok(-e $horizon_file, 'the horizon file is kept');
is(sql("SELECT grace_until IS NULL FROM lockable_stats"),
	't', 'after a clean restart there is no grace period');

my $after = leases_of('postgres');
my $after_other = leases_of('other');
is_deeply(
	[ sort keys %$after ],
	[ 'job-a', 'job-b' ],
	'job-a and job-b are back; the keepalive lease is not');
for my $name ('job-a', 'job-b')
{
	my ($was, $now) = ($before->{$name}, $after->{$name});
	is($now->{token}, $was->{token}, "$name has the same token");
	is($now->{owner}, $was->{owner},
		"$name has the same owner ($was->{owner})");
	is($now->{ttl}, $was->{ttl}, "$name has the same ttl ($was->{ttl} s)");
	is($now->{renewals}, $was->{renewals},
		"$name has the same renewal count");
	is($now->{keepalive}, 'f', "$name is a plain lease");
	is($now->{pid}, 'NULL', "$name has no pid after the restart");
	cmp_ok(abs($now->{expires} - $was->{expires}),
		'<', 0.5, "$name has the same expires_at");
	cmp_ok(abs($now->{acquired} - $was->{acquired}),
		'<', 0.5, "$name has the same acquired_at");
}
is_deeply([ keys %$after_other ], ['job-a'],
	'the other database has its own job-a back');
is($after_other->{'job-a'}{token}, $o_token,
	'with its own token, not the one of job-a in postgres');
is($after_other->{'job-a'}{owner}, 'alice', 'and its owner');
cmp_ok(abs($after_other->{'job-a'}{expires} - $before_other->{'job-a'}{expires}),
	'<', 0.5, 'and its expires_at');

# The restored leases are held: nobody else gets them.
is(sql("SELECT lockable_acquire('job-a', '3s', wait => '0') IS NULL"),
	't', 'a restored lease cannot be acquired by someone else');
is(sql_as($node, 'bob', "SELECT lockable_acquire('job-a', '3s') IS NULL", 'other'),
	't', 'nor the restored lease of the other database');
is(sql("SELECT lockable_is_held('job-a', $a_token)"),
	't', 'lockable_is_held sees the restored lease with its old token');
sql("SELECT lockable_check('job-b', $b_token)");
pass('lockable_check accepts the old token of a restored lease');

# Tokens continue above every token granted before the restart.
my $new_token = sql("SELECT lockable_acquire('fresh', '3s')");
like($new_token, qr/^\d+$/, 'a new lease can be acquired at once');
cmp_ok($new_token, '>', $max_before,
	'its token is greater than every token granted before the restart');

# The owners renew and release their restored leases with the old tokens.
is(sql_as($node, 'alice', "SELECT lockable_heartbeat('job-a', $a_token)"),
	't', 'alice renews job-a with its old token');
is(sql_as($node, 'bob', "SELECT lockable_release('job-b', $b_token)"),
	't', 'bob releases job-b with its old token');
is(sql_as($node, 'alice', "SELECT lockable_release('job-a', $o_token)", 'other'),
	't', 'alice releases job-a of the other database with its old token');
my $b_again = sql("SELECT lockable_acquire('job-b', '3s')");
cmp_ok($b_again, '>', $new_token,
	'the released job-b is free again, with a new token');

# Only job-a (renewed to 1 minute) is left, so that what the next restart
# saves does not depend on timing.
is(sql("SELECT lockable_release('job-b', $b_again) AND lockable_release('fresh', $new_token)"),
	't', 'the two short leases are released');
is(sql("SELECT string_agg(name, ',') FROM lockable_leases"),
	'job-a', 'job-a is the only lease left');

#
# A lease whose deadline passes while the server is down is expired at the
# next start, and free at once; a longer one is still restored.
#
my $brief_token = sql_as($node, 'alice', "SELECT lockable_acquire('brief', '2s')");
like($brief_token, qr/^\d+$/, 'alice acquired brief for 2s');
my $brief_expires = sql(
	"SELECT extract(epoch FROM expires_at) FROM lockable_leases WHERE name = 'brief'"
);

$log_offset = -s $node->logfile;
$node->stop;
like(
	slurp_file($node->logfile, $log_offset),
	qr/lockable: saved 2 leases for the next start/,
	'the stop saved job-a and brief');
ok(-e $state_file, 'the state file exists while the server is down');

# Stay down past the deadline of brief (server and test share the clock).
usleep(100_000) while time() < $brief_expires + 0.3;
$node->start;
like(
	slurp_file($node->logfile, $log_offset),
	qr/lockable: restored 1 leases from the last shutdown, 1 had expired/,
	'the start says that one lease had expired');
ok(!-e $state_file, 'the state file is removed again');
is(sql("SELECT count(*) FROM lockable_leases WHERE name = 'brief'"),
	'0', 'the expired lease is not restored');
is(sql("SELECT token FROM lockable_leases WHERE name = 'job-a'"),
	$a_token, 'job-a, with a longer deadline, is restored once more');
my $brief_again =
  sql("SELECT lockable_acquire('brief', '3s', wait => '0')");
like($brief_again, qr/^\d+$/, 'the lease that expired while down is free at once');
cmp_ok($brief_again, '>', $brief_token, 'with a greater token');
is(sql_as($node, 'alice', "SELECT lockable_heartbeat('brief', $brief_token)"),
	'f', 'the old token of the expired lease no longer renews it');

#
# Long names (their rest in the name pool) come back whole, and two names
# that differ only in their last byte stay two leases.
#
my $long_a = ('L' x 199) . 'a';
my $long_b = ('L' x 199) . 'b';
my $la = sql("SELECT lockable_acquire('$long_a', '1min')");
my $lb = sql("SELECT lockable_acquire('$long_b', '1min')");
like("$la $lb", qr/^\d+ \d+$/, 'two 200-byte names acquired');
$node->restart;
is(sql("SELECT string_agg(token::text, ' ' ORDER BY name) FROM lockable_leases WHERE length(name) = 200 AND name LIKE 'LLL%'"),
	"$la $lb", 'after a restart both long names are restored with their tokens');
is(sql("SELECT lockable_is_held('$long_a', $la) AND lockable_is_held('$long_b', $lb)"),
	't', 'each is held under its whole name');
is(sql("SELECT lockable_acquire('$long_a', '1min', wait => '0') IS NULL"),
	't', 'a restored long name is busy for others');

$node->stop;
done_testing();
