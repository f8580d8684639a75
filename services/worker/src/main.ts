import { backendsOf, loadConfig, waitForBackends } from '@imagerec/shared';
import { pino } from 'pino';
import { createWorkerService } from './worker.service.js';

const config = loadConfig();
const log = pino({ level: config.logLevel, base: { service: 'worker', pid: process.pid } });

try {
  await waitForBackends(backendsOf(config), { log });
  const service = await createWorkerService(config, { log });
  log.info({ queue: config.queue.name, ...config.worker }, 'worker started');

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    try {
      await service.close();
      log.info('stopped');
    } catch (err) {
      log.error({ err }, 'shutdown failed');
      process.exitCode = 1;
    }
    // A handle some library left open must not keep a stopped worker alive.
    process.exit();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} catch (err) {
  log.error({ err }, 'start-up failed');
  process.exit(1);
}
