# The due-driven sweep and the lean lease entry (f07d1f9):
# sub-second keepalive ttls kept alive from the wheel, a keepalive lease
# handed to a waiter by expiry, the keepalive leases of a backend slot that
# is reused at once, a heartbeat that shortens a keepalive lease's ttl,
# and long names that differ only past the entry's head or a chunk
# boundary, across a clean restart.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use lib 't';
use LockableTest;

my $node = lockable_node('due', "lockable.max_leases = 200\n");

sub sql { return $node->safe_psql('postgres', $_[0]); }

# 1. A keepalive lease with a ttl of 300 ms lives for 4 s.
my ($s1, $p1, $t1) = keepalive_session($node, 'short-ka', '300ms');
like($t1, qr/^\d+$/, 'keepalive lease with a 300 ms ttl acquired');
sleep(4);
is(lease_count($node, 'short-ka'), '1', 'it is still held after 4 s');
cmp_ok(sql("SELECT renewals FROM lockable_leases WHERE name = 'short-ka'"),
	'>=', 10, 'and was renewed at least 10 times');
$s1->quit;
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM lockable_leases WHERE name = 'short-ka'"),
	'it ends with its session');

# 2. A keepalive waiter with a short ttl, handed the lease by expiry,
# keeps it alive.
my $tp = sql("SELECT lockable_acquire('handed', '1s')");
my ($w, $wpid) = start_query($node,
	"SELECT lockable_acquire('handed', '400ms', '30s', true) IS NOT NULL AS got;");
ok(wait_for_waiters($node, 'handed', 1), 'keepalive waiter queued');
my $out = $w->query_safe('');
like($out, qr/t/, 'the waiter got the lease when the plain one expired');
sleep(3);
is(lease_count($node, 'handed'), '1',
	'the handed keepalive lease (ttl 400 ms) is still held 3 s later');
$w->quit;
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM lockable_leases WHERE name = 'handed'"),
	'and ends with its session');

# 3. Slot reuse: each session takes a keepalive lease and quits; the next
# one, likely in the same backend slot, takes its own at once.
my $ended_before = stat_value($node, 'session_ended');
my $last;
for my $i (1 .. 15)
{
	my ($s, $pid, $tok) = keepalive_session($node, "reuse-$i", '10s');
	like($tok, qr/^\d+$/, "reuse-$i acquired");
	$last->quit if defined $last;
	$last = $s;
}
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM lockable_leases WHERE name LIKE 'reuse-%'"),
	'only the last session keeps its keepalive lease');
is(sql("SELECT name FROM lockable_leases WHERE name LIKE 'reuse-%'"),
	'reuse-15', 'and it is the last one');
is(stat_value($node, 'session_ended') - $ended_before,
	14, 'the other 14 ended as session ends');
sleep(2);
is(lease_count($node, 'reuse-15'), '1', 'the live one stays');
$last->quit;

# 4. A heartbeat that shortens a keepalive lease's ttl to 600 ms wakes the
# worker, which could otherwise sleep past the renewal and find the lease
# expired (8654c06 failed this too).
my ($s4, $p4, $t4) = keepalive_session($node, 'shorten', '20s');
is($s4->query_safe("SELECT lockable_heartbeat('shorten', $t4, '600ms')"),
	't', 'heartbeat with a shorter ttl');
sleep(3);
is(lease_count($node, 'shorten'), '1',
	'the keepalive lease is still held 3 s after its ttl was shortened');
$s4->quit;

# 5. Long names differing only past the head (46 bytes) or across a chunk
# boundary (46 + 60, 46 + 120) are distinct leases, and come back intact.
my @names;
my $base = 'n' x 200;
for my $pos (45, 46, 47, 105, 106, 107, 165, 166, 199)
{
	my $n = $base;
	substr($n, $pos, 1) = 'X';
	push @names, $n;
}
push @names, $base, 'n' x 46, 'n' x 47, 'n' x 106, 'n' x 107;
my %tok;
for my $n (@names)
{
	$tok{$n} = sql("SELECT lockable_acquire('$n', '10 min')");
	like($tok{$n}, qr/^\d+$/, 'long name of ' . length($n) . ' bytes acquired');
}
for my $n (@names)
{
	is(sql("SELECT lockable_acquire('$n', '10 min') IS NULL"), 't',
		'and busy');
	is(sql("SELECT lockable_is_held('$n', $tok{$n})"), 't', 'held by its token');
}
is(sql("SELECT count(*) FROM lockable_leases WHERE name LIKE 'nnn%'"),
	scalar(@names), 'every long name is its own lease');
$node->restart;
for my $n (@names)
{
	is(sql("SELECT lockable_is_held('$n', $tok{$n})"), 't',
		'restored across a clean restart');
}
is( sql("SELECT count(*) FROM lockable_leases WHERE name LIKE 'nnn%' AND "
		  . "length(name) IN (46, 47, 106, 107, 200)"),
	scalar(@names), 'with their names intact');
for my $n (@names)
{
	is(sql("SELECT lockable_release('$n', $tok{$n})"), 't', 'released');
}
is(sql("SELECT count(*) FROM lockable_leases WHERE name LIKE 'nnn%'"),
	'0', 'all gone');

# the pool takes its chunks back: fill it again with 200-byte names
my $got = sql(
	"SELECT count(lockable_acquire(repeat('p', 190) || lpad(g::text, 10, '0'), '1 min')) "
	  . "FROM generate_series(1, 33) g");
is($got, '33', '33 names of 200 bytes fit the pool of 100 chunks');
my ($ret, $o, $e) = $node->psql('postgres',
	"SELECT lockable_acquire(repeat('p', 190) || 'overflow00', '1 min')");
like($e, qr/too many long lease names/, 'the 34th is refused by the pool');
is(sql("SELECT lockable_acquire('short', '1 min') IS NOT NULL"), 't',
	'a short name still fits');

done_testing();
