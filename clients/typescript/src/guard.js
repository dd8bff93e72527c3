// A budget guard for a whole run (an agent's loop): its `signal` aborts, with Revoked,
// when the budget (or a budget above it) revokes the run's class or is frozen, so the
// run stops at its next step. Read from the event stream (after checking the budget's
// state once the stream is up, so a revocation in between is not missed).
import { Revoked } from './errors.js';

const RANK = { low: 0, normal: 1, high: 2, critical: 3 };
const onPath = (budget, scope) => scope === '' || budget === scope || budget.startsWith(`${scope}/`);

export function budgetGuard(gate, { budget = gate.budget, cls = 'normal' } = {}) {
  const controller = new AbortController();
  const stop = () => { if (!controller.signal.aborted) controller.abort(new Revoked(0, budget)); };
  const reader = new AbortController();
  let opened;
  const ready = new Promise((r) => { opened = r; });
  (async () => {
    try {
      const events = gate.stream({ kinds: ['revoked', 'budget_changed'], signal: reader.signal, onOpen: opened });
      for await (const ev of events) {
        const d = ev.data;
        if (!onPath(budget, d.budget ?? '')) continue;
        if ((ev.kind === 'revoked' && RANK[d.class] >= RANK[cls]) || (ev.kind === 'budget_changed' && d.detail === 'frozen')) stop();
      }
    } catch { opened(); }
  })();
  const checked = ready.then(async () => {
    const b = await gate.getBudget(budget).catch(() => null);
    if (b && (b.frozen || b.locked || b.classes?.[cls]?.revoked)) stop();
  });
  return {
    signal: controller.signal,
    ready: checked,
    get revoked() { return controller.signal.aborted; },
    check() { if (controller.signal.aborted) throw controller.signal.reason; },
    close() { reader.abort(); },
  };
}
