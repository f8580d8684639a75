// A webhook receiver for the benchmark: answers every delivery with 204 after a fixed delay (a
// receiver's own work) and counts deliveries and distinct webhook-ids.
import { once } from 'node:events';
import { createServer } from 'node:http';

export async function startReceiver({ port, delayMs }) {
  const ids = new Set();
  let deliveries = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      deliveries++;
      ids.add(String(req.headers['webhook-id']));
      setTimeout(() => res.writeHead(204).end(), delayMs);
    });
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${port}/hook`,
    counts: () => ({ deliveries, distinctIds: ids.size }),
    /** Waits until `expected` distinct ids arrived or `timeoutMs` passed. */
    async settle(expected, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (ids.size < expected && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
