# Copyright (c) 2026, the lockable authors
#
# Restored leases do not trust the wall clock.  A clean shutdown saves each
# lease with wall-clock timestamps; if the clock is stepped while the
# server is down, computing the remaining time from the clock at the next
# start would shorten or drop leases (a step forward) and hand their names
# to new holders while the old ones still hold them.  A restored lease, and
# a crash grace period carried over a clean restart, must never end earlier
# than the remaining time at shutdown implies.
#
# The steps are simulated by shifting every timestamp in leases.state (and
# fixing its checksum): timestamps two hours in the past look exactly like
# a clock that jumped two hours forward while the server was down.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use LockableTest;

my $node = lockable_node(
	'restore_clock', q{
lockable.worker_naptime = 100ms
lockable.default_ttl = '3s'
});
my $state_file = lockable_path($node, 'leases.state');

sub sql
{
	my ($query) = @_;
	return $node->safe_psql('postgres', $query);
}

# extract(epoch FROM $column) FROM $from, 0 for NULL
sub epoch_of
{
	my ($column, $from) = @_;
	return sql("SELECT coalesce(extract(epoch FROM $column), 0) FROM $from");
}

# CRC-32C, as PostgreSQL's pg_crc32c
my @crc_table;
for my $i (0 .. 255)
{
	my $c = $i;
	$c = ($c & 1) ? (($c >> 1) ^ 0x82F63B78) : ($c >> 1) for 1 .. 8;
	$crc_table[$i] = $c;
}

sub crc32c
{
	my ($data) = @_;
	my $crc = 0xFFFFFFFF;
	$crc = $crc_table[($crc ^ $_) & 0xFF] ^ ($crc >> 8) for unpack('C*', $data);
	return $crc ^ 0xFFFFFFFF;
}

# Move every timestamp of leases.state by $usec microseconds, or with
# $boot_id set, replace the boot id it was written under (version 2).
sub rewrite_state
{
	my (%change) = @_;
	my $data = read_raw($state_file);
	my ($magic, $version) = unpack('L< L<', $data);
	is(sprintf('%08X', $magic), '4C4B4C53', 'leases.state has the right magic number');
	my $header_len = $version == 1 ? 40 : 104;
	my $shift = $change{usec} // 0;

	# header: written_at at 24, grace_until at 32 (0: none)
	for my $off (24, 32)
	{
		my $ts = unpack('q<', substr($data, $off, 8));
		substr($data, $off, 8) = pack('q<', $ts + $shift) if $ts != 0;
	}
	if (defined $change{boot_id})
	{
		die 'no boot id in a version 1 state file' if $version == 1;
		substr($data, 64, 40) = pack('a40', $change{boot_id});
	}

	# entries: 56 bytes, then the name; acquired at 40, deadline at 48
	my $count = unpack('l<', substr($data, length($data) - 8, 4));
	my $pos = $header_len;
	for (1 .. $count)
	{
		my $len = unpack('L<', substr($data, $pos + 8, 4));
		for my $off (40, 48)
		{
			my $ts = unpack('q<', substr($data, $pos + $off, 8));
			substr($data, $pos + $off, 8) = pack('q<', $ts + $shift);
		}
		$pos += 56 + $len;
	}
	my $body = substr($data, 0, length($data) - 4);
	substr($data, length($data) - 4, 4) = pack('L<', crc32c($body));
	write_raw($state_file, $data);
	return;
}

my $two_hours = 2 * 3600 * 1_000_000;

#
# A crash grace period still running at a clean shutdown, then the clock
# jumps forward while the server is down: the grace period goes on.
#
sql("SELECT lockable_acquire('guarded', '8s')");
$node->stop('immediate');
$node->start;
my $grace_until = epoch_of('grace_until', 'lockable_stats');
cmp_ok($grace_until, '>', 0, 'a grace period after the crash');
$node->stop;
rewrite_state(usec => -$two_hours);
$node->start;
cmp_ok(epoch_of('grace_until', 'lockable_stats'), '>=', $grace_until - 0.5,
	'clock stepped forward: the grace period still lasts as long');
is(sql("SELECT lockable_acquire('guarded', '3s', wait => '0') IS NULL"),
	't', 'clock stepped forward: nothing is granted during it');
my $other = sql("SELECT lockable_acquire('other', '3s', wait => '15s')");
like($other, qr/^\d+$/, 'after the grace period leases are granted');
sql("SELECT lockable_release('other', $other)");

#
# A lease held at a clean shutdown, then the clock jumps forward two hours
# while the server is down.
#
my $token = sql("SELECT lockable_acquire('job', '40s')");
my $expires = epoch_of('expires_at', "lockable_leases WHERE name = 'job'");
my $offset = -s $node->logfile;
$node->stop;
rewrite_state(usec => -$two_hours);
$node->start;
like(slurp_file($node->logfile, $offset),
	qr/lockable: restored 1 leases from the last shutdown, 0 had expired/,
	'clock stepped forward: the lease is restored, not expired');
is(sql("SELECT token FROM lockable_leases WHERE name = 'job'"),
	$token, 'clock stepped forward: with its token');
my $now_expires = epoch_of('expires_at', "lockable_leases WHERE name = 'job'");
cmp_ok($now_expires, '>=', $expires - 0.5,
	'clock stepped forward: it ends no earlier than before the restart');
cmp_ok($now_expires, '<=', $expires + 30,
	'clock stepped forward: and not much later either');
is(sql("SELECT lockable_acquire('job', '3s', wait => '0') IS NULL"),
	't', 'clock stepped forward: nobody else gets it');

#
# The clock steps back two hours while the server is down: the lease is
# not made two hours longer.
#
$node->stop;
rewrite_state(usec => $two_hours);
$node->start;
is(sql("SELECT token FROM lockable_leases WHERE name = 'job'"),
	$token, 'clock stepped back: the lease is restored with its token');
$now_expires = epoch_of('expires_at', "lockable_leases WHERE name = 'job'");
cmp_ok($now_expires, '>=', $expires - 0.5,
	'clock stepped back: it ends no earlier than before the restart');
cmp_ok($now_expires, '<=', $expires + 30,
	'clock stepped back: and is not made two hours longer');

#
# A state file written under another boot of the machine: the downtime
# cannot be measured without the wall clock, so it is not counted; the
# lease keeps the whole remaining time it had at the shutdown.
#
$node->stop;
rewrite_state(boot_id => '00000000-0000-0000-0000-000000000000');
sleep(3);
$node->start;
$now_expires = epoch_of('expires_at', "lockable_leases WHERE name = 'job'");
cmp_ok($now_expires, '>', $expires + 2,
	'another boot: the time the server was down is not counted');

$node->stop;
done_testing();
