import { backendsOf, loadConfig, waitForBackends } from '@imagerec/shared';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp } from './app.js';
import { startGarbageGovernor } from './lifecycle/garbage-governor.js';

const config = loadConfig();
// Logs the start-up in the app logger's format, before the app exists.
const log = pino({ level: config.logLevel });
let app: FastifyInstance;
try {
  await waitForBackends(backendsOf(config), { log });
  app = await buildApp(config);
} catch (err) {
  log.fatal({ err }, 'start-up failed');
  process.exit(1);
}

const stopGarbageGovernor = startGarbageGovernor(config.api.gcAfterBuffersBytes, app.log);

let closing = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    stopGarbageGovernor();
    await app.close();
    process.exit(0);
  });
}

await app.listen({ host: config.api.host, port: config.api.port });
