// Brings a hold's revocation to the work running under it, within a second. While any
// hold is open, one event stream per client reads `revoked` events; one naming a budget
// on an open hold's path makes the client read the hold back, and a hold the daemon
// marked cancel_requested is aborted. Holds added before the stream is up are read back
// once it is. Without a stream (the memory store answers 501) the holds are polled every
// 250 ms. The stream closes when no hold is open, so it never keeps a process alive.
const POLL_MS = 250;

const under = (budget, scope) => scope === '' || budget === scope || budget.startsWith(`${scope}/`);

export class Watcher {
  constructor(gate) {
    this.gate = gate;
    this.holds = new Map();
    this.controller = null;
    this.opened = null;
    this.polling = false;
  }

  async add(hold) {
    this.holds.set(hold.id, hold);
    if (!this.controller) this.start();
    await Promise.race([this.opened, new Promise((r) => setTimeout(r, 2000).unref?.())]);
    await this.check(hold);
  }

  remove(hold) {
    this.holds.delete(hold.id);
    if (this.holds.size === 0 && this.controller) {
      this.controller.abort();
      this.controller = null;
    }
  }

  close() {
    this.holds.clear();
    this.controller?.abort();
    this.controller = null;
  }

  async check(hold) {
    if (hold.cancelled || !this.holds.has(hold.id)) return;
    try {
      const state = await this.gate.getHold(hold.id);
      if (state.cancel_requested) hold.cancel();
    } catch { /* committed, released or expired meanwhile */ }
  }

  start() {
    const controller = this.controller = new AbortController();
    let opened;
    this.opened = new Promise((r) => { opened = r; });
    (async () => {
      try {
        if (!this.polling) {
          for await (const event of this.gate.stream({ kinds: ['revoked'], signal: controller.signal, onOpen: opened })) {
            const budget = event.data.budget ?? '';
            await Promise.all([...this.holds.values()].filter((h) => under(h.budget, budget)).map((h) => this.check(h)));
          }
        }
      } catch { /* 501 on the memory store or a refused key: poll instead */ }
      if (controller.signal.aborted) return;
      this.polling = true;
      opened();
      while (!controller.signal.aborted) {
        await Promise.all([...this.holds.values()].map((h) => this.check(h)));
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    })();
  }
}
