/** What bench:quantize and bench:quantize-variants share: the photos of a dataset and the cosine between two embeddings. */
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** Every JPEG, PNG and WebP under `dir` (recursively), sorted so runs compare the same photos. */
export async function photoFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await photoFiles(p)));
    else if (/\.(jpe?g|png|webp)$/i.test(entry.name)) out.push(p);
  }
  return out.sort();
}

export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}
