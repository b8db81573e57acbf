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

$node->stop;

done_testing();
