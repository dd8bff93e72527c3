// Typed errors. A refusal (402) is the budget's answer, with its advice; anything else
// the daemon answers with an error body is ApiError with its stable code.
export class TollgateError extends Error {}

export class ApiError extends TollgateError {
  constructor(status, code, message, body) {
    super(`${status} ${code}: ${message}`);
    Object.assign(this, { name: 'ApiError', status, code, body });
    this.detail = message;
  }
}

export class Refused extends TollgateError {
  constructor(refusal) {
    super(`refused (${refusal.reason}) on ${refusal.budget}: ${refusal.message}`);
    this.name = 'Refused';
    this.refusal = refusal;
    this.reason = refusal.reason;
    this.budget = refusal.budget;
    this.maxAmountMicros = refusal.max_amount_micros ?? null;
    this.retryAfterMs = refusal.retry_after_ms ?? null;
    this.approvalId = refusal.approval_id ?? null;
  }
}

export class Revoked extends TollgateError {
  constructor(holdId, budget) {
    super(`hold ${holdId} on ${budget} was revoked: stop the work`);
    Object.assign(this, { name: 'Revoked', holdId, budget });
  }
}

export class Unavailable extends TollgateError {
  constructor(message, cause) {
    super(message, { cause });
    this.name = 'Unavailable';
  }
}
