# Copyright (c) 2026, the lockable authors
#
# Fencing tokens never go backwards, even when the server's own record of
# them is lost or older than the tokens it gave out:
#  - pg_lockable/ deleted while the server is down, after a clean stop and
#    after a crash;
#  - a data directory restored from a base backup, started while the
#    server it was copied from went on granting (and restarted after a
#    crash, which moves its tokens past the reservation the copy holds).
# In each case the next token is greater than every token granted before.
# (Failover to a streaming standby is t/014_failover.pl.)

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Path qw(rmtree);
use FindBin;
use lib $FindBin::RealBin;
use LockableTest;

# lockable.max_ttl bounds the grace period of a start that lost its
# horizon: keep it short.
my $settings = q{
lockable.worker_naptime = 100ms
lockable.default_ttl = '2s'
lockable.max_ttl = '4s'
};

# The largest token granted on $node: grant $n leases and release them.
sub grant_some
{
	my ($node, $n, $what) = @_;
	my $max = $node->safe_psql('postgres', qq{
SELECT max(t) FROM (
  SELECT lockable_acquire('some-' || i, '2s', wait => '10s') AS t
  FROM generate_series(1, $n) AS i) s;
SELECT lockable_force_release('some-' || i) FROM generate_series(1, $n) AS i \\g /dev/null
});
	like($max, qr/^\d+$/, "$what: $n leases granted");
	return $max;
}

# Acquire with a wait that outlasts any grace period here.
sub acquire_after_grace
{
	my ($node, $name) = @_;
	return $node->safe_psql('postgres',
		"SELECT lockable_acquire('$name', '2s', wait => '15s')");
}

my $node = lockable_node('tokens', $settings);
my $dir = lockable_path($node);

#
# pg_lockable/ deleted after a clean stop.
#
my $max = grant_some($node, 20, 'clean stop');
$node->stop;
rmtree($dir);
ok(!-e $dir, 'clean stop: pg_lockable/ is gone');
$node->start;
my $t = acquire_after_grace($node, 'after-loss');
like($t, qr/^\d+$/, 'clean stop, pg_lockable/ lost: a lease is granted');
cmp_ok($t, '>', $max,
	'clean stop, pg_lockable/ lost: its token is greater than every token before'
);

#
# pg_lockable/ deleted after a crash.
#
$max = grant_some($node, 20, 'crash');
$max = $t if $t > $max;
$node->stop('immediate');
rmtree($dir);
$node->start;
$t = acquire_after_grace($node, 'after-crash-loss');
like($t, qr/^\d+$/, 'crash, pg_lockable/ lost: a lease is granted');
cmp_ok($t, '>', $max,
	'crash, pg_lockable/ lost: its token is greater than every token before');

#
# A data directory restored from a base backup, while the original went on:
# it granted more, crashed and was started again (so its tokens continue
# past the reservation the backup holds), and granted more still.
#
my $primary = lockable_node('original', $settings, allows_streaming => 1);
grant_some($primary, 10, 'original before the backup');
$primary->backup('base');
$primary->stop('immediate');
$primary->start;
$max = grant_some($primary, 10, 'original after the backup and a crash');

my $restored = PostgreSQL::Test::Cluster->new('restored');
$restored->init_from_backup($primary, 'base');
$restored->start;
$t = acquire_after_grace($restored, 'on-the-copy');
like($t, qr/^\d+$/, 'restored backup: a lease is granted');
cmp_ok($t, '>', $max,
	'restored backup: its token is greater than every token of the original');

$restored->stop;
$primary->stop;
$node->stop;
done_testing();
