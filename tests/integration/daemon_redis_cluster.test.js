// Redis Cluster: a 3-master cluster started by the test (three redis-servers with
// cluster-enabled on loopback ports, joined with `redis-cli --cluster create`, waited for
// until every node says cluster_state:ok), two daemons on it (`store: {cluster: true}`,
// one seed url), six budget trees chosen so that CLUSTER KEYSLOT puts two on each master.
// Concurrent clients reserve and commit on every tree through both daemons, each request
// with an idempotency key; a 503 is sent again, same key, to the other daemon. Mid-run
// (once enough commits are acknowledged: a condition, not a time) one tree's slot is
// moved to another master by hand, as `redis-cli --cluster reshard` does (IMPORTING,
// MIGRATING, MIGRATE of its keys 10 at a time, so that the tree is split between the two
// masters for a while, then SETSLOT NODE everywhere): the daemons meet TRYAGAIN, ASK and
// MOVED, must follow them, and must never decide on half a tree. Afterwards:
//   - no budget's spend is past its limit, nothing is left held;
//   - each budget's spend is exactly the sum of the commits acknowledged below it (none
//     lost, none counted twice), as read through either daemon;
//   - the moved tree's keys are all on its new master, and commits on it were
//     acknowledged after the move;
//   - every master holds the function library.
// Then: a master stopped (SIGSTOP) answers 503 for its trees only and is reconnected to
// after SIGCONT; a master killed (SIGKILL) with a replica in sync is failed over by the
// cluster, and the daemons find the promoted replica and lose nothing acknowledged.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const { execFile } = require('node:child_process');
const { tempDir, startDaemon, eventually, cli: tollgate } = require('./daemon_helpers');
const { startRedis, post, writeConfig } = require('./redis_helpers');

const CLIENTS = Number(process.env.TG_REDIS_CLIENTS || 120);
const SECONDS = Number(process.env.TG_REDIS_SECONDS || 5);
const MOVE_AFTER_COMMITS = 150;
const TREES_PER_MASTER = 2;
const KEY = 'k';
const RETRY_PAUSE_MS = 20; // a client's pause before sending a 503'd request again
const LIMITS = { '': 20e6, '/a': 12e6, '/b': 12e6 }; // per tree: root, and two leaves
const redisCli = process.env.TG_REDIS_CLI || 'redis-cli';

// redis-cli's answer as text (lines), failing the test on an error exit.
function cli(port, args) {
  return new Promise((resolve, reject) => {
    execFile(redisCli, ['-h', '127.0.0.1', '-p', String(port), ...args], (error, stdout, stderr) => {
      if (error) reject(new Error(`redis-cli ${args.join(' ')}: ${error.message} ${stderr}`));
      else resolve(stdout.trim());
    });
  });
}

// port -> {id, slots: [[start, end], ...]} of the masters, from CLUSTER NODES.
async function masters(port) {
  const out = {};
  for (const line of (await cli(port, ['CLUSTER', 'NODES'])).split('\n')) {
    const [id, address, flags, , , , , , ...ranges] = line.split(' ');
    if (!flags.includes('master')) continue;
    const slots = ranges.filter((r) => /^\d+(-\d+)?$/.test(r))
      .map((r) => r.split('-').map(Number)).map(([a, b]) => [a, b === undefined ? a : b]);
    out[Number(address.split('@')[0].split(':')[1])] = { id, slots };
  }
  return out;
}

const owner = (all, slot) => Number(Object.keys(all).find(
  (port) => all[port].slots.some(([a, b]) => slot >= a && slot <= b)));

// Moves `slot` from master `from` to master `to` (ports) as redis-cli --cluster reshard
// does with its default pipeline: keys in batches of MIGRATE_BATCH until none is left,
// then the new owner told to every master. Resolves with the number of keys moved.
const MIGRATE_BATCH = 10;
async function moveSlot(all, slot, from, to) {
  await cli(to, ['CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', all[from].id]);
  await cli(from, ['CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', all[to].id]);
  let moved = 0;
  for (;;) {
    const keys = (await cli(from, ['CLUSTER', 'GETKEYSINSLOT', String(slot), String(MIGRATE_BATCH)]))
      .split('\n').filter(Boolean);
    if (keys.length === 0) break;
    const migrated = await cli(from, ['MIGRATE', '127.0.0.1', String(to), '', '0', '10000', 'KEYS', ...keys]);
    assert.equal(migrated, 'OK', `MIGRATE of ${keys.length} keys`);
    moved += keys.length;
  }
  for (const port of [to, from, ...Object.keys(all).map(Number).filter((p) => p !== to && p !== from)]) {
    await cli(port, ['CLUSTER', 'SETSLOT', String(slot), 'NODE', all[to].id]);
  }
  return moved;
}

