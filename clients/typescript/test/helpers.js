// Starts a real `tollgate serve` (port 0, SQLite in a temp folder) for the client's
// tests, through the daemon's own test helpers (TG_BINARY names the daemon).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tollgate } from '../src/index.js';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
process.env.TG_BINARY ??= path.join(root, 'build/tollgate');
export const helpers = require(path.join(root, 'tests/integration/daemon_helpers.js'));
export const ADMIN = 'admin-secret';
export const BUDGETS = `  - {path: t, limit: "1000.00"}
  - {path: t/a, limit: "100.00", revoke_at: "50.00"}
  - {path: t/b, limit: "10.00"}
`;

export async function daemon({ budgets = BUDGETS, extra = '', store = 'sqlite' } = {}) {
  const dir = helpers.tempDir('client');
  const config = path.join(dir, 'tollgate.yaml');
  const write = (port) => fs.writeFileSync(config, `address: 127.0.0.1
port: ${port}
store: ${store === 'sqlite' ? `{kind: sqlite, path: ${path.join(dir, 'ledger.db')}, durability: strict}` : '{kind: memory}'}
policy:
  default: normal
  rules:
    - {tool: "refund_*", class: critical}
    - {tool: "web_search", class: low}
prices:
  fake-model: {input: "1.00", output: "2.00"}
${extra}budgets:
${budgets}`);
  write(0);
  const d = await helpers.startDaemon(config, { admin: ADMIN });
  write(d.port); // a restart listens where the clients already point
  d.restart = async () => {
    const again = await helpers.startDaemon(config, { admin: ADMIN });
    Object.assign(d, { child: again.child, stop: again.stop, exited: again.exited });
  };
  d.client = (options = {}) => new Tollgate({ url: d.base, key: ADMIN, retryForMs: 20000, ...options });
  return d;
}

// Polls fn until it returns a truthy value; fails with `what` at the deadline.
export async function waitFor(fn, what, ms = 10000) {
  const value = await helpers.eventually(fn, ms);
  if (!value) throw new Error(`timed out waiting for ${what}`);
  return value;
}
