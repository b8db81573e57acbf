# Copyright (c) 2026, the lockable authors
#
# Without lockable in shared_preload_libraries there is no lease table:
# CREATE EXTENSION works, but every function says what is missing, with
# SQLSTATE 55000 and a hint, instead of crashing or acting without shared
# memory.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use LockableTest;

my $node = PostgreSQL::Test::Cluster->new('not_preloaded');
$node->init;
$node->start;

is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	'', 'lockable is not preloaded');
my ($ret, $stdout, $stderr) =
  $node->psql('postgres', 'CREATE EXTENSION lockable');
is($ret, 0, 'CREATE EXTENSION lockable works without preloading');
is($stderr, '', 'and says nothing');

foreach my $query (
	"SELECT lockable_acquire('a', '1min')",
	"SELECT lockable_heartbeat('a', 1)",
	"SELECT lockable_release('a', 1)",
	"SELECT lockable_force_release('a')",
	'SELECT * FROM lockable_leases',
	'SELECT * FROM lockable_stats')
{
	$stderr = sql_fails($node, $query);
	like(
		$stderr,
		qr/ERROR:\s+55000:\s+lockable must be loaded via shared_preload_libraries/,
		"$query: SQLSTATE 55000 and the reason");
	like(
		$stderr,
		qr/HINT:\s+Add lockable to shared_preload_libraries/,
		"$query: the hint says how to fix it");
}

# The server is unharmed.
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server still works');

# After preloading and a restart, the same database works.
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'lockable'");
$node->restart;
# (IF NOT EXISTS: so that this still runs if CREATE EXTENSION failed above)
$node->safe_psql('postgres', 'CREATE EXTENSION IF NOT EXISTS lockable');
like(
	$node->safe_psql('postgres', "SELECT lockable_acquire('a', '1min')"),
	qr/^\d+$/,
	'once preloaded, the extension works');

$node->stop;
done_testing();
