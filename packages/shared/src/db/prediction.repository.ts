import mongoose, { type Connection, type Model, Schema } from 'mongoose';
import type { ClassifyResult, ImageFormat, Prediction, UploadInfo } from '../queue.js';

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
predictionSchema.index({ createdAt: -1 });
predictionSchema.index({ sha256: 1 });

/**
 * Completed predictions by content: _id is `<model version>:<sha256>`, so the check made on
 * every upload is a lookup by key on any MongoDB-protocol server (FerretDB's SQLite backend
 * scans a collection for anything but _id).
 */
interface CachedPredictionDocument {
  _id: string;
  jobId: string;
  predictions: Prediction[];
}

const cachedPredictionSchema = new Schema<CachedPredictionDocument>(
  {
    _id: { type: String, required: true },
    jobId: { type: String, required: true },
    predictions: [{ _id: false, index: Number, label: String, score: Number }],
  },
  { versionKey: false, collection: 'prediction_cache' },
);

const cacheKey = (modelVersion: string, sha256: string) => `${modelVersion}:${sha256}`;

const DUPLICATE_KEY = 11000;

/**
 * Inserts the documents whose _id is new and returns the others. Writes are inserts in the
 * common case because FerretDB's SQLite backend answers an upsert with a collection scan,
 * while an insert costs the same at any size.
 */
async function insertNew<T extends { _id: string }>(model: Model<T>, docs: T[]): Promise<T[]> {
  if (docs.length === 0) return [];
  try {
    await model.insertMany(docs, { ordered: false });
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

/** The results store: the only code that knows how predictions live in MongoDB. */
export class PredictionRepository {
  private constructor(
    private readonly connection: Connection,
    private readonly model: Model<PredictionDocument>,
    private readonly cache: Model<CachedPredictionDocument>,
  ) {}

  /**
   * `serverSelectionTimeoutMs` bounds how long an operation waits while MongoDB is unreachable;
   * commands are not buffered, so an outage fails fast instead of stalling requests.
   */
  static async connect(
    url: string,
    opts: { serverSelectionTimeoutMs?: number } = {},
  ): Promise<PredictionRepository> {
    const connection = await mongoose
      .createConnection(url, {
        serverSelectionTimeoutMS: opts.serverSelectionTimeoutMs ?? 5000,
        bufferCommands: false,
      })
      .asPromise();
    const model = connection.model<PredictionDocument>('Prediction', predictionSchema);
    const cache = connection.model<CachedPredictionDocument>(
      'CachedPrediction',
      cachedPredictionSchema,
    );
    await model.createIndexes();
    return new PredictionRepository(connection, model, cache);
  }

  async ping(): Promise<void> {
    await this.connection.db?.admin().ping();
  }

  /**
   * Upserted by job id: BullMQ delivers at least once, a redelivery must not add a document.
   * Fresh completed results also enter the content cache (where the content is cached
   * already, the first answer stays).
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
    const fresh = records.filter(
      (r) => r.status === PredictionStatus.Completed && !r.cached && r.model && r.predictions,
    );
    await insertNew(
      this.cache,
      fresh.map(({ jobId, sha256, model, predictions = [] }) => ({
        _id: cacheKey(model?.version ?? '', sha256),
        jobId,
        predictions,
      })),
    );
  }

  async findByJobId(jobId: string): Promise<PredictionRecord | null> {
    const doc = await this.model.findById(jobId).lean<PredictionDocument>();
    return doc && toRecord(doc);
  }

  /** The predictions an earlier job made for the same bytes and the same model, if any. */
  async findCachedPredictions(sha256: string, modelVersion: string): Promise<Prediction[] | null> {
    const doc = await this.cache
      .findById(cacheKey(modelVersion, sha256))
      .lean<CachedPredictionDocument>();
    return doc?.predictions ?? null;
  }

  /** Newest first; `before` pages back from a createdAt. */
  async listRecent(limit: number, before?: Date): Promise<PredictionRecord[]> {
    const docs = await this.model
      .find(before ? { createdAt: { $lt: before } } : {})
      .sort({ createdAt: -1, _id: -1 })
      .limit(limit)
      .lean<PredictionDocument[]>();
    return docs.map(toRecord);
  }

  async count(): Promise<number> {
    return this.model.countDocuments();
  }

  /** For tests: removes the whole database this repository writes to. */
  async dropDatabase(): Promise<void> {
    await this.connection.dropDatabase();
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}
