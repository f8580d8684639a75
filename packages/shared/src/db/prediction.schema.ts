import mongoose, { type Model, Schema } from 'mongoose';
import type { ClassifyResult, ImageFormat, UploadInfo } from '../queue/contract.js';

// How a prediction lives in MongoDB: the record, its document and schema, and the retention index.

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
export type PredictionDocument = Omit<PredictionRecord, 'jobId'> & { _id: string };

export const predictionSchema = new Schema<PredictionDocument>(
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

const codeOf = (err: unknown) => (err as { code?: number }).code;

/**
 * Inserts the documents whose _id is new and returns the others. Writes are inserts in the
 * common case: an insert costs O(log n) on every MongoDB-protocol server, and only the rare
 * redelivered job pays for a replace.
 */
export async function insertNew<T extends { _id: string }>(
  model: Model<T>,
  docs: T[],
): Promise<T[]> {
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

export const toRecord = (doc: PredictionDocument): PredictionRecord => {
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

/**
 * MongoDB deletes expired results itself through a TTL index; a server without TTL indexes
 * (FerretDB) relies on PredictionRepository.sweep(). Without retention the TTL index must go, or it would go on deleting.
 */
export async function applyRetentionIndex(
  model: Model<PredictionDocument>,
  retentionDays: number | undefined,
): Promise<void> {
  const collection = model.collection;
  try {
    if (retentionDays === undefined) {
      await collection.dropIndex(RETENTION_INDEX);
      return;
    }
    const expireAfterSeconds = Math.round(retentionDays * 24 * 3600);
    try {
      await collection.createIndex({ createdAt: 1 }, { name: RETENTION_INDEX, expireAfterSeconds });
    } catch (err) {
      if (codeOf(err) !== INDEX_OPTIONS_CONFLICT) throw err;
      await model.db.db?.command({
        collMod: collection.collectionName,
        index: { name: RETENTION_INDEX, expireAfterSeconds },
      });
    }
  } catch (err) {
    if (![NOT_IMPLEMENTED, INDEX_NOT_FOUND].includes(codeOf(err) ?? 0)) throw err;
  }
}
