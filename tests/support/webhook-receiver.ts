import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** A delivery as the receiver saw it, its signature checked by the standardwebhooks library. */
export interface Delivery {
  id: string;
  body: { id: string; status: string; [key: string]: unknown };
  verified: boolean;
  /** What the receiver answered. */
  answered: number;
}

export interface ReceiverOptions {
  secret: string;
  /** Answer 503 to this many deliveries first (on purpose), then 204. */
  failFirst?: number;
  /** Wait before answering, ms (a receiver's own work). */
  delayMs?: number;
  /** Listen on this port (a receiver started again where one was down). */
  port?: number;
}

/**
 * A real HTTP receiver of webhooks that verifies each one with the `standardwebhooks` library
 * itself, never with the service's own code, and answers 401 to one it cannot verify.
 */
export class WebhookReceiver {
  readonly deliveries: Delivery[] = [];
  private readonly server: Server;
  private readonly verifier: Webhook;
  private waiters: (() => void)[] = [];

  private constructor(opts: ReceiverOptions) {
    this.verifier = new Webhook(opts.secret);
    this.server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const raw = Buffer.concat(chunks).toString('utf8');
      let verified = false;
      try {
        this.verifier.verify(raw, req.headers as Record<string, string>);
        verified = true;
      } catch {
        // Answered 401 below and recorded as unverified.
      }
      const failing = this.deliveries.length < (opts.failFirst ?? 0);
      const answered = !verified ? 401 : failing ? 503 : 204;
      if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
      this.deliveries.push({
        id: String(req.headers['webhook-id']),
        body: raw ? JSON.parse(raw) : {},
        verified,
        answered,
      });
      res.writeHead(answered).end();
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  static async start(opts: ReceiverOptions): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(opts);
    receiver.server.listen(opts.port ?? 0, '127.0.0.1');
    await once(receiver.server, 'listening');
    return receiver;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** The deliveries it accepted (answered 2xx). */
  get accepted(): Delivery[] {
    return this.deliveries.filter((d) => d.answered < 300);
  }

  /** Resolves once `predicate` holds over the deliveries, or fails after timeoutMs. */
  async until(predicate: (d: Delivery[]) => boolean, timeoutMs = 30_000): Promise<Delivery[]> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.deliveries)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `receiver: condition not met in ${timeoutMs} ms (${this.deliveries.length} deliveries)`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 500));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.deliveries;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** A Standard Webhooks secret: whsec_ and 24 random bytes in base64. */
export const newWebhookSecret = () =>
  `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString('base64')}`;

/** A loopback port nothing listens on (taken from the OS, then released). */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
