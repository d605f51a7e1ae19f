import { createRequire } from 'node:module';
import sharp from 'sharp';

const require = createRequire(import.meta.url);

function versionOf(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Versions /v1/info reports (read from the installed packages, not hard-coded). */
export function componentVersions(): Record<string, string> {
  return {
    node: process.versions.node,
    fastify: versionOf('fastify'),
    onnxruntime: versionOf('onnxruntime-node'),
    hnswlib: versionOf('hnswlib-node'),
    // sharp's package exports hide its package.json; it reports its own version and libvips'.
    sharp: (sharp.versions as { sharp?: string }).sharp ?? 'unknown',
    libvips: sharp.versions.vips,
  };
}
