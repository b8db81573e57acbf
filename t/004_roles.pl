# Copyright (c) 2026, the lockable authors
#
# Who may do what with a lease: only members of the owning role may renew
# or release it or see its token, only privileged roles may force-release
# it.  Lease names are per database and limited to 200 bytes.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use LockableTest;

my $node = lockable_node('roles', "lockable.worker_naptime = 100ms\n",
	extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->safe_psql(
	'postgres', q{
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
CREATE ROLE carol LOGIN IN ROLE alice;
});

# Run SQL as a role, expecting an error; returns stderr, which shows the
# SQLSTATE.
sub error_as
{
	my ($user, $query) = @_;
	my ($ret, $stdout, $stderr) = $node->psql(
		'postgres',
		"\\set VERBOSITY verbose\n$query",
		connstr => $node->connstr('postgres') . " user=$user");
	isnt($ret, 0, "$user: fails: $query");
	return $stderr;
}

sub sql { return sql_as($node, undef, @_); }

#
# A lease acquired by alice.
#
my $t = sql_as($node, 'alice', "SELECT lockable_acquire('r', '1min')");
like($t, qr/^\d+$/, 'alice acquired lease r');
is(sql("SELECT owner FROM lockable_leases WHERE name = 'r'"),
	'alice', 'lockable_leases shows alice as the owner');

# bob has the token, but is not a member of alice.
my $err = error_as('bob', "SELECT lockable_heartbeat('r', $t)");
like($err, qr/ERROR:\s+42501:\s+permission denied for lease "r"/,
	'bob cannot renew alice\'s lease with its token (42501)');
$err = error_as('bob', "SELECT lockable_release('r', $t)");
like($err, qr/ERROR:\s+42501:\s+permission denied for lease "r"/,
	'bob cannot release alice\'s lease with its token (42501)');
is(sql("SELECT token = $t AND renewals = 0 FROM lockable_leases WHERE name = 'r'"),
	't', 'the lease is untouched by bob\'s attempts');

# The token is shown to members of the owning role only.
is(sql_as($node, 'bob', "SELECT token IS NULL FROM lockable_leases WHERE name = 'r'"),
	't', 'bob sees the lease without its token');
is(sql_as($node, 'alice', "SELECT token FROM lockable_leases WHERE name = 'r'"),
	$t, 'alice sees the token');
is(sql_as($node, 'carol', "SELECT token FROM lockable_leases WHERE name = 'r'"),
	$t, 'carol, a member of alice, sees the token');

# carol may act for alice.
is(sql_as($node, 'carol', "SELECT lockable_heartbeat('r', $t)"),
	't', 'carol renews alice\'s lease');
is(sql_as($node, 'carol', "SELECT lockable_release('r', $t)"),
	't', 'carol releases alice\'s lease');
is(sql("SELECT count(*) FROM lockable_leases WHERE name = 'r'"),
	'0', 'the lease is gone');

#
# lockable_force_release is for privileged roles only.
#
$t = sql_as($node, 'alice', "SELECT lockable_acquire('f', '1min')");
like($t, qr/^\d+$/, 'alice acquired lease f');
foreach my $user ('bob', 'alice')
{
	$err = error_as($user, "SELECT lockable_force_release('f')");
	like(
		$err,
		qr/ERROR:\s+42501:\s+permission denied for function lockable_force_release/,
		"$user cannot run lockable_force_release");
}
is(sql("SELECT token FROM lockable_leases WHERE name = 'f'"),
	$t, 'the lease is still held');
my $forced = sql("SELECT forced FROM lockable_stats");
is(sql("SELECT lockable_force_release('f')"),
	't', 'a superuser force-releases it');
is(sql("SELECT count(*) FROM lockable_leases WHERE name = 'f'"),
	'0', 'the lease is gone');
is(sql("SELECT forced FROM lockable_stats") - $forced,
	1, 'lockable_stats.forced counts it');
is(sql_as($node, 'alice', "SELECT lockable_release('f', $t)"),
	'f', 'alice\'s token no longer releases it');

# Granting EXECUTE is how an administrator delegates it.
sql("GRANT EXECUTE ON FUNCTION lockable_force_release(text) TO bob");
$t = sql_as($node, 'alice', "SELECT lockable_acquire('f', '1min')");
is(sql_as($node, 'bob', "SELECT lockable_force_release('f')"),
	't', 'with EXECUTE granted, bob force-releases alice\'s lease');

#
# Names are per database.
#
sql('CREATE DATABASE other');
sql_as($node, undef, 'CREATE EXTENSION lockable', 'other');
my $t1 = sql("SELECT lockable_acquire('same', '1min')");
my $t2 = sql_as($node, undef, "SELECT lockable_acquire('same', '1min')", 'other');
like($t1, qr/^\d+$/, 'lease "same" acquired in database postgres');
like($t2, qr/^\d+$/, 'lease "same" acquired in database other as well');
isnt($t1, $t2, 'with different tokens');
is(sql("SELECT leases FROM lockable_stats"), '2', 'these are two leases');
is(sql("SELECT string_agg(token::text, ',') FROM lockable_leases"),
	$t1, 'each database sees only its own lease (postgres)');
is( sql_as(
		$node, undef, "SELECT string_agg(token::text, ',') FROM lockable_leases",
		'other'),
	$t2,
	'each database sees only its own lease (other)');
is(sql("SELECT lockable_release('same', $t2)"),
	'f', 'the other database\'s token does not release this one');
is(sql_as($node, undef, "SELECT lockable_release('same', $t2)", 'other'),
	't', 'released in database other');
is(sql("SELECT token FROM lockable_leases WHERE name = 'same'"),
	$t1, 'the lease in database postgres is still held');
is(sql("SELECT lockable_release('same', $t1)"), 't', 'and released');

#
# Name length: up to 200 bytes, counted in bytes, not characters.
#
like(sql("SELECT lockable_acquire(repeat('x', 200), '1min')"),
	qr/^\d+$/, 'a 200-byte name works');
is(sql("SELECT octet_length(name) FROM lockable_leases WHERE name LIKE 'xxx%'"),
	'200', 'lockable_leases shows the whole 200-byte name');
like(sql("SELECT lockable_acquire(repeat('é', 100), '1min')"),
	qr/^\d+$/, 'a name of 100 two-byte characters (200 bytes) works');
is( sql(
		"SELECT length(name) || '/' || octet_length(name) FROM lockable_leases WHERE name LIKE 'é%'"
	),
	'100/200',
	'that lease name is 100 characters, 200 bytes');

$err = error_as('alice', "SELECT lockable_acquire(repeat('y', 201), '1min')");
like($err, qr/ERROR:\s+22001:\s+lease name is too long/,
	'a 201-byte name is an error (22001)');
$err = error_as('alice',
	"SELECT lockable_acquire(repeat('é', 100) || 'x', '1min')");
like($err, qr/ERROR:\s+22001:\s+lease name is too long/,
	'a name of 101 characters and 201 bytes is an error too');
$err = error_as('alice',
	"SELECT lockable_release(repeat('y', 201), 1)");
like($err, qr/ERROR:\s+22001:\s+lease name is too long/,
	'lockable_release checks the length too');

$node->stop;
done_testing();
