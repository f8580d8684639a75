import type { ChainableCommander, Redis } from 'ioredis';
import { execChecked } from '../redis.js';

/** One entry of the history: a finished job and when it was accepted. */
export interface HistoryEntry {
  jobId: string;
  createdAt: Date;
}

/**
 * Where a page of history ends: the last entry's createdAt and job id. As text (the API's
 * `next`), `<epoch ms, 13 digits>:<job id>`, the index's own member; the ms alone pages from
 * before that instant.
 */
export interface HistoryCursor {
  createdAt: Date;
  jobId?: string;
}

// 13 digits hold every epoch millisecond up to the year 2286.
const MS_DIGITS = 13;

/** Members sort as text in newest-first order of createdAt, ties broken by job id. */
export const historyMember = ({ jobId, createdAt }: HistoryEntry) =>
  `${createdAt.getTime().toString().padStart(MS_DIGITS, '0')}:${jobId}`;

const memberPrefix = (at: Date) => at.getTime().toString().padStart(MS_DIGITS, '0');

/** The longest job id the API takes in a path or a cursor (the ids it makes are UUIDs). */
export const JOB_ID_MAX_CHARS = 100;

/** The text every cursor matches, and every text that matches is one (the API's schema). */
export const CURSOR_PATTERN = `^[0-9]{${MS_DIGITS}}(:[A-Za-z0-9._-]{1,${JOB_ID_MAX_CHARS}})?$`;
const CURSOR = new RegExp(CURSOR_PATTERN);

export const formatCursor = (entry: HistoryEntry): string => historyMember(entry);

/** Parses the API's `before`; undefined when it is not a cursor. */
export function parseCursor(text: string): HistoryCursor | undefined {
  if (!CURSOR.test(text)) return undefined;
  const createdAt = new Date(Number(text.slice(0, MS_DIGITS)));
  const jobId = text.slice(MS_DIGITS + 1);
  return jobId ? { createdAt, jobId } : { createdAt };
}

/** The exclusive upper bound of a page, in ZRANGE BYLEX terms. */
export const pageBound = (before?: HistoryCursor) => {
  if (!before) return '+';
  return before.jobId
    ? `(${historyMember({ jobId: before.jobId, createdAt: before.createdAt })}`
    : `(${memberPrefix(before.createdAt)}`;
};

const jobIdOf = (member: string) => member.slice(MS_DIGITS + 1);
const entryOf = (member: string): HistoryEntry => ({
  jobId: jobIdOf(member),
  createdAt: new Date(Number(member.slice(0, MS_DIGITS))),
});

/**
 * The history's order, newest first, kept in one Redis sorted set beside the queue: paging is
 * O(log n + page) on any MongoDB-protocol server, where a sorted, limited find would make
 * FerretDB read the whole collection. Every score is 0 and members sort as text, so a page
 * can start right after any (createdAt, job id) pair.
 */
export class HistoryIndex {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
  ) {}

  async add(entries: HistoryEntry[]): Promise<void> {
    if (entries.length > 0) await execChecked(this.addTo(this.redis.pipeline(), entries));
  }

  /** Queues the add on a pipeline of the caller's, to share its round trip. */
  addTo(batch: ChainableCommander, entries: HistoryEntry[]): ChainableCommander {
    return entries.length > 0
      ? batch.zadd(this.key, ...entries.flatMap((e) => [0, historyMember(e)]))
      : batch;
  }

  /** Job ids of one page, newest first, strictly older than `before`; none older than `notBefore`. */
  async page(limit: number, before?: HistoryCursor, notBefore?: Date): Promise<string[]> {
    const min = notBefore ? `[${memberPrefix(notBefore)}` : '-';
    const members = await this.redis.zrange(
      this.key,
      pageBound(before),
      min,
      'BYLEX',
      'REV',
      'LIMIT',
      0,
      limit,
    );
    return members.map(jobIdOf);
  }

  /** Up to `max` entries older than `cutoff`, oldest first. */
  async olderThan(cutoff: Date, max: number): Promise<HistoryEntry[]> {
    const members = await this.redis.zrange(
      this.key,
      '-',
      `(${memberPrefix(cutoff)}`,
      'BYLEX',
      'LIMIT',
      0,
      max,
    );
    return members.map(entryOf);
  }

  async remove(entries: HistoryEntry[]): Promise<void> {
    if (entries.length > 0) await this.redis.zrem(this.key, ...entries.map(historyMember));
  }

  size(): Promise<number> {
    return this.redis.zcard(this.key);
  }

  async clear(): Promise<void> {
    await this.redis.del(this.key);
  }
}
