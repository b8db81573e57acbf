# Copyright (c) 2026, the lockable authors
#
# Defects found in a review of counting and shared leases (version 1.3)
# that need a server of their own: each part failed before its fix.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use LockableTest;

#
# A clean restart restores every holder of a counting lease, also when the
# table was full at shutdown: a group takes one entry for its name and one
# per holder, and a later holder of a group restored already needs only
# its own.  The restore asked for two entries for every holder, so the
# last one was dropped, and with it every grant was held back until that
# holder would have expired.
#
my $node = lockable_node('full_restore', q{
lockable.worker_naptime = 100ms
lockable.max_leases = 4
});

sub sql { return $node->safe_psql('postgres', $_[0]); }

my $tokens = sql(
	"SELECT string_agg(t::text, ',' ORDER BY t) FROM "
	  . "(SELECT lockable_acquire('full', '10 min', slots => 3) AS t "
	  . "FROM generate_series(1, 3)) s");
like($tokens, qr/^\d+,\d+,\d+$/, 'three holders of a counting lease of 3');
is(stat_value($node, 'leases'), 4, 'the table is full: the name and three holders');

$node->restart;

is( sql(
		"SELECT string_agg(token::text, ',' ORDER BY token) FROM lockable_leases "
		  . "WHERE name = 'full' AND slots = 3 AND NOT shared"),
	$tokens,
	'every holder is restored with its token and slots');
is(stat_value($node, 'leases'), 4, 'in as many entries as before');
is(sql('SELECT grace_until IS NULL FROM lockable_stats'),
	't', 'and no grace period holds back other grants');

# a slot freed, a plain lease is granted at once
my ($first) = split /,/, $tokens;
is(sql("SELECT lockable_release('full', $first)"), 't', 'one holder releases');
like(sql("SELECT lockable_acquire('other', '1 min')"),
	qr/^\d+$/, 'another lease is granted at once');
is(sql("SELECT count(lockable_force_release(name)) FROM lockable_leases"),
	'3', 'the rest are force-released');
is(stat_value($node, 'leases'), 0, 'and the table is empty');

#
# A keepalive holder that asks for another holder of the same mode while a
# waiter of the other mode is queued waits behind that waiter (it never
# overtakes it), and the waiter waits for the keepalive holder: a deadlock,
# also when another session holds the name too.  It was only seen when
# every holder was the session's own, or the request's mode differed.
#
my $reader = $node->background_psql('postgres', on_error_stop => 0);
like($reader->query_safe(
		"SELECT lockable_acquire('queued', '1 min', keepalive => true, shared => true)"),
	qr/^\d+$/, 'a session holds the name shared, with keepalive');
like(sql("SELECT lockable_acquire('queued', '1 min', shared => true)"),
	qr/^\d+$/, 'another session holds the name too, shared');
my ($writer) = start_query($node,
	"SELECT lockable_acquire('queued', '1 min', wait => '30 s') IS NOT NULL AS writer;");
ok(wait_for_waiters($node, 'queued', 1), 'a writer is queued');
$reader->query(
	"SELECT lockable_acquire('queued', '1 min', wait => '3 s', shared => true)");
like($reader->{stderr}, qr/deadlock detected/,
	'the keepalive reader asking for another shared holder behind it is a deadlock');
$reader->{stderr} = '';
is(sql("SELECT max(waiters) FROM lockable_leases WHERE name = 'queued'"),
	'1', 'and it did not queue');
is(sql("SELECT count(lockable_force_release(name)) FROM (SELECT DISTINCT name FROM lockable_leases) s"),
	'1', 'the holders are force-released');
$writer->quit;
$reader->quit;

$node->stop;

done_testing();
