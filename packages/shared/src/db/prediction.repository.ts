import type { Redis } from 'ioredis';
import mongoose, { type Connection, type Model, Schema } from 'mongoose';
import type { AppConfig } from '../config.js';
import type { ClassifyResult, ImageFormat, Prediction, UploadInfo } from '../queue/contract.js';
import { connectRedis, execChecked } from '../redis.js';
import { type HistoryCursor, HistoryIndex } from './history.index.js';
import { ResultCache } from './result.cache.js';

export enum PredictionStatus {
  Completed = 'completed',
  Failed = 'failed',
}

/** One finished job as stored: what the upload was, what the model said. Never the upload itself. */
export interface PredictionRecord extends UploadInfo, Partial<ClassifyResult> {
  jobId: string;
  status: PredictionStatus;
  thumbnail?: Buffer;
  error?: string;
  createdAt: Date;
  finishedAt: Date;
}

/** Stored shape: the job id is the document's _id, the one key every MongoDB-protocol server looks up directly. */
type PredictionDocument = Omit<PredictionRecord, 'jobId'> & { _id: string };

const predictionSchema = new Schema<PredictionDocument>(
  {
    _id: { type: String, required: true },
    status: { type: String, enum: Object.values(PredictionStatus), required: true },
    filename: { type: String, required: true },
    sha256: { type: String, required: true },
    byteSize: { type: Number, required: true },
    width: { type: Number, required: true },
    height: { type: Number, required: true },
    format: { type: String, required: true },
    thumbnail: Buffer,
    predictions: [{ _id: false, index: Number, label: String, score: Number }],
    model: { _id: false, name: String, version: String },
    timings: {
      _id: false,
      queuedMs: Number,
      inferenceMs: Number,
      totalMs: Number,
      batchSize: Number,
    },
    cached: Boolean,
    processedBy: String,
    error: String,
    createdAt: { type: Date, required: true },
    finishedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'predictions' },
);

const DUPLICATE_KEY = 11000;
const NOT_IMPLEMENTED = 238;
const INDEX_NOT_FOUND = 27;
const INDEX_OPTIONS_CONFLICT = 85;
const RETENTION_INDEX = 'retention';
const DAY_MS = 24 * 3600 * 1000;

const codeOf = (err: unknown) => (err as { code?: number }).code;

/**
 * Inserts the documents whose _id is new and returns the others. Writes are inserts in the
 * common case: an insert costs O(log n) on every MongoDB-protocol server, and only the rare
 * redelivered job pays for a replace.
 */
async function insertNew<T extends { _id: string }>(model: Model<T>, docs: T[]): Promise<T[]> {
  if (docs.length === 0) return [];
  try {
    // lean: the documents are ours and already of the schema's types; casting costs CPU.
    await model.insertMany(docs, { ordered: false, lean: true });
    return [];
  } catch (err) {
    const writeErrors = (err as { writeErrors?: { index: number; err?: { code?: number } }[] })
      .writeErrors;
    if (!writeErrors?.length || writeErrors.some((w) => w.err?.code !== DUPLICATE_KEY)) throw err;
    return writeErrors.map((w) => docs[w.index]).filter((d): d is T => d !== undefined);
  }
}

const toRecord = (doc: PredictionDocument): PredictionRecord => {
  const { _id, thumbnail, ...rest } = doc;
  // lean() hands binary fields back as BSON Binary, not Buffer.
  const bytes = thumbnail instanceof mongoose.mongo.Binary ? thumbnail.buffer : thumbnail;
  return {
    ...rest,
    jobId: _id,
    format: rest.format as ImageFormat,
    ...(bytes ? { thumbnail: Buffer.from(bytes) } : {}),
  };
};

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
      await repository.applyRetentionIndex();
      return repository;
    } catch (err) {
      redis?.disconnect();
      await connection.close();
      throw err;
    }
  }

  /**
   * MongoDB deletes expired results itself through a TTL index; a server without TTL indexes
   * (FerretDB) relies on sweep(). Without retention the TTL index must go, or it would go on deleting.
   */
  private async applyRetentionIndex(): Promise<void> {
    const collection = this.model.collection;
    try {
      if (this.retentionDays === undefined) {
        await collection.dropIndex(RETENTION_INDEX);
        return;
      }
      const expireAfterSeconds = Math.round(this.retentionDays * 24 * 3600);
      try {
        await collection.createIndex(
          { createdAt: 1 },
          { name: RETENTION_INDEX, expireAfterSeconds },
        );
      } catch (err) {
        if (codeOf(err) !== INDEX_OPTIONS_CONFLICT) throw err;
        await this.connection.db?.command({
          collMod: collection.collectionName,
          index: { name: RETENTION_INDEX, expireAfterSeconds },
        });
      }
    } catch (err) {
      if (![NOT_IMPLEMENTED, INDEX_NOT_FOUND].includes(codeOf(err) ?? 0)) throw err;
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
