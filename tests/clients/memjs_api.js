// memjs_api.js HOST:PORT - exercises memjs's API (npm memjs, binary
// protocol); one "check<TAB>result" line per check (see harness.sh).
// --check: is the client installed?
'use strict';
const memjs = require('memjs');

if (process.argv[2] === '--check') {
  console.log('memjs', require('memjs/package.json').version);
  process.exit(0);
}

const c = memjs.Client.create(process.argv[2], {
  retries: 0, timeout: 10, conntimeout: 5, keepAlive: false,
  logger: { log: () => {} },
});
const BIG = Buffer.alloc(500 * 1024, 0);
for (let i = 0; i < BIG.length; i++) BIG[i] = i % 256;

const str = (v) => (Buffer.isBuffer(v) ? v.toString() : v);
const val = async (k) => str((await c.get(k)).value);
const statsOf = (key) => new Promise((resolve) => {
  c.statsWithKey(key, (err, server, s) => resolve(err ? 'EXC' : s));
});

async function check(name, fn) {
  let r;
  try {
    r = await fn();
  } catch (e) {
    r = 'EXC ' + String(e.message).replace(/[\r\n]+/g, ' ');
  }
  process.stdout.write(name + '\t' + JSON.stringify(r === undefined ? null : r) + '\n');
}

async function main() {
  await check('flush', async () => c.flush().then(() => true));
  await check('set', async () => c.set('p1', 'v1', {}));
  await check('get', async () => val('p1'));
  await check('get_miss', async () => (await c.get('nope')).value);
  await check('set_flags', async () => {
    await c.set('pf', 'x', {});
    return (await c.get('pf')).flags.toString('hex');
  });
  await check('add_new', async () => c.add('a1', 'x', {}));
  await check('add_exists', async () => c.add('a1', 'y', {}));
  await check('replace', async () => c.replace('a1', 'z', {}));
  await check('replace_miss', async () => c.replace('nope', 'z', {}));
  await check('append', async () => [await c.append('a1', '++'), await val('a1')]);
  await check('prepend', async () => [await c.prepend('a1', '--'), await val('a1')]);
  await check('append_miss', async () => c.append('nope', 'x'));
  await check('delete', async () => c.delete('a1'));
  await check('delete_miss', async () => c.delete('a1'));
  await check('incr_initial', async () => c.increment('n', 1, { initial: 10 }));
  await check('incr', async () => c.increment('n', 5, {}));
  await check('decr', async () => c.decrement('n', 20, {}));
  await check('incr_miss_noinit', async () => c.increment('nope', 1, {}));
  await check('touch', async () => c.touch('p1', 100));
  await check('touch_miss', async () => c.touch('nope', 100));
  await check('parallel', async () => {
    const keys = [...Array(50).keys()].map((i) => 'q' + i);
    await Promise.all(keys.map((k) => c.set(k, 'v' + k, {})));
    const got = await Promise.all(keys.map((k) => val(k)));
    return got.filter((v, i) => v === 'v' + keys[i]).length;
  });
  await check('big', async () => {
    await c.set('big', BIG, {});
    return (await c.get('big')).value.equals(BIG);
  });
  await check('big_parallel', async () => {
    await Promise.all([c.set('b1', BIG, {}), c.set('b2', 'small', {})]);
    const [a, b] = await Promise.all([c.get('b1'), c.get('b2')]);
    return [a.value.equals(BIG), str(b.value)];
  });
  await check('too_big', async () => c.set('huge', Buffer.alloc(2 * 1024 * 1024), {}));
  await check('expire', async () => {
    await c.set('e', 'x', { expires: 1 });
    await new Promise((r) => setTimeout(r, 2100));
    return (await c.get('e')).value;
  });
  await check('stats', async () => {
    const s = await statsOf('');
    return ['pid', 'uptime', 'version', 'curr_connections', 'cmd_get',
      'get_hits', 'curr_items', 'total_items', 'bytes', 'limit_maxbytes',
      'evictions', 'threads'].filter((k) => !(k in s));
  });
  await check('stats_version', async () => /^\d+\.\d+\.\d+$/.test((await statsOf('')).version));
  await check('stats_settings', async () => 'maxconns' in (await statsOf('settings')));
  await check('stats_items', async () => typeof (await statsOf('items')));
  await check('flush_then_get', async () => {
    await c.flush();
    return (await c.get('p1')).value;
  });
  c.close();
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
