// store.url rediss://... (docs/multi-node.md, "TLS"): Debian's hiredis has no TLS, so the daemon
// carries its Redis connections through a TLS bridge of its own (src/store/redis/redis_tls.c).
// A CA, a server certificate (DNS:localhost, IP:127.0.0.1) and a client certificate are made
// by `openssl` here; redis-server listens in clear (for the test's own checks) and with TLS,
// asking for a client certificate (`tls-auth-clients yes`, Redis's default).
//   - with the CA and the client certificate: decisions are answered, the server sees the
//     daemon's connections on its TLS port only, replies of a few hundred KB pass, and a
//     server killed and restarted is reconnected to through the bridge;
//   - a server certificate from another CA, a server name the certificate does not carry,
//     and no client certificate each stop the daemon at start, saying why over TLS;
//   - store.tls on a redis:// url, a cert_file without its key_file, and a CA file that
//     does not exist are config errors.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { tempDir, startDaemon, cli, eventually } = require('./daemon_helpers');
const { startRedis, freePort, writeConfig } = require('./redis_helpers');

// A CA and certificates signed by it, in `dir`.
function makeCertificates(dir) {
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const key = (name) => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`);
  const ca = (name) => {
    key(name);
    openssl('req', '-x509', '-new', '-key', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`);
  };
  const signed = (name, by, subject, alt) => {
    key(name);
    openssl('req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    fs.writeFileSync(path.join(dir, `${name}.ext`), alt ? `subjectAltName=${alt}\n` : 'basicConstraints=CA:FALSE\n');
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${by}.crt`, '-CAkey', `${by}.key`, '-CAcreateserial',
      '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
  };
  ca('ca');
  ca('other-ca');
  signed('server', 'ca', '/CN=redis-test', 'DNS:localhost,IP:127.0.0.1');
  signed('client', 'ca', '/CN=tollgate');
  const file = (n) => path.join(dir, n);
  return { ca: file('ca.crt'), otherCa: file('other-ca.crt'), serverCert: file('server.crt'),
    serverKey: file('server.key'), clientCert: file('client.crt'), clientKey: file('client.key') };
}

async function startTlsRedis(certs) {
  const tlsPort = await freePort();
  const redis = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always',
    '--tls-port', String(tlsPort), '--tls-cert-file', certs.serverCert, '--tls-key-file', certs.serverKey,
    '--tls-ca-cert-file', certs.ca, '--tls-auth-clients', 'yes']);
  redis.tlsPort = tlsPort;
  return redis;
}

const BUDGETS = 'budgets:\n  - {path: d, limit: "100.00"}\n';
const tlsSection = (t) => `{${Object.entries(t).map(([k, v]) => `${k}: "${v}"`).join(', ')}}`;

test('over TLS: decisions answered, only the TLS port used, large replies, a restart reconnected', async (t) => {
  const dir = tempDir('redis-tls');
  const certs = makeCertificates(dir);
  const redis = await startTlsRedis(certs);
  t.after(() => redis.stop());
  const tls = { ca_file: certs.ca, cert_file: certs.clientCert, key_file: certs.clientKey };
  const file = writeConfig(dir, 'c.yaml', `port: 0\nstore: {kind: redis, url: "rediss://127.0.0.1:${redis.tlsPort}", tls: ${tlsSection(tls)}}\n${BUDGETS}`);
  const daemon = await startDaemon(file, { admin: 'k' });
  t.after(() => daemon.stop());
  for (let i = 0; i < 300; i++) {
    const r = await daemon.call('POST', '/v1/charges', { budget: 'd', cost_micros: 1000, idempotency_key: `a${i}` }, 'k');
    assert.equal(r.status, 200, r.text);
  }
  // The server sees the daemon on its TLS port only (CLIENT LIST's laddr is the server's side).
  const clients = (await redis.command(['CLIENT', 'LIST'])).split('\n').filter((l) => l.includes('laddr='));
  const onTls = clients.filter((l) => l.includes(`laddr=127.0.0.1:${redis.tlsPort} `));
  const inClear = clients.filter((l) => l.includes(`laddr=127.0.0.1:${redis.port} `) && !/cmd=client/.test(l));
  assert.ok(onTls.length >= 1, `the daemon is connected over TLS: ${clients.join(' | ')}`);
  assert.equal(inClear.length, 0, `nothing in clear but this test: ${inClear.join(' | ')}`);
  // A page of 300 charges: replies far larger than one TLS record.
  let rows = 0, after = 0;
  for (;;) {
    const page = await daemon.call('GET', `/v1/charges?after=${after}&limit=200`, undefined, 'k');
    assert.equal(page.status, 200, page.text);
    rows += page.json.charges.length;
    if (page.json.next === after || page.json.next == null) break;
    after = page.json.next;
  }
  assert.equal(rows, 300);
  // The server killed and restarted on its AOF: the bridge carries the new connections.
  // The kill may land as a refused connect, a closed link or a reset one, by timing.
  await redis.kill();
  const down = await daemon.call('POST', '/v1/charges', { budget: 'd', cost_micros: 1000, idempotency_key: 'b0' }, 'k');
  assert.equal(down.status, 503, down.text);
  assert.match(down.json.error.message, /over TLS: connection to 127\.0\.0\.1:\d+ failed: Connection refused|closed the connection|Connection reset by peer|unavailable/);
  await redis.restart();
  let back = null;
  assert.ok(await eventually(async () => (back = await daemon.call('POST', '/v1/charges',
    { budget: 'd', cost_micros: 1000, idempotency_key: 'b0' }, 'k')).status === 200, 10000), back && back.text);
  const budget = await daemon.call('GET', '/v1/budgets/d', undefined, 'k');
  assert.equal(budget.json.spent_micros, 301 * 1000);
  console.log(`# tls: 300 charges and a page of ${rows} over TLS; ${onTls.length} daemon connection(s) on the TLS port, 0 in clear; reconnected after a kill -9 of the server`);
});

