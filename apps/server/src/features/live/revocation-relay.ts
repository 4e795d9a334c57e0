import { randomUUID } from 'node:crypto';
import type { DomainEvents, EventBus } from '../../lib/events.js';
import type { LiveBus } from './bus.js';

/**
 * The events after which open connections must be re-checked. Each instance holds its own sockets and
 * MQTT connections, so each must hear of a revocation wherever it happened.
 */
const RELAYED = ['access.revoked', 'login.ended', 'token.revoked'] as const;
type Relayed = (typeof RELAYED)[number];

interface ControlMessage {
  origin: string;
  event: Relayed;
  payload: DomainEvents[Relayed][0];
}

function isOptionalString(value: unknown): boolean {
  return value === undefined || (typeof value === 'string' && value.length <= 200);
}

/** The message if it is a well-formed relayed event, else null (the bus is shared infrastructure). */
function parse(text: string): ControlMessage | null {
  let message: Partial<ControlMessage>;
  try {
    message = JSON.parse(text) as Partial<ControlMessage>;
  } catch {
    return null;
  }
  const p = message?.payload as Record<string, unknown> | undefined;
  if (typeof message?.origin !== 'string' || typeof p !== 'object' || p === null) return null;
  const fieldsOk =
    message.event === 'token.revoked'
      ? typeof p.tokenId === 'string' && p.tokenId.length <= 200
      : typeof p.userId === 'string' &&
        p.userId.length <= 200 &&
        isOptionalString(p.vehicleId) &&
        isOptionalString(p.loginId) &&
        (message.event === 'access.revoked' || typeof p.reason === 'string');
  return RELAYED.includes(message.event as Relayed) && fieldsOk ? (message as ControlMessage) : null;
}

/**
 * Relays revocation events between instances over the live bus's control channel: what is emitted here
 * is published; what another instance published is emitted here, so the live hub and the MQTT gateway
 * of every instance act on it as on a local event. With the in-process bus there is no other instance
 * and nothing is re-emitted. A lost message is caught by the periodic re-checks.
 */
export async function relayRevocations(
  events: EventBus,
  bus: LiveBus,
  onError: (error: unknown) => void,
): Promise<() => void> {
  const origin = randomUUID();
  /** Set while re-emitting a remote event, so it is not sent back out. */
  let replaying = false;
  const offs = RELAYED.map((event) =>
    events.on(event, (payload) => {
      if (replaying) return;
      const message: ControlMessage = { origin, event, payload };
      bus.publishControl(JSON.stringify(message)).catch(onError);
    }),
  );
  const offControl = await bus.onControl((text) => {
    const message = parse(text);
    if (!message || message.origin === origin) return;
    replaying = true;
    try {
      (events as unknown as { emit(event: Relayed, payload: unknown): void }).emit(
        message.event,
        message.payload,
      );
    } finally {
      replaying = false;
    }
  });
  return () => {
    for (const off of offs) off();
    offControl();
  };
}
