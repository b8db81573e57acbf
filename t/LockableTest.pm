# Helpers shared by lockable's TAP tests: the scaffolding that several
# t/*.pl files need.  What a test asserts stays in the test; the few helpers
# that run assertions of their own say so.
package LockableTest;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use Test::More;
use Exporter 'import';

our @EXPORT = qw(
  lockable_node lockable_path read_raw write_raw
  sql_as sql_fails stat_value lease_count);

# lockable_node(NAME, SETTINGS, INIT_OPTIONS): a started node with lockable
# in shared_preload_libraries, SETTINGS (lines of postgresql.conf) appended,
# and the extension created in database postgres.  INIT_OPTIONS go to
# PostgreSQL::Test::Cluster's init (e.g. allows_streaming => 1).
sub lockable_node
{
	my ($name, $settings, %init) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);

	$node->init(%init);
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'lockable'\n" . ($settings // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION lockable');
	return $node;
}

# lockable_path(NODE, FILE): the path of FILE (leases.state, horizon) in
# NODE's pg_lockable/ directory; without FILE, of the directory itself.
sub lockable_path
{
	my ($node, $file) = @_;
	my $dir = $node->data_dir . '/pg_lockable';
	return defined $file ? "$dir/$file" : $dir;
}

# read_raw(PATH), write_raw(PATH, DATA): a whole file as bytes, for tests
# that damage or rewrite lockable's binary files.
sub read_raw
{
	my ($path) = @_;
	open(my $fh, '<:raw', $path) or die "could not read \"$path\": $!";
	local $/;
	my $data = <$fh>;
	close($fh);
	return $data;
}

sub write_raw
{
	my ($path, $data) = @_;
	open(my $fh, '>:raw', $path) or die "could not write \"$path\": $!";
	print $fh $data;
	close($fh) or die "could not close \"$path\": $!";
	return;
}

# sql_as(NODE, USER, QUERY, DB): run QUERY in DB (default postgres) as role
# USER (the bootstrap superuser if undef); dies on error.
sub sql_as
{
	my ($node, $user, $query, $db) = @_;
	$db //= 'postgres';
	my $connstr = $node->connstr($db);
	$connstr .= " user=$user" if defined $user;
	return $node->safe_psql($db, $query, connstr => $connstr);
}

# sql_fails(NODE, QUERY, PSQL_OPTIONS): run QUERY in database postgres,
# expecting it to fail: one test, "fails: QUERY".  Returns psql's stderr,
# which shows the SQLSTATE (VERBOSITY verbose).  PSQL_OPTIONS go to
# PostgreSQL::Test::Cluster's psql.
sub sql_fails
{
	my ($node, $query, %options) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($ret, $stdout, $stderr) =
	  $node->psql('postgres', "\\set VERBOSITY verbose\n$query", %options);
	isnt($ret, 0, "fails: $query");
	return $stderr;
}

# stat_value(NODE, COLUMN): one column of lockable_stats (quoted, in case
# one is a keyword).
sub stat_value
{
	my ($node, $column) = @_;
	return $node->safe_psql('postgres',
		qq{SELECT "$column" FROM lockable_stats});
}

# lease_count(NODE, NAME): how many rows lockable_leases has for NAME in
# database postgres (0 or 1).
sub lease_count
{
	my ($node, $name) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM lockable_leases WHERE name = '$name'");
}

1;