test('over TLS: the wrong CA, the wrong name or no client certificate stop the daemon, saying why', async (t) => {
  const dir = tempDir('redis-tls-bad');
  const certs = makeCertificates(dir);
  const redis = await startTlsRedis(certs);
  t.after(() => redis.stop());
  const client = { cert_file: certs.clientCert, key_file: certs.clientKey };
  const cases = [
    ['other CA', '127.0.0.1', { ca_file: certs.otherCa, ...client }, /over TLS: certificate verify failed: (unable to get local issuer certificate|self-signed certificate in certificate chain)/],
    ['wrong name', '127.0.0.1', { ca_file: certs.ca, server_name: 'other.example', ...client }, /over TLS: certificate verify failed: hostname mismatch \(server name 'other\.example'\)/],
    ['no client certificate', '127.0.0.1', { ca_file: certs.ca }, /over TLS: TLS failed: (.*(certificate required|alert)|the server closed the connection before answering \(a client certificate it wanted)/],
    ['a name the certificate has', 'localhost', { ca_file: certs.ca, ...client }, null],
  ];
  for (const [name, host, tls, message] of cases) {
    const file = writeConfig(dir, `${name.replace(/ /g, '-')}.yaml`,
      `port: 0\nstore: {kind: redis, url: "rediss://${host}:${redis.tlsPort}", tls: ${tlsSection(tls)}}\n${BUDGETS}`);
    if (message) {
      const run = await cli(['serve', '--config', file], { TOLLGATE_ADMIN_KEY: 'k' });
      assert.notEqual(run.status, 0, name);
      assert.match(run.stderr, message, name);
    } else {
      const daemon = await startDaemon(file, { admin: 'k' });
      const r = await daemon.call('POST', '/v1/charges', { budget: 'd', cost_micros: 5 }, 'k');
      assert.equal(r.status, 200, `${name}: ${r.text}`);
      assert.equal(await daemon.stop(), 0);
    }
  }
});

test('store.tls config errors are said at start', async () => {
  const dir = tempDir('redis-tls-config');
  const cases = [
    ['store: {kind: redis, url: "redis://127.0.0.1:1", tls: {ca_file: "/x"}}', /store\.tls is for a rediss:\/\/ url/],
    ['store: {kind: redis, url: "rediss://127.0.0.1:1", tls: {cert_file: "/x"}}', /store\.tls: cert_file and key_file go together/],
    ['store: {kind: redis, url: "rediss://127.0.0.1:1", tls: {ca_file: "/nonexistent/ca.pem"}}', /store\.tls\.ca_file \/nonexistent\/ca\.pem: cannot load it/],
    ['store: {kind: redis, url: "rediss://127.0.0.1:1", tls: {pem: "/x"}}', /unknown.*store\.tls.*ca_file, cert_file, key_file or server_name/],
    ['store: {kind: redis, url: "rediss://127.0.0.1:1", cluster: true}', /store\.cluster with rediss:\/\/ \(TLS\) is not supported/],
    ['store: {kind: redis, url: "rediss-sentinel://127.0.0.1:1#m"}', /rediss-sentinel:\/\/ is not supported/],
  ];
  for (const [store, message] of cases) {
    const file = writeConfig(dir, `${cases.findIndex((c) => c[0] === store)}.yaml`, `port: 0\n${store}\n${BUDGETS}`);
    const run = await cli(['serve', '--config', file], { TOLLGATE_ADMIN_KEY: 'k' });
    assert.notEqual(run.status, 0, store);
    assert.match(run.stderr, message, store);
  }
});
