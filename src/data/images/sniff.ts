/**
 * Look at an ISO-BMFF 'ftyp' box (the container of HEIC and AVIF) without decoding anything.
 * Needed because sharp's prebuilt libvips reads HEIF containers but has no HEVC decoder, and an
 * iPhone HEIC otherwise fails with an obscure libheif message (or a truncated one with 'bad seek').
 */
const AVIF_BRANDS = new Set(['avif', 'avis']);
const HEVC_BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'hevm', 'hevs']);

export type HeifFlavour = 'avif' | 'heic' | 'other';

/** 'avif' or 'heic' when bytes open with an ftyp box naming such a brand; 'other' for other ftyp files; null when no ftyp. */
export function sniffHeifFlavour(bytes: Uint8Array): HeifFlavour | null {
  if (bytes.length < 12 || ascii(bytes, 4, 8) !== 'ftyp') return null;
  const boxSize = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
  // Major brand at 8, minor version at 12, then compatible brands to the end of the box.
  const brands = [ascii(bytes, 8, 12)];
  const end = Math.min(boxSize >= 16 ? boxSize : 16, bytes.length);
  for (let at = 16; at + 4 <= end; at += 4) brands.push(ascii(bytes, at, at + 4));
  // AVIF files also list 'mif1'/'miaf'; an AVIF brand anywhere means an AV1 payload sharp can decode.
  if (brands.some((b) => AVIF_BRANDS.has(b))) return 'avif';
  if (brands.some((b) => HEVC_BRANDS.has(b))) return 'heic';
  return 'other';
}

function ascii(bytes: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...bytes.subarray(from, to));
}
