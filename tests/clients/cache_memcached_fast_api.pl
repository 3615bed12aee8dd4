# cache_memcached_fast_api.pl HOST:PORT - exercises Cache::Memcached::Fast
# (Debian libcache-memcached-fast-perl, text protocol); one
# "check<TAB>result" line per check (see harness.sh).  --check: is the
# client installed?
use strict;
use warnings;
use Cache::Memcached::Fast;

if ($ARGV[0] eq '--check') {
    print "Cache::Memcached::Fast $Cache::Memcached::Fast::VERSION\n";
    exit 0;
}

my $c = Cache::Memcached::Fast->new({
    servers => [$ARGV[0]], io_timeout => 10, connect_timeout => 5,
    max_failures => 0, close_on_error => 1, utf8 => 0,
    max_size => 2 * 1024 * 1024 });
my $big = join '', map { chr(32 + $_ % 90) } 0 .. 500 * 1024 - 1;

# a result as one line: undef, scalars, array and hash refs (sorted)
sub show {
    my ($v) = @_;
    return 'undef' unless defined $v;
    if (ref $v eq 'ARRAY') {
        return '[' . join(',', map { show($_) } @$v) . ']';
    }
    if (ref $v eq 'HASH') {
        return '{' . join(',', map { "$_=" . show($v->{$_}) } sort keys %$v)
            . '}';
    }
    return "'$v'";
}

sub check {
    my ($name, $fn) = @_;
    my $r = eval { show($fn->()) };
    $r = 'EXC ' . ($@ =~ s/ at .*//sr) unless defined $r;
    $| = 1;
    print "$name\t$r\n";
}

check('flush_all', sub { [values %{ $c->flush_all }] });
check('set', sub { $c->set('p1', 'v1') });
check('get', sub { $c->get('p1') });
check('get_miss', sub { $c->get('nope') });
check('set_multi', sub {
    [$c->set_multi(['m1', 'a'], ['m2', 'b'], ['m3', 'c'])] });
check('get_multi', sub { $c->get_multi('m1', 'm2', 'm3', 'nope') });
check('add_new', sub { $c->add('a1', 'x') });
check('add_exists', sub { $c->add('a1', 'y') });
check('replace', sub { $c->replace('a1', 'z') });
check('replace_miss', sub { $c->replace('nope', 'z') });
check('append', sub { [$c->append('a1', '++'), $c->get('a1')] });
check('prepend', sub { [$c->prepend('a1', '--'), $c->get('a1')] });
check('append_miss', sub { $c->append('nope', 'x') });
check('delete', sub { $c->delete('a1') });
check('delete_miss', sub { $c->delete('a1') });
check('delete_multi', sub { [$c->delete_multi('m1', 'm2', 'nope')] });
check('incr', sub { [$c->set('n', 10), $c->incr('n', 5)] });
check('decr', sub { $c->decr('n', 20) });
check('incr_miss', sub { $c->incr('nope') });
check('incr_multi', sub { [$c->incr_multi(['n', 2], 'nope')] });
check('gets_cas', sub {
    my $g = $c->gets('p1');
    my $ok = $c->cas('p1', @$g[0], 'v2');
    my $stale = $c->cas('p1', @$g[0], 'v3');
    [$g->[1], $ok, $stale, $c->get('p1')] });
check('cas_miss', sub { $c->cas('nope', 1, 'x') });
check('gets_multi', sub {
    my $h = $c->gets_multi('p1', 'nope');
    [sort map { "$_=" . $h->{$_}[1] } keys %$h] });
check('touch', sub { $c->touch('p1', 100) });
check('touch_miss', sub { $c->touch('nope', 100) });
check('gat', sub { $c->gat(100, 'p1') });
check('gat_miss', sub { $c->gat(100, 'nope') });
check('gats', sub { my $g = $c->gats(100, 'p1'); $g && $g->[1] });
check('gat_multi', sub { $c->gat_multi(100, 'p1', 'nope') });
check('nowait_batch', sub {
    $c->set("q$_", "v$_") for 0 .. 49;    # void context: noreply
    $c->delete('q0');
    $c->nowait_push;
    scalar keys %{ $c->get_multi(map { "q$_" } 0 .. 49) } });
check('nowait_then_big', sub {
    $c->set('nb', 'x');
    [$c->set('big', $big), ($c->get('big') // '') eq $big] });
check('big', sub { [$c->set('big2', $big), ($c->get('big2') // '') eq $big] });
check('expire', sub { [$c->set('e', 'x', -1), $c->get('e')] });
check('server_versions', sub {
    my $v = $c->server_versions;
    [map { $v->{$_} =~ /^\d+\.\d+\.\d+$/ ? 1 : $v->{$_} } sort keys %$v] });
check('flush_then_get', sub { [values %{ $c->flush_all }, $c->get('p1')] });
$c->disconnect_all;
