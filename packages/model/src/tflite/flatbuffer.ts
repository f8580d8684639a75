import type { ByteBuffer } from 'flatbuffers';

/** Reads table fields by slot number, the way generated accessors do. */
export class FbTable {
  constructor(
    private readonly bb: ByteBuffer,
    private readonly pos: number,
  ) {}

  private field(slot: number): number {
    return this.bb.__offset(this.pos, 4 + 2 * slot);
  }

  has(slot: number): boolean {
    return this.field(slot) !== 0;
  }

  int8(slot: number, fallback = 0): number {
    const o = this.field(slot);
    return o ? this.bb.readInt8(this.pos + o) : fallback;
  }

  uint8(slot: number, fallback = 0): number {
    const o = this.field(slot);
    return o ? this.bb.readUint8(this.pos + o) : fallback;
  }

  int32(slot: number, fallback = 0): number {
    const o = this.field(slot);
    return o ? this.bb.readInt32(this.pos + o) : fallback;
  }

  uint32(slot: number, fallback = 0): number {
    const o = this.field(slot);
    return o ? this.bb.readUint32(this.pos + o) : fallback;
  }

  uint64(slot: number): number {
    const o = this.field(slot);
    return o ? Number(this.bb.readUint64(this.pos + o)) : 0;
  }

  float32(slot: number, fallback = 0): number {
    const o = this.field(slot);
    return o ? this.bb.readFloat32(this.pos + o) : fallback;
  }

  string(slot: number): string | undefined {
    const o = this.field(slot);
    return o ? (this.bb.__string(this.pos + o) as string) : undefined;
  }

  table(slot: number): FbTable | undefined {
    const o = this.field(slot);
    return o ? new FbTable(this.bb, this.bb.__indirect(this.pos + o)) : undefined;
  }

  tables(slot: number): FbTable[] {
    return this.vector(slot, 4, (at) => new FbTable(this.bb, this.bb.__indirect(at)));
  }

  int32s(slot: number): number[] | undefined {
    return this.has(slot) ? this.vector(slot, 4, (at) => this.bb.readInt32(at)) : undefined;
  }

  int64s(slot: number): number[] {
    return this.vector(slot, 8, (at) => Number(this.bb.readInt64(at)));
  }

  float32s(slot: number): number[] {
    return this.vector(slot, 4, (at) => this.bb.readFloat32(at));
  }

  bytes(slot: number): Uint8Array {
    const o = this.field(slot);
    if (!o) return new Uint8Array(0);
    const start = this.bb.__vector(this.pos + o);
    return this.bb.bytes().subarray(start, start + this.bb.__vector_len(this.pos + o));
  }

  private vector<T>(slot: number, elementSize: number, read: (at: number) => T): T[] {
    const o = this.field(slot);
    if (!o) return [];
    const start = this.bb.__vector(this.pos + o);
    const length = this.bb.__vector_len(this.pos + o);
    return Array.from({ length }, (_, i) => read(start + i * elementSize));
  }
}
