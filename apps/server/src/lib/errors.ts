/**
 * Domain errors. Services throw these; each transport has one mapper that turns them into its own reply
 * (HTTP status + `{error:{code,message}}`, an MQTT dead letter, a WebSocket `error` message).
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class Invalid extends AppError {
  constructor(message: string, code = 'invalid', options?: { cause?: unknown }) {
    super(400, code, message, options);
  }
}

export class Unauthorized extends AppError {
  constructor(message = 'authentication required', code = 'unauthorized') {
    super(401, code, message);
  }
}

export class Forbidden extends AppError {
  constructor(message = 'not allowed', code = 'forbidden') {
    super(403, code, message);
  }
}

export class NotFound extends AppError {
  constructor(message = 'not found', code = 'not_found') {
    super(404, code, message);
  }
}

export class Conflict extends AppError {
  constructor(message: string, code = 'conflict') {
    super(409, code, message);
  }
}

export class PayloadTooLarge extends AppError {
  constructor(message: string, code = 'payload_too_large') {
    super(413, code, message);
  }
}

export class TooManyRequests extends AppError {
  constructor(
    message: string,
    readonly retryAfterS: number,
    code = 'too_many_requests',
  ) {
    super(429, code, message);
  }
}

export class Unavailable extends AppError {
  /** When given, HTTP answers carry it as Retry-After (seconds). */
  readonly retryAfterS: number | undefined;
  constructor(message: string, code = 'unavailable', options?: { cause?: unknown; retryAfterS?: number }) {
    super(503, code, message, options);
    this.retryAfterS = options?.retryAfterS;
  }
}

/** A configuration or start-up problem: printed as one line, the process exits non-zero. */
export class StartupError extends Error {
  override name = 'StartupError';
}
