// Types of the Tollgate client. Money is integer micros (1 USD = 1,000,000); bodies use
// the field names of docs/api.md.

export type Class = 'low' | 'normal' | 'high' | 'critical';
export type RefusalReason = 'ceiling' | 'revoked' | 'frozen' | 'calls' | 'tokens' | 'overrun';

export class TollgateError extends Error {}
export class ApiError extends TollgateError {
  status: number;
  /** Stable error code (docs/api.md, Errors). */
  code: string;
  detail: string;
  body: unknown;
}
export interface Refusal {
  code: string; reason: RefusalReason; message: string; budget: string;
  max_amount_micros: number | null; retry_after_ms: number | null; approval_id?: string | null;
}
/** HTTP 402: the budget refused; carries its advice. */
export class Refused extends TollgateError {
  refusal: Refusal;
  reason: RefusalReason;
  budget: string;
  /** The largest amount that fits now (0: nothing does). */
  maxAmountMicros: number | null;
  /** When trying again may succeed; null when only a person can help. */
  retryAfterMs: number | null;
  approvalId: string | null;
}
/** The hold's class was revoked while the work ran. */
export class Revoked extends TollgateError { holdId: number; budget: string; }
/** The daemon was unreachable (or answered 5xx) for the whole retry window. */
export class Unavailable extends TollgateError {}

export interface ClientOptions {
  /** Default: $TOLLGATE_URL, then http://127.0.0.1:8420. */
  url?: string;
  /** Default: $TOLLGATE_KEY. */
  key?: string;
  /** Default budget for run() and tool(). */
  budget?: string;
  /** How long a request is retried while the daemon is unreachable or answers 5xx (30000). */
  retryForMs?: number;
  timeoutMs?: number;
  onRetry?: (attempt: number, error: unknown) => void;
}

export interface HoldRequest {
  budget: string; amount_micros?: number; amount?: string; tokens?: number; tool?: string; model?: string;
  class?: Class; ttl_ms?: number; idempotency_key?: string;
}
export interface HoldAnswer { granted: true; hold_id: number; expires_at_ms: number; class: Class; replayed: boolean; }
export interface CommitRequest {
  actual_micros?: number; actual?: string; model?: string; tokens_in?: number; tokens_out?: number; idempotency_key?: string;
}
export interface CommitAnswer { charged_micros: number; overrun_micros: number; capped: boolean; charge_id: number; replayed: boolean; }
export interface ChargeRequest {
  budget: string; cost_micros?: number; cost?: string; tokens_in?: number; tokens_out?: number; tool?: string;
  model?: string; class?: Class; force?: boolean; idempotency_key?: string;
}
export interface ChargeRow {
  id: number; time_ms: number; budget: string; hold_id: number; class: Class; tool: string | null;
  model: string | null; tokens_in: number; tokens_out: number; cost_micros: number; held_micros: number;
  /** The spend log of the proxied call that made the charge; null (tags []) for an API charge. */
  request_id: string | null; provider: string | null; key: string | null; user: string | null; tags: string[];
  tokens_cached: number | null; tokens_reasoning: number | null; latency_ms: number | null;
  status: number | null; outcome: string | null;
}
/** Filters of GET /v1/charges beyond budget and time (docs/api.md). */
export interface ChargeFilters { model?: string; key?: string; user?: string; tag?: string; provider?: string }
export interface BudgetSpec {
  limit_micros?: number | null; limit?: string; calls_limit?: number | null; tokens_limit?: number | null;
  window?: 'lifetime' | 'hour' | 'day' | 'week' | 'month'; timezone?: string; revoke_at_micros?: number;
  revoke_at?: string; revoke_at_ppm?: number; alerts_ppm?: number[]; above_hold?: 'charge' | 'cap';
}
export interface Budget extends Record<string, unknown> {
  path: string; limit_micros: number | null; spent_micros: number; held_micros: number; frozen: boolean; locked: boolean;
}
export interface TollgateEvent { id: number | null; kind: string; data: Record<string, any>; }
export interface StreamOptions {
  since?: number; kinds?: string[]; budgets?: string[]; severity?: 'info' | 'warning' | 'critical';
  signal?: AbortSignal; reconnect?: boolean; onOpen?: () => void;
}
export type BatchOp =
  | { op: 'hold'; body: HoldRequest } | { op: 'charge'; body: ChargeRequest }
  | { op: 'commit'; hold_id: number; body?: CommitRequest } | { op: 'release'; hold_id: number; body?: { idempotency_key?: string } };

export interface RunOptions extends Partial<HoldRequest> {
  /** Hold class: admin keys only; otherwise the daemon's policy decides. */
  cls?: Class;
  /** Watch the event stream for the hold's revocation (default true). */
  watch?: boolean;
  /** Commit tokens_in/out at the daemon's price for `model` when no actual cost is set. */
  price_by_model?: boolean;
}

