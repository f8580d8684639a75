import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  checkReadiness,
  OpsPath,
  type ReadinessChecks,
  type ServiceMetrics,
} from '@imagerec/shared';
import type { Logger } from 'pino';

export interface OpsServerOptions {
  host: string;
  port: number;
  metrics: ServiceMetrics;
  /** What /readyz checks, by name; asked at each request, so it follows start-up and shutdown. */
  readiness: ReadinessChecks;
  log: Logger;
}

export interface OpsServer {
  /** The port it listens on (the one picked when asked for 0). */
  readonly port: number;
  close(): Promise<void>;
}

const json = (res: ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

/**
 * The worker's own small HTTP listener: Prometheus metrics, liveness and readiness. It starts
 * before the model loads, so an orchestrator sees the process live but not ready meanwhile.
 */
export async function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const server = createServer(async (req, res) => {
    const path = req.url?.split('?')[0];
    try {
      if (req.method !== 'GET') return json(res, 405, { error: { code: 'METHOD_NOT_ALLOWED' } });
      switch (path) {
        case OpsPath.Live:
          return json(res, 200, { status: 'ok' });
        case OpsPath.Ready:
        case OpsPath.LegacyHealth: {
          const { ready, checks } = await checkReadiness(opts.readiness);
          return json(res, ready ? 200 : 503, { status: ready ? 'ok' : 'unavailable', checks });
        }
        case OpsPath.Metrics: {
          const body = await opts.metrics.metrics();
          return res.writeHead(200, { 'content-type': opts.metrics.contentType }).end(body);
        }
        default:
          return json(res, 404, { error: { code: 'NOT_FOUND', message: `No route ${path}` } });
      }
    } catch (err) {
      opts.log.error({ err, path }, 'ops request failed');
      return json(res, 500, { error: { code: 'INTERNAL', message: 'Internal server error' } });
    }
  });
  server.listen(opts.port, opts.host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  opts.log.info({ host: opts.host, port }, 'metrics and probes listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
