# dalli_api.rb HOST:PORT - exercises dalli's API (Debian ruby-dalli, the
# binary protocol); one "check<TAB>result" line per check (see
# harness.sh).  --check: is the client installed?
require 'dalli'

if ARGV[0] == '--check'
  puts "dalli #{Dalli::VERSION}"
  exit 0
end

Dalli.logger.level = Logger::FATAL
$c = Dalli::Client.new(ARGV[0], socket_timeout: 10, socket_max_failures: 1,
                       down_retry_delay: 0)
BIG = (0...500 * 1024).map { |i| (32 + i % 90).chr }.join

def check(name)
  r = begin
    yield
  rescue StandardError => e
    "EXC #{e.class}"
  end
  puts "#{name}\t#{r.inspect}"
  $stdout.flush
end

# a cas is a server-chosen number: only whether there is one is compared
def cas?(v)
  v.is_a?(Integer) && v.positive? ? 'cas' : v
end

check('flush') { $c.flush.map { |x| x == true } }
check('set') { cas?($c.set('p1', 'v1')) }
check('get') { $c.get('p1') }
check('get_miss') { $c.get('nope') }
check('set_obj') { [cas?($c.set('po', { 'a' => [1, 2] })), $c.get('po')] }
check('get_multi') do
  $c.set('m1', 'a'); $c.set('m2', 'b'); $c.set('m3', 'c')
  $c.get_multi('m1', 'm2', 'm3', 'nope').sort
end
check('add_new') { cas?($c.add('a1', 'x')) }
check('add_exists') { $c.add('a1', 'y') }
check('replace') { cas?($c.replace('a1', 'z')) }
check('replace_miss') { $c.replace('nope', 'z') }
RAW = { raw: true }.freeze
check('append') do
  [cas?($c.set('ra', 'z', nil, RAW)), $c.append('ra', '++'), $c.get('ra', RAW)]
end
check('prepend') { [$c.prepend('ra', '--'), $c.get('ra', RAW)] }
check('append_miss') { $c.append('nope', 'x') }
check('delete') { $c.delete('a1') }
check('delete_miss') { $c.delete('a1') }
check('incr_default') { $c.incr('n', 1, nil, 10) }
check('incr') { $c.incr('n', 5) }
check('decr') { $c.decr('n', 20) }
check('incr_miss') { $c.incr('nope', 1) }
check('get_cas') { v, cas = $c.get_cas('p1'); [v, cas?(cas)] }
check('set_cas') do
  _, cas = $c.get_cas('p1')
  [cas?($c.set_cas('p1', 'v2', cas)), $c.set_cas('p1', 'v3', cas), $c.get('p1')]
end
check('cas_block') do
  $c.set('cb', 1)
  [cas?($c.cas('cb') { |v| v + 1 }), $c.get('cb'), $c.cas('nope') { |v| v }]
end
check('cas_bang') { [cas?($c.cas!('cb2') { |v| (v || 0) + 1 }), $c.get('cb2')] }
check('delete_cas') do
  $c.set('dc', 'x')
  _, cas = $c.get_cas('dc')
  [$c.delete_cas('dc', cas), $c.get('dc')]
end
check('key_250') { k = 'k' * 250; [cas?($c.set(k, 'long')), $c.get(k), $c.get_multi(k, 'k')] }
check('delete_cas_stale') do
  $c.set('ds', 'x')
  _, cas = $c.get_cas('ds')
  $c.set('ds', 'y')
  [$c.delete_cas('ds', cas), $c.get('ds')]
end
check('touch') { $c.touch('p1', 100) }
check('touch_miss') { $c.touch('nope', 100) }
check('gat') { $c.set('g1', 'gv'); $c.gat('g1', 100) }
check('gat_miss') { $c.gat('nope', 100) }
check('fetch') { [$c.fetch('f1') { 'made' }, $c.fetch('f1') { 'again' }] }
check('multi_quiet') do
  $c.multi do
    50.times { |i| $c.set("q#{i}", "v#{i}") }
    $c.delete('q0')
    $c.add('q1', 'no')
  end
  [$c.get_multi((0...50).map { |i| "q#{i}" }).size, $c.get('q1')]
end
check('multi_then_big') do
  $c.multi { $c.set('mb', 'x') }
  [cas?($c.set('big', BIG)), $c.get('big') == BIG]
end
check('big') { [cas?($c.set('big2', BIG, nil, RAW)), $c.get('big2', RAW) == BIG] }
check('expire') { [cas?($c.set('e', 'x', 1)), (sleep 2.1; $c.get('e'))] }
check('stats') do
  s = $c.stats.values.first || {}
  %w[pid uptime version curr_connections cmd_get cmd_set get_hits curr_items
     total_items bytes limit_maxbytes evictions threads].reject { |k| s.key?(k) }
end
check('stats_items') { ($c.stats(:items).values.first || {}).class }
check('reset_stats') do
  r = $c.reset_stats
  r = r.values.first if r.respond_to?(:values)
  $c.set('rs', 'x'); $c.get('rs'); $c.get('nope')
  s = $c.stats.values.first
  [r, s['get_hits'], s['get_misses'], s['cmd_get']]
end
check('version') { $c.version.values.first.to_s.match?(/\A\d+\.\d+\.\d+\z/) }
check('alive') { $c.alive!.nil? }
check('flush_then_get') { $c.flush; $c.get('p1') }
$c.close
