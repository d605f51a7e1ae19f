import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** Hex sha256 of bytes already in memory (a manifest, a weights buffer). */
export function sha256Bytes(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Hex sha256 of a file, streamed in 4 MiB chunks: checkpoints, dictionaries, ONNX graphs and
 * HNSW graphs run from ~100 MB to GBs, too big to read whole just to hash. Errors are the
 * stream's (ENOENT, EISDIR, ...), worded as fs.readFile words them.
 */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
