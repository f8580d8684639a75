import mongoose, { type Connection, type Model, Schema } from 'mongoose';
import type { ClassifyResult, ImageFormat, UploadInfo } from '../queue.js';

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
predictionSchema.index({ sha256: 1, 'model.version': 1 });

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
  ) {}

  static async connect(url: string): Promise<PredictionRepository> {
    const connection = await mongoose
      .createConnection(url, { serverSelectionTimeoutMS: 5000 })
      .asPromise();
    const model = connection.model<PredictionDocument>('Prediction', predictionSchema);
    await model.createIndexes();
    return new PredictionRepository(connection, model);
  }

  async ping(): Promise<void> {
    await this.connection.db?.admin().ping();
  }

  /** Upserted by job id: BullMQ delivers at least once, a redelivery must not add a document. */
  async upsertMany(records: PredictionRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.model.bulkWrite(
      records.map(({ jobId, ...fields }) => ({
        updateOne: { filter: { _id: jobId }, update: { $set: fields }, upsert: true },
      })),
      { ordered: false },
    );
  }

  async findByJobId(jobId: string): Promise<PredictionRecord | null> {
    const doc = await this.model.findById(jobId).lean<PredictionDocument>();
    return doc && toRecord(doc);
  }

  /** A completed result for the same bytes and the same model, if one exists. */
  async findCompletedBySha256(
    sha256: string,
    modelVersion: string,
  ): Promise<PredictionRecord | null> {
    const doc = await this.model
      .findOne({ sha256, 'model.version': modelVersion, status: PredictionStatus.Completed })
      .lean<PredictionDocument>();
    return doc && toRecord(doc);
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
