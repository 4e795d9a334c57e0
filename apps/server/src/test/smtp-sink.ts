import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  readonly from: string;
  readonly to: readonly string[];
  /** The whole message as it arrived (headers and bodies). */
  readonly raw: string;
}

/**
 * A real SMTP server on loopback (the `smtp-server` package) that keeps what arrives. STARTTLS with its
 * built-in self-signed certificate, so clients connect with `?tls.rejectUnauthorized=false`. `hold` makes
 * it accept a message's data but never answer (a send in progress), until `release`.
 */
export class SmtpSink {
  readonly received: ReceivedMail[] = [];
  /** Messages whose data started arriving (including held ones). */
  started = 0;
  private holding = false;
  private constructor(
    private readonly server: SMTPServer,
    readonly port: number,
  ) {}

  static async start(): Promise<SmtpSink> {
    let sink: SmtpSink | null = null;
    const server = new SMTPServer({
      authOptional: true,
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        sink!.started += 1;
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          if (sink!.holding) return; // never answers: the sender is cut off mid-send
          sink!.received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks).toString('utf8'),
          });
          callback();
        });
      },
    });
    // A client that dies mid-conversation (a server killed mid-send) resets its connection: expected here.
    server.on('error', () => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.server.address() as AddressInfo).port;
    sink = new SmtpSink(server, port);
    return sink;
  }

  /** `TACHO_SMTP_URL` for this sink: STARTTLS against its self-signed certificate. */
  get url(): string {
    return `smtp://127.0.0.1:${this.port}/?tls.rejectUnauthorized=false`;
  }

  hold(): void {
    this.holding = true;
  }

  release(): void {
    this.holding = false;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
