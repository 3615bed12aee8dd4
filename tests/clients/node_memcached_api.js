// node_memcached_api.js HOST:PORT - exercises node's memcached module (npm
// memcached, text protocol); one "check<TAB>result" line per check (see
// harness.sh).  --check: is the client installed?
'use strict';
const Memcached = require('memcached');

if (process.argv[2] === '--check') {
  console.log('memcached', require('memcached/package.json').version);
  process.exit(0);
}

const c = new Memcached(process.argv[2], {
  retries: 0, timeout: 10000, idle: 60000, failures: 0, remove: false,
  maxValue: 2 * 1024 * 1024, poolSize: 2,
});
const BIG = 'x'.repeat(250 * 1024) + 'y'.repeat(250 * 1024);

// c.method(args..., cb(err, r)) as a promise of r ("EXC ..." on error)
const p = (m, ...args) => new Promise((resolve) => {
  c[m](...args, (err, r) => resolve(err ? 'EXC ' + String(err.message || err)
    .replace(/[\r\n]+/g, ' ') : r));
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

// a cas is a server-chosen number: only whether there is one is compared
const hasCas = (g) => (g && typeof g === 'object' && /^\d+$/.test(String(g.cas)) ? 'cas' : g);

async function main() {
  await check('flush', async () => p('flush'));
  await check('set', async () => p('set', 'p1', 'v1', 0));
  await check('get', async () => p('get', 'p1'));
  await check('get_miss', async () => p('get', 'nope'));
  await check('set_obj', async () => [await p('set', 'po', { a: [1, 2] }, 0),
    await p('get', 'po')]);
  await check('set_number', async () => [await p('set', 'pn', 42, 0),
    await p('get', 'pn')]);
  await check('get_multi', async () => {
    await p('set', 'm1', 'a', 0); await p('set', 'm2', 'b', 0);
    await p('set', 'm3', 'c', 0);
    return p('getMulti', ['m1', 'm2', 'm3', 'nope']);
  });
  await check('add_new', async () => p('add', 'a1', 'x', 0));
  await check('add_exists', async () => p('add', 'a1', 'y', 0));
  await check('replace', async () => p('replace', 'a1', 'z', 0));
  await check('replace_miss', async () => p('replace', 'nope', 'z', 0));
  await check('append', async () => [await p('append', 'a1', '++'), await p('get', 'a1')]);
  await check('prepend', async () => [await p('prepend', 'a1', '--'), await p('get', 'a1')]);
  await check('append_miss', async () => p('append', 'nope', 'x'));
  await check('delete', async () => p('del', 'a1'));
  await check('delete_miss', async () => p('del', 'a1'));
  await check('incr', async () => [await p('set', 'n', '10', 0), await p('incr', 'n', 5)]);
  await check('decr', async () => p('decr', 'n', 20));
  await check('incr_miss', async () => p('incr', 'nope', 1));
  await check('gets', async () => hasCas(await p('gets', 'p1')));
  await check('cas', async () => {
    const g = await p('gets', 'p1');
    const ok = await p('cas', 'p1', 'v2', g.cas, 0);
    const stale = await p('cas', 'p1', 'v3', g.cas, 0);
    return [ok, stale, await p('get', 'p1')];
  });
  await check('touch', async () => p('touch', 'p1', 100));
  await check('touch_miss', async () => p('touch', 'nope', 100));
  await check('parallel', async () => {
    const keys = [...Array(50).keys()].map((i) => 'q' + i);
    await Promise.all(keys.map((k) => p('set', k, 'v' + k, 0)));
    const got = await p('getMulti', keys);
    return Object.keys(got).length;
  });
  await check('big', async () => [await p('set', 'big', BIG, 0),
    (await p('get', 'big')) === BIG]);
  await check('big_multi', async () => {
    await p('set', 'b2', 'small', 0);
    const got = await p('getMulti', ['big', 'b2']);
    return [got.big === BIG, got.b2];
  });
  await check('expire', async () => {
    await p('set', 'e', 'x', 1);
    await new Promise((r) => setTimeout(r, 2100));
    return p('get', 'e');
  });
  await check('version', async () => {
    const v = await p('version');
    return Array.isArray(v) && v.length === 1 && typeof v[0].major === 'string'
      && /^\d+\.\d+\.\d+$/.test(v[0].version);
  });
  await check('stats', async () => {
    const s = (await p('stats'))[0] || {};
    return ['pid', 'uptime', 'version', 'curr_connections', 'cmd_get',
      'get_hits', 'curr_items', 'total_items', 'bytes', 'limit_maxbytes',
      'evictions', 'threads'].filter((k) => !(k in s));
  });
  await check('stats_settings', async () => 'maxconns' in ((await p('settings'))[0] || {}));
  await check('stats_items', async () => Array.isArray(await p('items')));
  await check('stats_slabs', async () => Array.isArray(await p('slabs')));
  await check('flush_then_get', async () => [await p('flush'), await p('get', 'p1')]);
  c.end();
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
