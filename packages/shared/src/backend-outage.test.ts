import { once } from 'node:events';
import { createServer } from 'node:net';
import { Redis, ReplyError } from 'ioredis';
import mongoose from 'mongoose';
import { beforeAll, describe, expect, it } from 'vitest';
import { isBackendOutage } from './backend-outage.js';
import { AppError } from './errors.js';

/** A loopback port nothing listens on: one just released. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** What a command on `redis` is rejected with; the client is closed after. */
async function redisRejection(redis: Redis): Promise<unknown> {
  redis.on('error', () => {
    // Connection errors: the command's rejection is what is looked at.
  });
  try {
    await redis.ping();
    throw new Error('the command succeeded');
  } catch (err) {
    return err;
  } finally {
    redis.disconnect();
  }
}

describe('isBackendOutage', () => {
  let url: string;
  let port: number;
  beforeAll(async () => {
    port = await closedPort();
    url = `redis://127.0.0.1:${port}`;
  });

  describe('ioredis, against a closed port', () => {
    it("a fail-fast client's command: the stream is not writeable", async () => {
      const err = await redisRejection(new Redis(url, { enableOfflineQueue: false }));
      expect((err as Error).message).toMatch(/Stream isn't writeable/);
      expect(isBackendOutage(err)).toBe(true);
    });

    it('a command out of retries: MaxRetriesPerRequestError', async () => {
      const err = await redisRejection(
        new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => 10 }),
      );
      expect((err as Error).name).toBe('MaxRetriesPerRequestError');
      expect(isBackendOutage(err)).toBe(true);
    });

    it('a command once the client gave up reconnecting: the connection is closed', async () => {
      const err = await redisRejection(new Redis(url, { retryStrategy: () => null }));
      expect((err as Error).message).toBe('Connection is closed.');
      expect(isBackendOutage(err)).toBe(true);
    });

    it('a command past its commandTimeout', async () => {
      const err = await redisRejection(
        new Redis(url, { commandTimeout: 50, maxRetriesPerRequest: null }),
      );
      expect((err as Error).message).toBe('Command timed out');
      expect(isBackendOutage(err)).toBe(true);
    });

    it('the socket error itself: ECONNREFUSED', async () => {
      const redis = new Redis(url, { retryStrategy: () => null });
      const [err] = await once(redis, 'error');
      redis.disconnect();
      expect((err as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
      expect(isBackendOutage(err)).toBe(true);
    });
  });

  it("other socket errors by Node's code: a reset, a broken pipe, a timeout", () => {
    for (const code of ['ECONNRESET', 'EPIPE', 'ETIMEDOUT']) {
      expect(isBackendOutage(Object.assign(new Error(`read ${code}`), { code }))).toBe(true);
    }
  });

  describe('the MongoDB driver and mongoose', () => {
    it('a client that finds no server in time: MongoServerSelectionError', async () => {
      const client = new mongoose.mongo.MongoClient(`mongodb://127.0.0.1:${port}/x`, {
        serverSelectionTimeoutMS: 100,
      });
      const err = await client
        .db()
        .command({ ping: 1 })
        .catch((e: unknown) => e);
      await client.close();
      expect(err).toBeInstanceOf(mongoose.mongo.MongoServerSelectionError);
      expect(isBackendOutage(err)).toBe(true);
    });

    it('a mongoose connection that finds no server: MongooseServerSelectionError', async () => {
      const conn = mongoose.createConnection(`mongodb://127.0.0.1:${port}/x`, {
        serverSelectionTimeoutMS: 100,
      });
      const err = await conn.asPromise().catch((e: unknown) => e);
      await conn.close();
      expect(err).toBeInstanceOf(mongoose.Error.MongooseServerSelectionError);
      expect(isBackendOutage(err)).toBe(true);
    });

    // Thrown by the driver mid-operation; built here from its exported classes.
    it('a lost connection, a closed client, a closed topology', () => {
      const { MongoNetworkError, MongoNetworkTimeoutError, MongoNotConnectedError } =
        mongoose.mongo;
      expect(isBackendOutage(new MongoNetworkError('connection 1 to 127.0.0.1 closed'))).toBe(true);
      expect(isBackendOutage(new MongoNetworkTimeoutError('connection timed out'))).toBe(true);
      expect(
        isBackendOutage(
          new MongoNotConnectedError('Client must be connected before running operations'),
        ),
      ).toBe(true);
      expect(isBackendOutage(new mongoose.mongo.MongoTopologyClosedError())).toBe(true);
    });
  });

  it('leaves faults that are not an outage alone', () => {
    expect(isBackendOutage(new Error('boom'))).toBe(false);
    expect(isBackendOutage(new AppError('BAD_REQUEST', 'Connection is closed'))).toBe(false);
    expect(isBackendOutage(new ReplyError('WRONGTYPE Operation against a key'))).toBe(false);
    expect(
      isBackendOutage(new mongoose.mongo.MongoServerError({ message: 'E11000', code: 11000 })),
    ).toBe(false);
    expect(isBackendOutage('ECONNREFUSED')).toBe(false);
  });
});
