import type { Redis } from 'ioredis';
import mongoose, { type Connection, type Model } from 'mongoose';
import type { AppConfig } from '../config.js';
import type { Prediction } from '../queue/contract.js';
import { connectRedis, execChecked } from '../redis.js';
import { type HistoryCursor, HistoryIndex } from './history-index.js';
import {
  applyRetentionIndex,
  insertNew,
  type PredictionDocument,
  type PredictionRecord,
  PredictionStatus,
  predictionSchema,
  toRecord,
} from './prediction.schema.js';
import { ResultCache } from './result.cache.js';

const DAY_MS = 24 * 3600 * 1000;

export type RepositoryConfig = Pick<AppConfig, 'mongo' | 'redis' | 'results'>;

/** The Redis keys beside a database: named after it, since they describe it. */
export const resultKeys = (dbName: string) => ({
  history: `results:${dbName}:history`,
  cache: `results:${dbName}:cache`,
});

/**
 * The results store: the only code that knows how predictions live. Documents are in MongoDB,
 * keyed by job id; the history's order and the content cache are in Redis. Every query on the
 * request path is by key, or a range of the Redis index, so none of them grows with the history
 * on any MongoDB-protocol server (FerretDB answers anything but `{_id: value}` by reading
 * the whole collection).
 */
export class PredictionRepository {
  private constructor(
    private readonly connection: Connection,
    private readonly model: Model<PredictionDocument>,
    private readonly redis: Redis,
    private readonly history: HistoryIndex,
    private readonly cache: ResultCache,
    private readonly retentionDays: number | undefined,
  ) {}

  /**
   * `config.mongo.timeoutMs` bounds how long an operation waits while MongoDB is unreachable;
   * commands are not buffered, so an outage fails fast instead of stalling requests.
   */
  static async connect(config: RepositoryConfig): Promise<PredictionRepository> {
    const connection = await mongoose
      .createConnection(config.mongo.url, {
        serverSelectionTimeoutMS: config.mongo.timeoutMs,
        bufferCommands: false,
      })
      .asPromise();
    let redis: Redis | undefined;
    try {
      const model = connection.model<PredictionDocument>('Prediction', predictionSchema);
      // Created up front, so that a server's own set-up can index it before any write.
      await model.createCollection();
      redis = await connectRedis(config.redis.url);
      const keys = resultKeys(connection.name);
      const repository = new PredictionRepository(
        connection,
        model,
        redis,
        new HistoryIndex(redis, keys.history),
        new ResultCache(redis, keys.cache, config.results.cacheTtlS),
        config.results.retentionDays,
      );
      await applyRetentionIndex(model, config.results.retentionDays);
      return repository;
    } catch (err) {
      redis?.disconnect();
      await connection.close();
      throw err;
    }
  }

  async ping(): Promise<void> {
    await Promise.all([this.connection.db?.admin().ping(), this.redis.ping()]);
  }

  /**
   * Stored by job id: BullMQ delivers at least once, a redelivery replaces its document instead
   * of adding one. Then the history learns the jobs, and fresh completed results enter the
   * content cache. A failure anywhere throws, and the retried write repeats every step.
   */
  async upsertMany(records: PredictionRecord[]): Promise<void> {
    if (records.length === 0) return;
    const docs = records.map(({ jobId, ...fields }) => ({ ...fields, _id: jobId }));
    const existing = await insertNew(this.model, docs);
    if (existing.length > 0) {
      await this.model.bulkWrite(
        existing.map((doc) => ({ replaceOne: { filter: { _id: doc._id }, replacement: doc } })),
        { ordered: false },
      );
    }
    const fresh = records
      .filter((r) => r.status === PredictionStatus.Completed && !r.cached && r.model)
      .map(({ sha256, model, predictions = [] }) => ({
        modelVersion: model?.version ?? '',
        sha256,
        predictions,
      }));
    // One round trip for the history and the cache.
    const batch = this.history.addTo(this.redis.pipeline(), records);
    await execChecked(this.cache.putTo(batch, fresh));
  }

  async findByJobId(jobId: string): Promise<PredictionRecord | null> {
    const doc = await this.model.findById(jobId).lean<PredictionDocument>();
    return doc && toRecord(doc);
  }

  /** The predictions an earlier job made for the same bytes and the same model, if any. */
  findCachedPredictions(sha256: string, modelVersion: string): Promise<Prediction[] | null> {
    return this.cache.get(modelVersion, sha256);
  }

  /** One page of history, newest first, strictly older than `before`. */
  async listRecent(limit: number, before?: HistoryCursor): Promise<PredictionRecord[]> {
    const ids = await this.history.page(limit, before, this.retentionCutoff());
    const records = await Promise.all(ids.map((id) => this.findByJobId(id)));
    // A document gone before the sweep reached its entry (MongoDB's TTL) is left out.
    return records.filter((r): r is PredictionRecord => r !== null);
  }

  private retentionCutoff(now = Date.now()): Date | undefined {
    return this.retentionDays === undefined
      ? undefined
      : new Date(now - this.retentionDays * DAY_MS);
  }

  /**
   * Deletes the predictions older than the retention, oldest first, a chunk at a time, each by
   * key; returns how many entries it removed. Nothing without a retention.
   */
  async sweep(now = new Date(), chunk = 500): Promise<number> {
    const cutoff = this.retentionCutoff(now.getTime());
    if (!cutoff) return 0;
    let removed = 0;
    for (;;) {
      const entries = await this.history.olderThan(cutoff, chunk);
      if (entries.length === 0) return removed;
      await this.model.bulkWrite(
        entries.map(({ jobId }) => ({ deleteOne: { filter: { _id: jobId } } })),
        { ordered: false },
      );
      await this.history.remove(entries);
      removed += entries.length;
    }
  }

  /**
   * Rebuilds the history index from MongoDB when Redis lost it (a Redis without persistence
   * restarted): one pass over the collection, at start-up only. Returns the entries added.
   */
  async rebuildHistoryIfLost(chunk = 1000): Promise<number> {
    if ((await this.history.size()) > 0) return 0;
    if (!(await this.model.exists({}))) return 0;
    let added = 0;
    let batch: { jobId: string; createdAt: Date }[] = [];
    const flush = async () => {
      await this.history.add(batch);
      added += batch.length;
      batch = [];
    };
    const cursor = this.model
      .find({}, { _id: 1, createdAt: 1 })
      .lean<{ _id: string; createdAt: Date }>()
      .cursor();
    for await (const doc of cursor) {
      batch.push({ jobId: doc._id, createdAt: doc.createdAt });
      if (batch.length >= chunk) await flush();
    }
    await flush();
    return added;
  }

  count(): Promise<number> {
    return this.model.countDocuments();
  }

  historySize(): Promise<number> {
    return this.history.size();
  }

  /** For tests: removes the whole database this repository writes to, and its Redis keys. */
  async dropDatabase(): Promise<void> {
    await this.connection.dropDatabase();
    await this.history.clear();
    await this.cache.clear();
  }

  async close(): Promise<void> {
    await this.connection.close();
    this.redis.disconnect();
  }
}
