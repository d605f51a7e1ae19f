import { promises as fs } from 'node:fs';
import { DataFileError } from '../util/errors.js';

/** The header hnswlib's saveIndex writes: size_t fields (8 bytes) and two ints, little-endian. */
export interface HnswHeader {
  maxElements: number;
  count: number;
  /** Bytes of vector data per element: 4 x dim for float32 spaces. */
  dataBytes: number;
  M: number;
  efConstruction: number;
}

const HEADER_BYTES = 96;

/**
 * Read the header of an hnswlib index file. readIndex trusts the width given to the constructor and
 * would read a file of another width as garbage, so the loader compares this header with the manifest.
 */
export async function readHnswHeader(file: string): Promise<HnswHeader> {
  const handle = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(HEADER_BYTES);
    const { bytesRead } = await handle.read(buf, 0, HEADER_BYTES, 0);
    if (bytesRead < HEADER_BYTES) throw new DataFileError(file, `only ${bytesRead} bytes: too short for an HNSW index`);
    const size = (offset: number) => Number(buf.readBigUInt64LE(offset));
    // offsetLevel0, maxElements, count, sizeDataPerElement, labelOffset, offsetData, maxLevel(i32),
    // enterpoint(i32), maxM, maxM0, M, mult(f64), efConstruction
    return {
      maxElements: size(8),
      count: size(16),
      dataBytes: size(32) - size(40),
      M: size(72),
      efConstruction: size(88),
    };
  } finally {
    await handle.close();
  }
}
