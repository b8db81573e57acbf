# Copyright (c) 2026, the lockable authors
#
# Counting leases (slots => N: up to N holders at once) and shared leases
# (shared => true) with a real server, for what needs one: the worker, the
# end of sessions, restarts and crashes.  The SQL surface and its errors are
# in pg_regress, waits between two sessions in the isolation specs.
#
# - Keepalive session end: a session holding keepalive slots of a counting
#   lease disconnects, or is terminated.  The worker ends exactly that
#   session's keepalive holders; the other holders of the name (another
#   session's, and the session's own plain one) stay, and the waiters queued
#   on the full name get the freed slots, both at once.
# - Expiry of one holder lets a waiter in; the other holders stay.
# - Clean restart: the plain holders of a counting and of shared names come
#   back with their tokens, slots and mode, keepalive holders do not; the
#   count and the mode still apply, and tokens go on above the old ones.
# - Crash grace: after an immediate stop nothing of a counting or a shared
#   lease is granted before lockable_stats.grace_until, and then it is.
#
# Every ttl that reaches the crash grace period is a few seconds.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use LockableTest;

my $node = lockable_node('counting', q{
lockable.worker_naptime = 100ms
lockable.default_ttl = '3s'
});

sub sql
{
	my ($query, $n) = @_;
	return ($n // $node)->safe_psql('postgres', $query);
}

# The holders of lease NAME, in token order: [ { column => value } ].
# Times as epoch seconds; pid 'NULL' for a holder without a session.
sub holders
{
	my ($name, $n) = @_;
	my @holders;
	my $rows = sql(
		qq{
SELECT token, coalesce(pid::text, 'NULL'), keepalive, slots, shared,
       extract(epoch FROM ttl), extract(epoch FROM acquired_at),
       extract(epoch FROM expires_at), renewals, waiters
FROM lockable_leases WHERE name = '$name' ORDER BY token}, $n);
	for my $row (split /\n/, $rows)
	{
		my %h;
		@h{qw(token pid keepalive slots shared ttl acquired expires renewals waiters)}
		  = split /\|/, $row;
		push @holders, \%h;
	}
	return \@holders;
}

# The tokens of lease NAME's holders, in order, as one string.
sub tokens_of
{
	my ($name, $n) = @_;
	return join(' ', map { $_->{token} } @{ holders($name, $n) });
}

# A background session that has begun to wait for one slot of NAME.
sub start_waiter
{
	my ($name, $args) = @_;
	my ($session, $pid) = start_query($node,
		"SELECT lockable_acquire('$name', '1 min', wait => '2 min', $args);");
	return ($session, $pid);
}

sub max_of { my $m = shift; for (@_) { $m = $_ if $_ > $m } return $m; }

#
# Keepalive holders end with their session: a disconnect.
#
# "pool" has 4 slots: session A holds two as keepalive holders and one as a
# plain holder, session B one as a keepalive holder.  Two waiters queue on
# the full name.
#
my ($a_session, $a_pid, $a_ka1) =
  keepalive_session($node, 'pool', '1s', 'slots => 4');
my $a_ka2 = $a_session->query_safe(
	"SELECT lockable_acquire('pool', '1s', keepalive => true, slots => 4)");
my $a_plain = $a_session->query_safe(
	"SELECT lockable_acquire('pool', '1 min', slots => 4)");
like("$a_ka1 $a_ka2 $a_plain", qr/^\d+ \d+ \d+$/,
	'session A holds two keepalive slots and one plain slot of pool');
my ($b_session, $b_pid, $b_ka) =
  keepalive_session($node, 'pool', '1s', 'slots => 4');
like($b_ka, qr/^\d+$/, 'session B holds the fourth slot as a keepalive holder');
is(tokens_of('pool'), "$a_ka1 $a_ka2 $a_plain $b_ka",
	'lockable_leases shows one row per holder, in grant order');
is( sql(
		"SELECT string_agg(format('%s:%s:%s', pid = $a_pid, keepalive, slots), ' ' ORDER BY token) FROM lockable_leases WHERE name = 'pool'"
	),
	't:t:4 t:t:4 t:f:4 f:t:4',
	'each row has its session, its keepalive and the slots of the name');
is(sql("SELECT lockable_acquire('pool', '1 min', slots => 4) IS NULL"),
	't', 'the fifth acquire is refused: all 4 slots are taken');

my ($w1, $w1_pid) = start_waiter('pool', 'slots => 4');
ok(wait_for_waiters($node, 'pool', 1), 'a first waiter queues on pool');
my ($w2, $w2_pid) = start_waiter('pool', 'slots => 4');
ok(wait_for_waiters($node, 'pool', 2), 'a second waiter queues behind it');

# The keepalive holders are renewed one by one while their sessions live:
# wait for twice their ttl.
ok( $node->poll_query_until(
		'postgres',
		"SELECT coalesce(bool_and(clock_timestamp() > acquired_at + 2 * ttl), true) FROM lockable_leases WHERE token IN ($a_ka1, $a_ka2, $b_ka)"
	),
	'twice the keepalive ttl has passed');
is( sql(
		"SELECT count(*) FILTER (WHERE renewals > 0 AND expires_at > clock_timestamp()) FROM lockable_leases WHERE token IN ($a_ka1, $a_ka2, $b_ka)"
	),
	'3',
	'each keepalive holder was renewed and is live, with its own token');
is(sql("SELECT max(waiters) FROM lockable_leases WHERE name = 'pool'"),
	'2', 'both waiters still wait');

my $ended_before = stat_value($node, 'session_ended');
my $expired_before = stat_value($node, 'expired');
$a_session->quit;
my $t_w1 = $w1->query_safe('');
my $t_w2 = $w2->query_safe('');
like("$t_w1 $t_w2", qr/^\d+ \d+$/,
	'when session A quit, both waiters got a slot');
cmp_ok($t_w1, '>', max_of($a_ka1, $a_ka2, $a_plain, $b_ka),
	'the first waiter\'s token is greater than every earlier one');
cmp_ok($t_w2, '>', $t_w1,
	'the second waiter\'s is greater still: tokens follow the queue');
is(tokens_of('pool'), "$a_plain $b_ka $t_w1 $t_w2",
	'A\'s keepalive holders are gone; its plain holder and B\'s stay');
is( sql(
		"SELECT string_agg(format('%s:%s', pid, keepalive), ' ' ORDER BY token) FROM lockable_leases WHERE token IN ($b_ka, $t_w1, $t_w2)"
	),
	"$b_pid:t $w1_pid:f $w2_pid:f",
	'B keeps its keepalive holder; the waiters hold plain ones');
is(sql("SELECT max(waiters) FROM lockable_leases WHERE name = 'pool'"),
	'0', 'nobody waits any more');
is(stat_value($node, 'session_ended') - $ended_before,
	2, 'lockable_stats.session_ended counts A\'s two keepalive holders');
is(stat_value($node, 'expired') - $expired_before,
	0, 'they were ended with the session, not by expiry');
is( sql(
		"SELECT lockable_is_held('pool', $a_ka1), lockable_is_held('pool', $a_ka2), lockable_is_held('pool', $a_plain)"
	),
	'f|f|t',
	'lockable_is_held: false for A\'s keepalive tokens, true for its plain one');
is( sql(
		"SELECT lockable_heartbeat('pool', $a_ka1), lockable_heartbeat('pool', $a_plain)"
	),
	'f|t',
	'a heartbeat of an ended holder fails, of a live one succeeds');

is( sql(
		"SELECT lockable_release('pool', $a_plain) AND lockable_release('pool', $t_w1) AND lockable_release('pool', $t_w2)"
	),
	't',
	'the plain holders release their slots');
$w1->quit;
$w2->quit;
$b_session->quit;
ok( $node->poll_query_until(
		'postgres',
		"SELECT NOT EXISTS (SELECT FROM lockable_leases WHERE name = 'pool')"),
	'B\'s keepalive holder ends with its session, and pool is free');

#
# Keepalive holders end with their session: pg_terminate_backend.
#
my ($d_session, $d_pid, $d_ka) =
  keepalive_session($node, 'term', '1s', 'slots => 2');
my ($e_session, $e_pid, $e_ka) =
  keepalive_session($node, 'term', '1s', 'slots => 2');
like("$d_ka $e_ka", qr/^\d+ \d+$/,
	'sessions D and E each hold a keepalive slot of term (2 slots)');
my ($w3, $w3_pid) = start_waiter('term', 'slots => 2');
ok(wait_for_waiters($node, 'term', 1), 'a waiter queues on the full name');

$ended_before = stat_value($node, 'session_ended');
is(sql("SELECT pg_terminate_backend($d_pid)"), 't', 'D is terminated');
my $t_w3 = $w3->query_safe('');
like($t_w3, qr/^\d+$/, 'the waiter got D\'s slot');
cmp_ok($t_w3, '>', max_of($d_ka, $e_ka), 'with a greater token');
is(tokens_of('term'), "$e_ka $t_w3", 'E\'s holder stays beside it');
is(stat_value($node, 'session_ended') - $ended_before,
	1, 'lockable_stats.session_ended counts D\'s holder');
is($w3->query_safe("SELECT lockable_release('term', $t_w3)"),
	't', 'the waiter releases its slot');
$w3->quit;
$e_session->quit;
# psql has lost its connection and exited
eval { $d_session->quit; };
ok( $node->poll_query_until(
		'postgres',
		"SELECT NOT EXISTS (SELECT FROM lockable_leases WHERE name = 'term')"),
	'term is free once E has quit');

#
# Expiry of one holder of three lets a waiter in.  The holder's ttl is cut
# to 1 s by a heartbeat once the waiter is queued, so that the order does
# not depend on timing.
#
my @x = map { sql("SELECT lockable_acquire('exp', '1 min', slots => 3)") }
  1 .. 3;
like("@x", qr/^\d+ \d+ \d+$/, 'three plain holders fill exp (3 slots)');
my ($w4, $w4_pid) = start_waiter('exp', 'slots => 3');
ok(wait_for_waiters($node, 'exp', 1), 'a waiter queues on exp');
$expired_before = stat_value($node, 'expired');
is(sql("SELECT lockable_heartbeat('exp', $x[0], '1s')"),
	't', 'the first holder renews itself for only 1 s');
my $x0_expires = sql(
	"SELECT extract(epoch FROM expires_at) FROM lockable_leases WHERE token = $x[0]"
);
my $t_w4 = $w4->query_safe('');
like($t_w4, qr/^\d+$/, 'the waiter got a slot');
cmp_ok($t_w4, '>', $x[2], 'with a greater token');
cmp_ok(
	sql("SELECT extract(epoch FROM acquired_at) FROM lockable_leases WHERE token = $t_w4"),
	'>=', $x0_expires, 'not before the first holder\'s deadline');
is(tokens_of('exp'), "$x[1] $x[2] $t_w4",
	'the first holder expired; the other two stay');
is(stat_value($node, 'expired') - $expired_before,
	1, 'lockable_stats.expired counts one holder');
is( sql(
		"SELECT lockable_heartbeat('exp', $x[0]), lockable_is_held('exp', $x[1]), lockable_is_held('exp', $x[2])"
	),
	'f|t|t',
	'the expired token no longer renews; the others are held');
is(sql("SELECT lockable_acquire('exp', '1 min', slots => 3) IS NULL"),
	't', 'the name is full again');
is( sql(
		"SELECT lockable_release('exp', $x[1]) AND lockable_release('exp', $x[2]) AND lockable_release('exp', $t_w4)"
	),
	't',
	'cleanup');
$w4->quit;
is(sql('SELECT count(*) FROM lockable_leases'), '0', 'nothing is held now');
is(stat_value($node, 'leases'), '0', 'and the lease table has no entry');

#
# Clean restart.  c3 (3 slots) has two plain holders and a keepalive one;
# rw two shared holders (slots 1: unlimited); rw3 one shared holder of 3.
#
my @c3 = map { sql("SELECT lockable_acquire('c3', '1 min', slots => 3)") }
  1 .. 2;
my ($keeper, undef, $c3_ka) =
  keepalive_session($node, 'c3', '3s', 'slots => 3');
my @rw =
  map { sql("SELECT lockable_acquire('rw', '1 min', shared => true)") } 1 .. 2;
my $rw3 =
  sql("SELECT lockable_acquire('rw3', '50s', slots => 3, shared => true)");
like("@c3 $c3_ka @rw $rw3", qr/^\d+ \d+ \d+ \d+ \d+ \d+$/,
	'c3, rw and rw3 acquired');
# Each holder is an entry, and a counting or shared name one more.
is(stat_value($node, 'leases'), 3 + 1 + 2 + 1 + 1 + 1,
	'lockable_stats.leases: an entry per holder and one per name');

my %before = map { $_ => holders($_) } qw(c3 rw rw3);
my $max_before = max_of(@c3, $c3_ka, @rw, $rw3);

my $log_offset = -s $node->logfile;
$node->restart;
$keeper->quit;    # its connection was closed by the shutdown
my $log = slurp_file($node->logfile, $log_offset);
like($log, qr/lockable: saved 5 leases for the next start/,
	'the shutdown saved the five plain holders');
like($log, qr/lockable: restored 5 leases from the last shutdown, 0 had expired/,
	'the start restored them');
is(sql('SELECT grace_until IS NULL FROM lockable_stats'),
	't', 'no grace period after a clean restart');

my %after = map { $_ => holders($_) } qw(c3 rw rw3);
# What a restart keeps of a holder; acquired_at and expires_at to within
# half a second.
for my $name (qw(c3 rw rw3))
{
	my @was = grep { $_->{keepalive} eq 'f' } @{ $before{$name} };
	my @now = @{ $after{$name} };
	is( join(' ', map { "$_->{token}:$_->{slots}:$_->{shared}:$_->{ttl}" } @now),
		join(' ', map { "$_->{token}:$_->{slots}:$_->{shared}:$_->{ttl}" } @was),
		"$name: the plain holders are back with their tokens, slots, mode and ttl"
	);
	is(join(' ', map { "$_->{pid}:$_->{keepalive}" } @now),
		join(' ', map { 'NULL:f' } @was),
		"$name: as plain holders without a session");
	my $drift = 0;
	for my $i (0 .. $#now)
	{
		next unless $was[$i];
		for my $t (qw(acquired expires))
		{
			my $d = abs($now[$i]{$t} - $was[$i]{$t});
			$drift = $d if $d > $drift;
		}
	}
	cmp_ok($drift, '<', 0.5, "$name: with the same acquired_at and expires_at");
}
is(tokens_of('c3'), "@c3", 'c3: the keepalive holder is not restored');
is(stat_value($node, 'leases'), 2 + 1 + 2 + 1 + 1 + 1,
	'lockable_stats.leases counts the restored entries');

# The count still applies: a mismatch is refused without touching anyone.
my $err = sql_fails($node, "SELECT lockable_acquire('c3', '1 min', slots => 5)");
like($err, qr/ERROR:\s+55000: lease "c3" is held with slots = 3/,
	'c3: an acquire with slots = 5 is error 55000, naming the 3');
like($err, qr/DETAIL:\s+This acquire asked for slots = 5/, 'and the 5');
$err = sql_fails($node, "SELECT lockable_acquire('rw3', '1 min', shared => true)");
like($err, qr/ERROR:\s+55000: lease "rw3" is held with slots = 3/,
	'rw3: a shared acquire with the default slots = 1 is error 55000');
is(tokens_of('c3') . ' / ' . tokens_of('rw3'), "@c3 / $rw3",
	'the refused acquires disturbed no holder');

# The mode still applies.
is(sql("SELECT lockable_acquire('c3', '1 min', slots => 3, shared => true) IS NULL"),
	't', 'c3: a shared acquire is refused while it is held non-shared');
is(sql("SELECT lockable_acquire('rw', '1 min') IS NULL"),
	't', 'rw: a non-shared acquire is refused while shared holders hold it');

# Room is as before the restart, and tokens go on above the old ones.
my $c3_third = sql("SELECT lockable_acquire('c3', '1 min', slots => 3)");
like($c3_third, qr/^\d+$/, 'c3: the third slot is granted');
cmp_ok($c3_third, '>', $max_before,
	'with a token greater than every one before the restart');
is(sql("SELECT lockable_acquire('c3', '1 min', slots => 3) IS NULL"),
	't', 'c3: with 3 holders the fourth is refused');
my $rw_third = sql("SELECT lockable_acquire('rw', '1 min', shared => true)");
cmp_ok($rw_third, '>', $c3_third, 'rw: a third shared holder is granted');
my @rw3_more = map {
	sql("SELECT lockable_acquire('rw3', '1 min', slots => 3, shared => true)")
} 1 .. 2;
like("@rw3_more", qr/^\d+ \d+$/, 'rw3: two more shared holders are granted');
is(sql("SELECT lockable_acquire('rw3', '1 min', slots => 3, shared => true) IS NULL"),
	't', 'rw3: the fourth shared holder is refused');

# The restored holders are held under their old tokens.
is( sql(
		"SELECT bool_and(lockable_is_held(name, token)) FROM (VALUES ('c3', $c3[0]), ('c3', $c3[1]), ('rw', $rw[0]), ('rw', $rw[1]), ('rw3', $rw3)) AS v(name, token)"
	),
	't',
	'lockable_is_held is true for each restored token');
sql("SELECT lockable_check('c3', $c3[1])");
pass('lockable_check accepts a restored token');
is(sql("SELECT lockable_heartbeat('rw', $rw[0])"),
	't', 'a restored shared holder renews with its old token');
is( sql(
		"SELECT bool_and(lockable_release(name, token)) FROM (VALUES ('c3', $c3[0]), ('c3', $c3[1]), ('c3', $c3_third), ('rw', $rw[0]), ('rw', $rw[1]), ('rw', $rw_third), ('rw3', $rw3), ('rw3', $rw3_more[0]), ('rw3', $rw3_more[1])) AS v(name, token)"
	),
	't',
	'every holder releases its own slot');
is(sql('SELECT count(*) FROM lockable_leases'), '0', 'nothing is held now');
is(stat_value($node, 'leases'), '0', 'and the lease table has no entry');

$node->stop;

#
# Crash grace, on a node of its own whose ttl horizon is 4 s.
#
my $crash = lockable_node('counting_crash', q{
lockable.worker_naptime = 100ms
lockable.default_ttl = '3s'
});
my @cc = map { sql("SELECT lockable_acquire('cc', '4s', slots => 3)", $crash) }
  1 .. 2;
my $cs = sql("SELECT lockable_acquire('cs', '4s', shared => true)", $crash);
like("@cc $cs", qr/^\d+ \d+ \d+$/,
	'two holders of cc (3 slots) and a shared holder of cs');
my $deadline = sql(
	"SELECT max(extract(epoch FROM expires_at)) FROM lockable_leases", $crash);
my $max_crash = max_of(@cc, $cs);

$crash->stop('immediate');
$crash->start;
my $grace_until = sql(
	'SELECT extract(epoch FROM grace_until) FROM lockable_stats', $crash);
like($grace_until, qr/^\d+(\.\d+)?$/, 'lockable_stats.grace_until is set');
cmp_ok($grace_until, '>=', $deadline,
	'the grace period lasts at least until the deadline of the holders');
is(sql('SELECT count(*) FROM lockable_leases', $crash),
	'0', 'no holder survived the crash');

# Waiters for the grace period: two slots of cc, and a shared cs.
my @grace_waiters = map {
	[
		start_query(
			$crash,
			"SELECT lockable_acquire($_, wait => '30s'), extract(epoch FROM clock_timestamp());"
		)
	]
} ("'cc', '3s', slots => 3", "'cc', '3s', slots => 3", "'cs', '3s', shared => true");

is( sql(
		q{SELECT lockable_acquire('cc', '3s', slots => 3) IS NULL,
                 lockable_acquire('cc', '3s', slots => 3, shared => true) IS NULL,
                 lockable_acquire('cs', '3s', shared => true) IS NULL,
                 lockable_acquire('fresh', '3s', slots => 3) IS NULL,
                 lockable_acquire('fresh-shared', '3s', shared => true) IS NULL,
                 clock_timestamp() < grace_until
          FROM lockable_stats},
		$crash),
	't|t|t|t|t|t',
	'during the grace period no slot of a counting or a shared lease is granted'
);
is( sql(
		"SELECT lockable_is_held('cc', $cc[0]), lockable_heartbeat('cc', $cc[1]), lockable_is_held('cs', $cs)",
		$crash),
	'f|f|f',
	'the pre-crash tokens are not held, and do not renew');

my @granted;
for my $w (@grace_waiters)
{
	my ($session) = @$w;
	push @granted, [ split /\|/, $session->query_safe('') ];
	$session->quit;
}
is(scalar(grep { $_->[0] =~ /^\d+$/ } @granted),
	3, 'after the grace period the three waiters are granted');
is(scalar(grep { $_->[1] >= $grace_until } @granted),
	3, 'none before lockable_stats.grace_until');
is(scalar(grep { $_->[0] > $max_crash } @granted),
	3, 'each with a token greater than every one before the crash');
is(sql('SELECT grace_until IS NULL FROM lockable_stats', $crash),
	't', 'grace_until is NULL once the grace period is over');
like(sql("SELECT lockable_acquire('cc', '3s', slots => 3)", $crash),
	qr/^\d+$/, 'the third slot of cc is granted at once');
is(sql("SELECT lockable_acquire('cc', '3s', slots => 3) IS NULL", $crash),
	't', 'and the fourth is refused');
like(sql("SELECT lockable_acquire('cs', '3s', shared => true)", $crash),
	qr/^\d+$/, 'a second shared holder of cs is granted at once');

$crash->stop;
done_testing();