// Three masters joined into one cluster, stopped at the end of test `t`; resolves once
// every node says cluster_state:ok, with {servers, ports, all (masters())}. The node timeout
// is long by default so that a master stopped on purpose for a second is not failed by the
// others; a failover test wants it short.
async function startCluster(t, nodeTimeoutMs = 30000) {
  const servers = [];
  t.after(() => Promise.all(servers.map((s) => s.stop())));
  for (let i = 0; i < 3; i++) {
    servers.push(await startRedis(['--cluster-enabled', 'yes', '--cluster-node-timeout', String(nodeTimeoutMs)]));
  }
  const ports = servers.map((s) => s.port);
  await cli(ports[0], ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes']);
  const ok = await eventually(async () => {
    for (const port of ports) {
      if (!/cluster_state:ok/.test(await cli(port, ['CLUSTER', 'INFO']))) return false;
    }
    return true;
  }, 30000);
  assert.ok(ok, 'every node says cluster_state:ok');
  const all = await masters(ports[0]);
  assert.equal(Object.keys(all).length, 3);
  return { servers, ports, all };
}

// TREES_PER_MASTER trees on each master, by the slot the server gives their keys:
// [{root, slot, port}].
async function spreadTrees(ports, all) {
  const trees = [];
  const perMaster = {};
  for (let i = 0; trees.length < 3 * TREES_PER_MASTER; i++) {
    const root = `t${i}`;
    const slot = Number(await cli(ports[0], ['CLUSTER', 'KEYSLOT', `tg:{${root}}:`]));
    const port = owner(all, slot);
    if ((perMaster[port] || 0) >= TREES_PER_MASTER) continue;
    perMaster[port] = (perMaster[port] || 0) + 1;
    trees.push({ root, slot, port });
  }
  assert.deepEqual(Object.values(perMaster), Array(3).fill(TREES_PER_MASTER),
    'trees spread over all three masters');
  return trees;
}

// Events on a cluster (docs/multi-node.md, "Events"): each tree's stream on its master, the
// ledger-wide stream the collectors fill in the registry's slot. Once the collectors have
// caught up, GET /v1/events from each daemon holds every tree's events once, in the tree's
// order, ids increasing. Returns how many.
const KINDS = ['threshold_crossed', 'revoked', 'reinstated', 'denied', 'overrun', 'hold_expired',
  'window_rolled', 'budget_changed'];
async function treeEvents(port, root) {
  const script = "return cjson.encode(redis.call('XRANGE', KEYS[1], '-', '+'))";
  const text = await cli(port, ['-c', 'EVAL', script, '1', `tg:{${root}}:events`]);
  const entries = text === '{}' ? [] : JSON.parse(text);
  return entries.map(([, kv]) => {
    const f = {};
    for (let i = 0; i < kv.length; i += 2) f[kv[i]] = kv[i + 1];
    return `${KINDS[Number(f.k)]} ${f.t} ${f.b} ${f.a === undefined ? null : f.a}`;
  });
}
async function sameEvents(ports, trees, daemons) {
  const want = {};
  for (const { root } of trees) want[root] = await treeEvents(ports[0], root);
  const total = Object.values(want).reduce((n, list) => n + list.length, 0);
  for (const daemon of daemons) {
    const page = async () => {
      const rows = [];
      for (let since = 0; ;) {
        const r = await daemon.call('GET', `/v1/events?since=${since}&limit=1000`, undefined, KEY);
        assert.equal(r.status, 200, r.text);
        rows.push(...r.json.events);
        if (r.json.next === since) return rows;
        since = r.json.next;
      }
    };
    const rows = await eventually(async () => { const r = await page(); return r.length >= total && r; }, 30000);
    assert.ok(rows, `the collectors copy all ${total} events`);
    assert.equal(rows.length, total, 'each event once');
    for (let i = 1; i < rows.length; i++) assert.ok(rows[i].id > rows[i - 1].id, 'ids increase');
    for (const { root } of trees) {
      const mine = rows.filter((e) => e.budget === root || e.budget.startsWith(`${root}/`));
      assert.deepEqual(mine.map((e) => `${e.kind} ${e.time_ms} ${e.budget} ${e.amount_micros}`), want[root],
        `tree ${root}: its events in its order`);
    }
  }
  return total;
}

// Two daemons on the cluster (seed: the first master), every tree's budgets in their config.
async function startDaemons(t, ports, trees, timeoutMs, env = {}) {
  const dir = tempDir('redis-cluster');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const budgets = trees.flatMap(({ root }) => Object.entries(LIMITS).map(([suffix, limit]) =>
    `  - {path: ${root}${suffix}, limit: "${(limit / 1e6).toFixed(2)}"}`)).join('\n');
  const config = writeConfig(dir, 'c.yaml', `port: 0
store: {kind: redis, cluster: true, url: "redis://127.0.0.1:${ports[0]}", timeout_ms: ${timeoutMs}, durability: relaxed}
limits: {connections_max: 1024}
budgets:
${budgets}
`);
  const daemons = [];
  t.after(() => Promise.all(daemons.map((d) => d.stop('SIGKILL'))));
  for (let i = 0; i < 2; i++) daemons.push(await startDaemon(config, { admin: KEY, env }));
  return daemons;
}

test('the config says what is wrong with a cluster store; a server that is no cluster is refused', async (t) => {
  const dir = tempDir('redis-cluster-config');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const refused = async (name, store) => {
    const file = writeConfig(dir, name, `port: 0\nstore: ${store}\nbudgets:\n  - {path: t, limit: "1.00"}\n`);
    const r = await tollgate(['serve', '--config', file], { TOLLGATE_ADMIN_KEY: KEY });
    assert.notEqual(r.status, 0, `${store} must be refused`);
    return r.stderr;
  };
  assert.match(await refused('a.yaml', '{kind: redis, url: "redis://127.0.0.1:1", cluster: yes}'),
    /store\.cluster must be true or false/);
  assert.match(await refused('b.yaml', '{kind: redis, url: "redis://127.0.0.1:1/3", cluster: true}'),
    /database 0/);
  assert.match(await refused('c.yaml', '{kind: memory, cluster: true}'), /store\.cluster is for store\.kind redis/);
  const plain = await startRedis();
  t.after(() => plain.stop());
  assert.match(await refused('d.yaml', `{kind: redis, url: "${plain.url}", cluster: true, timeout_ms: 500, durability: relaxed}`),
    /cannot read the cluster's slots.*cluster support disabled/);
});

// The run of the first two tests: `mode` 'async' (the daemons' pipelined connections) or
// 'sync' (the fallback TOLLGATE_REDIS_SYNC=1, whose redirections redis_cluster.c follows).
async function movedRun(t, mode) {
  const { ports, all } = await startCluster(t);
  const trees = await spreadTrees(ports, all);
  const daemons = await startDaemons(t, ports, trees, 2000,
    mode === 'sync' ? { TOLLGATE_REDIS_SYNC: '1' } : {});
  const agents = daemons.map(() => new http.Agent({ keepAlive: true, maxSockets: CLIENTS }));
  t.after(() => agents.forEach((a) => a.destroy()));
  for (const port of ports) {
    assert.match(await cli(port, ['FUNCTION', 'LIST', 'LIBRARYNAME', 'tollgate']), /tollgate/,
      `the function library is on the master at ${port}`);
  }

  const stats = { grants: 0, refusals: 0, commits: 0, unavailable: 0, movedTreeCommitsAfter: 0 };
  const send = async (url, body, start) => {
    for (let attempt = 0; ; attempt++) {
      const i = (start + attempt) % daemons.length;
      const r = await post(agents[i], daemons[i].port, url, body, KEY);
      assert.notEqual(r.status, 0, `an answer from daemon ${i}: ${r.error}`);
      if (r.status === 503) {
        assert.equal(r.json && r.json.error && r.json.error.code, 'store_unavailable', r.text);
        stats.unavailable++;
        await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
        continue;
      }
      return r;
    }
  };
  const charged = {}; // leaf path -> micros acknowledged
  const refused = new Set(); // trees that refused at least once
  const moved = trees[0];
  const target = ports.find((p) => p !== moved.port);
  let move = null;
  const deadline = Date.now() + SECONDS * 1000;
  const client = async (c) => {
    for (let n = 0; Date.now() < deadline || refused.size < trees.length || move === null; n++) {
      const tree = trees[(c + n) % trees.length];
      const leaf = `${tree.root}${n % 2 ? '/a' : '/b'}`;
      const amount = 1 + Math.floor(Math.random() * 300000);
      const start = Math.floor(Math.random() * daemons.length);
      const h = await send('/v1/holds', { budget: leaf, amount_micros: amount, idempotency_key: `r-${c}-${n}` }, start);
      if (h.status === 402) { refused.add(tree.root); stats.refusals++; continue; }
      assert.equal(h.status, 200, h.text);
      stats.grants++;
      const actual = Math.floor(Math.random() * (amount + 1));
      const k = await send(`/v1/holds/${h.json.hold_id}/commit`,
        { actual_micros: actual, idempotency_key: `c-${c}-${n}` }, start + 1);
      assert.equal(k.status, 200, k.text);
      charged[leaf] = (charged[leaf] || 0) + actual;
      if (move !== null && move.done && tree === moved) stats.movedTreeCommitsAfter++;
      if (++stats.commits === MOVE_AFTER_COMMITS) {
        move = { done: false };
        move.promise = moveSlot(all, moved.slot, moved.port, target).then((keys) => {
          move.keys = keys;
          move.done = true;
        });
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
  assert.ok(move !== null, `the slot was moved mid-run (${stats.commits} commits)`);
  await move.promise;

  // The moved tree lives on its new master only, and the daemons followed it there.
  assert.equal(await cli(moved.port, ['CLUSTER', 'COUNTKEYSINSLOT', String(moved.slot)]), '0');
  assert.ok(Number(await cli(target, ['CLUSTER', 'COUNTKEYSINSLOT', String(moved.slot)])) > 0);
  assert.equal(owner(await masters(ports[0]), moved.slot), target);

  for (const daemon of daemons) {
    for (const { root } of trees) {
      let total = 0;
      for (const suffix of ['/a', '/b']) {
        const leaf = `${root}${suffix}`;
        const b = (await daemon.call('GET', `/v1/budgets/${leaf}`, undefined, KEY)).json;
        assert.equal(b.spent_micros, charged[leaf] || 0, `${leaf}: spend equals the acknowledged commits`);
        assert.ok(b.spent_micros <= LIMITS[suffix], `${leaf}: spent ${b.spent_micros} past its limit`);
        assert.equal(b.held_micros, 0, `${leaf}: nothing left held`);
        total += charged[leaf] || 0;
      }
      const b = (await daemon.call('GET', `/v1/budgets/${root}`, undefined, KEY)).json;
      assert.equal(b.spent_micros, total, `${root}: spend equals the acknowledged commits`);
      assert.ok(b.spent_micros <= LIMITS[''], `${root}: spent ${b.spent_micros} past its limit`);
    }
  }
  assert.ok(stats.movedTreeCommitsAfter > 0, 'commits on the moved tree acknowledged after the move');
  const events = await sameEvents(ports, trees, daemons);
  // What the old master answered instead of running calls (its error counts by kind).
  const errors = await cli(moved.port, ['INFO', 'errorstats']);
  const count = (kind) => Number((errors.match(new RegExp(`errorstat_${kind}:count=(\\d+)`)) || [0, 0])[1]);
  assert.ok(count('MOVED') > 0, `the old master answered MOVED: ${errors}`);
  console.log(`# ${mode}: ${CLIENTS} clients, 2 daemons, 3 masters: ${stats.grants} granted, ${stats.commits} ` +
    `committed, ${stats.refusals} refused, ${stats.unavailable} 503s retried; slot ${moved.slot} ` +
    `(${move.keys} keys) moved from ${moved.port} to ${target}, then ${stats.movedTreeCommitsAfter} ` +
    `commits on that tree; the old master answered ${count('TRYAGAIN')} TRYAGAIN, ${count('ASK')} ASK, ` +
    `${count('MOVED')} MOVED; ${events} events, each once on GET /v1/events from both daemons`);
}

test('two daemons on a 3-master redis cluster, trees on every master, a slot moved mid-run',
  (t) => movedRun(t, 'async'));

test('the same on the synchronous fallback (TOLLGATE_REDIS_SYNC=1)', (t) => movedRun(t, 'sync'));

test('a master stopped: 503 within the bound for its trees only, service back by itself', async (t) => {
  const TIMEOUT_MS = 300;
  const { servers, ports, all } = await startCluster(t);
  const trees = await spreadTrees(ports, all);
  const daemons = await startDaemons(t, ports, trees, TIMEOUT_MS);
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  const stopped = servers[1];
  const reserve = async (daemon, tree, n) => {
    const began = Date.now();
    const r = await post(agent, daemon.port, '/v1/holds',
      { budget: `${tree.root}/a`, amount_micros: 1, idempotency_key: `s-${tree.root}-${n}` }, KEY);
    return { ...r, ms: Date.now() - began };
  };
  for (const tree of trees) assert.equal((await reserve(daemons[0], tree, 0)).status, 200);

  stopped.pause();
  t.after(() => stopped.resume());
  // Rounds over every tree through both daemons, concurrently, while the master is stopped.
  const answers = [];
  for (let round = 1; round <= 4; round++) {
    answers.push(...await Promise.all(daemons.flatMap((d) => trees.map(async (tree) =>
      ({ tree, ...(await reserve(d, tree, round)) })))));
  }
  stopped.resume();
  for (const a of answers) {
    if (a.tree.port === stopped.port) {
      assert.equal(a.status, 503, `${a.tree.root} on the stopped master: ${a.text}`);
      assert.equal(a.json.error.code, 'store_unavailable');
      // One timeout, plus scheduling slack on a loaded machine; never a hang.
      assert.ok(a.ms < TIMEOUT_MS + 1500, `answered in ${a.ms} ms`);
    } else {
      assert.equal(a.status, 200, `${a.tree.root} on a running master: ${a.text}`);
    }
  }
  // Back by itself: the daemons reconnect to the master without a restart.
  let n = 100;
  const back = await eventually(async () => {
    const r = await Promise.all(daemons.flatMap((d) => trees.map((tree) => reserve(d, tree, n++))));
    return r.every((a) => a.status === 200);
  }, 10000);
  assert.ok(back, 'every tree answered 200 again after SIGCONT');
});

test('a master killed: its replica is promoted, the daemons find it and nothing acknowledged is lost', async (t) => {
  const { servers, ports, all } = await startCluster(t, 1000);
  const trees = await spreadTrees(ports, all);
  // A replica of the second master, joined and in sync before anything is written.
  const replica = await startRedis(['--cluster-enabled', 'yes', '--cluster-node-timeout', '1000']);
  t.after(() => replica.stop());
  const victim = servers[1];
  await cli(ports[0], ['--cluster', 'add-node', `127.0.0.1:${replica.port}`, `127.0.0.1:${ports[0]}`,
    '--cluster-slave', '--cluster-master-id', all[victim.port].id]);
  assert.ok(await eventually(async () =>
    /master_link_status:up/.test(await cli(replica.port, ['INFO', 'replication'])), 30000),
  'the replica is in sync');
  const daemons = await startDaemons(t, ports, trees, 500);
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  const charged = {};
  let n = 0;
  // A reserve and commit on every tree through daemon i; resolves the statuses seen.
  const round = async (i) => Promise.all(trees.map(async (tree) => {
    const leaf = `${tree.root}/a`;
    const key = `f-${n++}`;
    const h = await post(agent, daemons[i].port, '/v1/holds', { budget: leaf, amount_micros: 1000, idempotency_key: `r${key}` }, KEY);
    if (h.status !== 200) return h.status;
    const k = await post(agent, daemons[i].port, `/v1/holds/${h.json.hold_id}/commit`, { actual_micros: 700, idempotency_key: `c${key}` }, KEY);
    if (k.status === 200) charged[leaf] = (charged[leaf] || 0) + 700;
    return k.status;
  }));
  for (let i = 0; i < 3; i++) assert.deepEqual(await round(i % 2), Array(trees.length).fill(200));
  // Every write of the victim has reached its replica before the kill (so none is lost
  // to asynchronous replication, which is Redis's promise, not ours to test).
  assert.ok(await eventually(async () => {
    const info = await cli(victim.port, ['INFO', 'replication']);
    const master = Number(info.match(/master_repl_offset:(\d+)/)[1]);
    const slave = Number((info.match(/slave0:.*offset=(\d+)/) || [0, -1])[1]);
    return slave === master;
  }, 10000), 'the replica has every write');

  await victim.kill();
  const killedAt = Date.now();
  // 503 (store_unavailable) meanwhile; then every tree answered again, the victim's on
  // the promoted replica, which the daemons learn from the other masters' slot maps.
  const back = await eventually(async () => {
    const statuses = [...await round(0), ...await round(1)];
    for (const status of statuses) assert.ok(status === 200 || status === 503, `status ${status}`);
    return statuses.every((status) => status === 200);
  }, 60000);
  assert.ok(back, 'every tree is served again after the failover');
  assert.ok(/role:master/.test(await cli(replica.port, ['INFO', 'replication'])), 'the replica was promoted');
  for (const daemon of daemons) {
    for (const { root } of trees) {
      const leaf = `${root}/a`;
      const b = (await daemon.call('GET', `/v1/budgets/${leaf}`, undefined, KEY)).json;
      assert.equal(b.spent_micros, charged[leaf], `${leaf}: spend equals the acknowledged commits`);
    }
  }
  console.log(`# failover: served again ${Date.now() - killedAt} ms after the kill`);
});

// Six nodes, every one with `appendonly yes` and `appendfsync always`: three masters, each
// with a replica (`--cluster-replicas 1`), in sync and counted by its master's WAIT.
// Resolves {servers, ports (the masters'), all (masters()), replicaOf: master port -> server}.
async function startReplicatedCluster(t) {
  const servers = [];
  t.after(() => Promise.all(servers.map((s) => s.stop())));
  for (let i = 0; i < 6; i++) {
    servers.push(await startRedis(['--cluster-enabled', 'yes', '--cluster-node-timeout', '30000',
      '--appendonly', 'yes', '--appendfsync', 'always']));
  }
  await cli(servers[0].port, ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`),
    '--cluster-replicas', '1', '--cluster-yes']);
  assert.ok(await eventually(async () => {
    for (const s of servers) {
      if (!/cluster_state:ok/.test(await cli(s.port, ['CLUSTER', 'INFO']))) return false;
    }
    return true;
  }, 30000), 'every node says cluster_state:ok');
  // The replicas are told whom to follow after the slots are assigned: until every node
  // knows, some still show as masters (without slots) or follow nobody yet.
  let all = null, ports = [], replicaOf = {};
  const seen = async () => {
    all = await masters(servers[0].port);
    ports = Object.keys(all).map(Number);
    replicaOf = {};
    for (const line of (await cli(servers[0].port, ['CLUSTER', 'NODES'])).split('\n')) {
      const [, address, flags, masterId] = line.split(' ');
      const master = ports.find((p) => all[p].id === masterId);
      if (!flags.includes('slave') || master === undefined) continue;
      const port = Number(address.split('@')[0].split(':')[1]);
      replicaOf[master] = servers.find((s) => s.port === port);
    }
    return ports.length === 3 && ports.every((p) => replicaOf[p] && all[p].slots.length > 0);
  };
  assert.ok(await eventually(seen, 30000), 'three masters, each with a replica');
  for (const port of ports) {
    // A replica is counted by WAIT once its first ACK after the full sync is in.
    assert.ok(await eventually(async () => (await cli(port, ['WAIT', '1', '200'])) === '1', 30000),
      `master ${port} counts its replica`);
  }
  return { servers, ports, all, replicaOf };
}

test('on a cluster, strict durability is checked on every master and WAIT goes to the master that ran the call', async (t) => {
  const { ports, all, replicaOf } = await startReplicatedCluster(t);
  const trees = await spreadTrees(ports, all);
  const dir = tempDir('redis-cluster-durability');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const budgets = trees.map(({ root }) => `  - {path: ${root}, limit: "20.00"}\n  - {path: ${root}/a, limit: "12.00"}`).join('\n');
  const TIMEOUT_MS = 3000, WAIT_MS = 1000;
  const file = writeConfig(dir, 'c.yaml', `port: 0
store: {kind: redis, cluster: true, url: "redis://127.0.0.1:${ports[0]}", timeout_ms: ${TIMEOUT_MS}, wait_replicas: 1, wait_timeout_ms: ${WAIT_MS}}
budgets:
${budgets}
`);
  // Strict (the default) on a cluster whose last master fsyncs once a second: refused, the
  // sentence naming that master (not the seed, which is fine).
  const lax = ports[2];
  assert.equal(await cli(lax, ['CONFIG', 'SET', 'appendfsync', 'everysec']), 'OK');
  const refused = await tollgate(['serve', '--config', file], { TOLLGATE_ADMIN_KEY: KEY });
  assert.notEqual(refused.status, 0, 'strict on a cluster with an everysec master must not start');
  assert.match(refused.stderr, new RegExp(`redis 127\\.0\\.0\\.1:${lax} fsyncs its append-only file with \`appendfsync everysec\``));
  assert.equal(await cli(lax, ['CONFIG', 'SET', 'appendfsync', 'always']), 'OK');

  // WAIT on the master that ran the call: with the replica of one master stopped, the trees
  // on that master answer 503 (too few replicas), the others 200. A WAIT sent anywhere else
  // (the seed, another master) would count a running replica and answer 200.
  const paused = ports[1];
  const cost = 1000;
  for (const mode of ['async', 'sync']) {
    const env = mode === 'sync' ? { TOLLGATE_REDIS_SYNC: '1' } : {};
    const daemon = await startDaemon(file, { admin: KEY, env });
    t.after(() => daemon.stop('SIGKILL'));
    const agent = new http.Agent({ keepAlive: true });
    t.after(() => agent.destroy());
    const charge = (root, key) => post(agent, daemon.port, '/v1/charges',
      { budget: `${root}/a`, cost_micros: cost, idempotency_key: `${mode}-${key}-${root}` }, KEY);
    const before = {};
    for (const { root } of trees) {
      before[root] = (await daemon.call('GET', `/v1/budgets/${root}/a`, undefined, KEY)).json.spent_micros;
      const r = await charge(root, 'first');
      assert.equal(r.status, 200, `${mode} ${root}: ${r.text}`);
    }
    replicaOf[paused].pause();
    let answers;
    try {
      answers = await Promise.all(trees.map(async (tree) => ({ tree, ...(await charge(tree.root, 'paused')) })));
    } finally {
      replicaOf[paused].resume();
    }
    for (const a of answers) {
      if (a.tree.port === paused) {
        assert.equal(a.status, 503, `${mode} ${a.tree.root} on the master whose replica is stopped: ${a.text}`);
        assert.equal(a.json.error.code, 'store_unavailable');
        // WAIT's own sentence, naming that master; or, queued behind another call's WAIT
        // past timeout_ms, the dropped connection's: never a 200.
        assert.match(a.json.error.message, new RegExp(`127\\.0\\.0\\.1:${paused}`));
      } else {
        assert.equal(a.status, 200, `${mode} ${a.tree.root} on a master whose replica runs: ${a.text}`);
      }
    }
    assert.ok(answers.some((a) => /reached 0 of the 1 replicas/.test(a.text)),
      `${mode}: WAIT's sentence: ${answers.map((a) => a.text).join(' | ')}`);
    // Back: each retried with its key, answered 200, and counted once.
    assert.ok(await eventually(async () => (await cli(paused, ['WAIT', '1', '200'])) === '1', 10000),
      'the replica is counted again');
    for (const { root } of trees) {
      const r = await charge(root, 'paused');
      assert.equal(r.status, 200, `${mode} ${root} retried: ${r.text}`);
      const b = (await daemon.call('GET', `/v1/budgets/${root}/a`, undefined, KEY)).json;
      assert.equal(b.spent_micros, before[root] + 2 * cost, `${mode} ${root}: each charge counted once`);
    }
    assert.equal(await daemon.stop(), 0);
  }
});
