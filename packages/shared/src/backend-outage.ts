import { MaxRetriesPerRequestError } from 'ioredis/built/errors/index.js';
import mongoose from 'mongoose';

/** Node's socket errors, which ioredis passes on with their code (and sets ETIMEDOUT on a slow connect). */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE']);

/** ioredis rejects commands with these as plain Errors, without a class or a code. */
const IOREDIS_MESSAGES = new Set([
  // A command of a client whose connection closed (and had no retries left), or was quit.
  'Connection is closed.',
  // A fail-fast client (no offline queue) asked while it is not connected.
  "Stream isn't writeable and enableOfflineQueue options is false",
  // A client with a commandTimeout.
  'Command timed out',
]);

/**
 * The MongoDB driver's (through mongoose, which bundles it) and mongoose's own. MongoNetworkError
 * also covers its subclasses MongoNetworkTimeoutError and the driver's MongoPoolClearedError
 * (not exported). No mongoose buffering timeout: the repository's connection does not buffer.
 */
const MONGO_OUTAGES = [
  mongoose.mongo.MongoNetworkError,
  mongoose.mongo.MongoServerSelectionError,
  mongoose.mongo.MongoNotConnectedError,
  mongoose.mongo.MongoTopologyClosedError,
  mongoose.Error.MongooseServerSelectionError,
];

/**
 * Whether `err` is Redis or MongoDB being out of reach for now (a 503 to retry later), not a
 * fault of the request or the code. BullMQ passes its Redis client's errors on as they are.
 */
export function isBackendOutage(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const { code } = err as NodeJS.ErrnoException;
  return (
    (typeof code === 'string' && SOCKET_CODES.has(code)) ||
    err instanceof MaxRetriesPerRequestError ||
    IOREDIS_MESSAGES.has(err.message) ||
    MONGO_OUTAGES.some((outage) => err instanceof outage)
  );
}
