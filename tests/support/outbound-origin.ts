import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP origin for outbound tests: images, redirects to wherever `?to=` says, a slowloris
 * (headers, then a byte every 200 ms), oversized bodies with and without Content-Length.
 * It counts the connections it accepts, so a test can show a refused hop never reached it.
 */
export class TestOrigin {
  connections = 0;
  private readonly server: Server;

  private constructor(files: Record<string, Uint8Array>) {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://origin');
      const to = url.searchParams.get('to');
      const file = files[url.pathname];
      if (url.pathname === '/redirect' && to) {
        res.writeHead(Number(url.searchParams.get('status') ?? 302), { location: to }).end();
      } else if (url.pathname === '/slow') {
        res.writeHead(200, { 'content-type': 'image/png' });
        const drip = setInterval(() => res.write('x'), 200);
        res.on('close', () => clearInterval(drip));
      } else if (url.pathname === '/huge') {
        res.writeHead(200, { 'content-length': String(1 << 30) });
        res.write(Buffer.alloc(64 * 1024));
      } else if (url.pathname === '/huge-chunked') {
        res.writeHead(200, { 'content-type': 'image/png' });
        const chunk = Buffer.alloc(64 * 1024);
        const pump = () => {
          while (res.write(chunk)) {}
        };
        res.on('drain', pump);
        pump();
      } else if (file) {
        res.writeHead(200).end(file);
      } else {
        res.writeHead(404).end('not found');
      }
    });
    this.server.on('connection', () => {
      this.connections++;
    });
  }

  static async start(files: Record<string, Uint8Array> = {}, port = 0): Promise<TestOrigin> {
    const origin = new TestOrigin(files);
    origin.server.listen(port, '127.0.0.1');
    await once(origin.server, 'listening');
    return origin;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The origin's URL of `path`; `host` other than 127.0.0.1 names it another way. */
  url(path: string, host = '127.0.0.1'): string {
    return `http://${host}:${this.port}${path}`;
  }

  redirect(to: string, status = 302): string {
    return this.url(`/redirect?status=${status}&to=${encodeURIComponent(to)}`);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
