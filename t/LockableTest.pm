# Helpers shared by lockable's TAP tests: the scaffolding that several
# t/*.pl files need.  What a test asserts stays in the test; the few helpers
# that run assertions of their own say so.
package LockableTest;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use Exporter 'import';

our @EXPORT = qw(
  lockable_node lockable_path read_raw write_raw);

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

1;
