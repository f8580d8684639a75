/**
 * The queues between the API and the worker: the contract (names, job data, results), the
 * producers, the pixels' store beside the jobs, and the classify consumer. Nothing here reads the
 * config: each side passes the settings it needs.
 */
export * from './consumer.js';
export * from './contract.js';
export * from './payload.js';
export * from './producer.js';
export * from './webhook.js';
