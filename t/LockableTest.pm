# Helpers shared by lockable's TAP tests.
package LockableTest;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use Exporter 'import';

our @EXPORT = qw(lockable_node);

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

1;