/** Return from a tool to report its actual cost; the caller gets `value`. */
export class Metered<T = unknown> { constructor(value: T, costMicros: number); value: T; cost_micros: number; }
export function reportedCost(result: unknown): number | null;

export class Hold {
  id: number | null; budget: string; amount_micros?: number;
  /** Set before the work ends: the cost committed (default: the amount held). */
  actual_micros: number | null;
  tokens_in?: number; tokens_out?: number;
  /** Aborted, with a Revoked reason, when the hold's class is revoked. */
  signal: AbortSignal;
  readonly cancelled: boolean;
  /** Throws Revoked if the hold was revoked. */
  check(): void;
  charge: CommitAnswer | null;
  commit(body?: { actual_micros?: number; model?: string }): Promise<CommitAnswer>;
  release(): Promise<unknown>;
}

export class Tollgate {
  constructor(options?: ClientOptions);
  reserve(body: HoldRequest): Promise<HoldAnswer>;
  getHold(id: number): Promise<{ hold_id: number; cancel_requested: boolean } & Record<string, unknown>>;
  commit(id: number, body?: CommitRequest): Promise<CommitAnswer>;
  release(id: number, body?: { idempotency_key?: string }): Promise<unknown>;
  record(body: ChargeRequest): Promise<{ charge_id: number; charged_micros: number } & Record<string, unknown>>;
  batch(operations: BatchOp[]): Promise<{ results: { status: number; body: any }[] }>;
  charges(query: { budget: string; since?: number; until?: number; after?: number; limit?: number } & ChargeFilters): Promise<{ charges: ChargeRow[]; next: number | null }>;
  allCharges(budget: string, query?: { since?: number; until?: number } & ChargeFilters): Promise<ChargeRow[]>;
  budgets(prefix?: string): Promise<{ budgets: Budget[] }>;
  getBudget(path: string): Promise<Budget>;
  putBudget(path: string, spec?: BudgetSpec): Promise<Budget>;
  patchBudget(path: string, spec?: BudgetSpec): Promise<Budget>;
  deleteBudget(path: string): Promise<unknown>;
  freeze(path: string): Promise<unknown>;
  unfreeze(path: string): Promise<unknown>;
  history(path: string): Promise<Record<string, unknown>>;
  events(query?: { since?: number; limit?: number }): Promise<{ events: Record<string, any>[]; next: number }>;
  /** GET /v1/events/stream; resumes with Last-Event-ID after a drop. Abort `signal` to end it. */
  stream(options?: StreamOptions): AsyncGenerator<TollgateEvent>;
  failedNotifications(query?: { after?: number; limit?: number }): Promise<{ failed: Record<string, any>[]; next: number }>;
  createKey(body: { name: string; role: 'admin' | 'agent' | 'read' | 'metrics'; scope?: string; class_max?: Class }): Promise<{ name: string; secret: string } & Record<string, unknown>>;
  keys(): Promise<{ keys: Record<string, any>[] }>;
  rotateKey(name: string): Promise<{ secret: string } & Record<string, unknown>>;
  deleteKey(name: string): Promise<unknown>;
  reload(): Promise<{ applied: boolean } & Record<string, unknown>>;
  healthz(): Promise<{ status: string; version: string }>;
  metrics(): Promise<string>;
  /** Holds, runs fn(hold), commits hold.actual_micros (or the cost fn's result reports, or
   * the amount); releases if fn throws; ends with Revoked (hold.signal aborted) on revocation. */
  run<T>(fn: (hold: Hold) => T | Promise<T>, options: RunOptions): Promise<T extends Metered<infer V> ? V : T>;
  /** A metered fn: each call holds `price`, commits the cost the result reports (Metered or
   * `cost_micros`) or the price, releases on throw. The hold is passed as an extra last
   * argument (declare it optional: `(q: string, hold?: Hold) => ...`). */
  tool<F extends (...args: any[]) => any>(fn: F,
    options: { price: number | ((...args: Parameters<F>) => number); budget?: string; cls?: Class; name?: string } & RunOptions):
    (...args: Parameters<F>) => Promise<Awaited<ReturnType<F>> extends Metered<infer V> ? V : Awaited<ReturnType<F>>>;
  close(): void;
}

export interface BudgetGuard {
  /** Aborted (reason: Revoked) when the budget revokes the class, or is frozen or locked. */
  signal: AbortSignal;
  /** Resolves once the guard is watching (the stream is up and the state was read). */
  ready: Promise<void>;
  readonly revoked: boolean;
  check(): void;
  close(): void;
}
export function budgetGuard(gate: Tollgate, options?: { budget?: string; cls?: Class }): BudgetGuard;
