import { loadConfig } from '@imagerec/shared';
import { createLogger } from './logger.js';
import { createWorkerService } from './worker.service.js';

const config = loadConfig();
const log = createLogger(config.logLevel, { service: 'worker', pid: process.pid });

try {
  const service = await createWorkerService(config, { log });
  log.info('worker started', { queue: config.queue.name, ...config.worker });

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    try {
      await service.close();
      log.info('stopped');
    } catch (err) {
      log.error('shutdown failed', { err });
      process.exitCode = 1;
    }
    // A handle some library left open must not keep a stopped worker alive.
    process.exit();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} catch (err) {
  log.error('start-up failed', { err });
  process.exit(1);
}
