import { promises as fs } from 'node:fs';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { ImageDecodeError, type ImageErrorCode } from './errors.js';
import { sniffHeifFlavour } from './sniff.js';
import type { DecodedImage, SupportedImageFormat } from './types.js';

export interface DecodeOptions {
  /** Refuse images with more pixels than this (width x height, read from the header before decoding). */
  maxPixels?: number;
  /** Refuse inputs longer than this many bytes (checked before reading a file). */
  maxBytes?: number;
}

/** 50 MP: above any phone camera (48 MP sensors), far below what would exhaust memory (150 MB of RGB). */
export const DEFAULT_MAX_PIXELS = 50_000_000;
/** 32 MiB: a 50 MP JPEG at high quality is ~25 MB. */
export const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;

/** Transparent pixels become white, as in most image viewers (PIL's convert('RGB') would keep whatever colour sits under alpha 0). */
const ALPHA_BACKGROUND = { r: 255, g: 255, b: 255 };

const HEIC_ADVICE =
  'HEIC/HEIF photos are not supported (this build has no HEVC decoder); convert the photo to JPEG or PNG ' +
  '(on an iPhone: Settings > Camera > Formats > Most Compatible)';

/**
 * Decode an image (JPEG, PNG, WebP, AVIF, GIF first frame, TIFF first page) into 8-bit sRGB with
 * exactly 3 channels, applying the EXIF orientation: alpha is flattened on white, greyscale is
 * replicated, CMYK and embedded ICC profiles are converted to sRGB, 16-bit is reduced to 8-bit.
 * Refuses, with an ImageDecodeError, empty / oversized / truncated / non-image / HEIC input and
 * decompression bombs (the pixel count is checked on the header, before any pixel is allocated).
 */
export async function decodeImage(input: Uint8Array | string | ImageProbe, opts: DecodeOptions = {}): Promise<DecodedImage> {
  const probe = isProbe(input) ? input : await probeImage(input, opts);
  const { bytes, file, maxPixels } = probe;
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    decoded = await sharp(bytes, {
      limitInputPixels: maxPixels, // second guard, in case the header lied about a later page
      failOn: 'error', // abort on truncated/corrupt pixel data, tolerate benign encoder warnings
      autoOrient: true,
      pages: 1,
    })
      .flatten({ background: ALPHA_BACKGROUND })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    const [code, problem, detail] = classifySharpError(err);
    throw new ImageDecodeError(code, problem, file, detail);
  }
  const { data, info } = decoded;
  if (info.channels !== 3) throw new Error(`decodeImage: sharp produced ${info.channels} channels instead of 3`);
  return { data, width: info.width, height: info.height, channels: 3, format: probe.format };
}

/**
 * An image whose header has been read and checked (size, format, pixel count): what decodeImage
 * needs to decode it without reading the header again. `pixels` is what its decode will hold
 * (width x height), for callers that budget decodes.
 */
export interface ImageProbe {
  readonly kind: 'image-probe';
  bytes: Uint8Array;
  file?: string;
  format: SupportedImageFormat;
  width: number;
  height: number;
  pixels: number;
  maxPixels: number;
}

function isProbe(input: Uint8Array | string | ImageProbe): input is ImageProbe {
  return typeof input === 'object' && (input as ImageProbe).kind === 'image-probe';
}

/** Read and check an image's header: every refusal decodeImage makes before decoding pixels, with the same errors. */
export async function probeImage(input: Uint8Array | string, opts: DecodeOptions = {}): Promise<ImageProbe> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const file = typeof input === 'string' ? input : undefined;
  const fail = (code: ImageErrorCode, problem: string, detail?: string): never => {
    throw new ImageDecodeError(code, problem, file, detail);
  };

  const bytes = typeof input === 'string' ? await readLimited(input, maxBytes) : input;
  if (bytes.length === 0) fail('empty', 'the image is empty (0 bytes)');
  if (bytes.length > maxBytes) fail('too_large', `the image is ${formatBytes(bytes.length)}; the limit is ${formatBytes(maxBytes)}`);
  if (sniffHeifFlavour(bytes) === 'heic') fail('unsupported_format', HEIC_ADVICE);

  // Header only: no limit here so that a bomb's true size can be reported below.
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    return fail(...classifySharpError(err));
  }
  const format = supportedFormat(meta);
  if (format === null) {
    const what = meta.format === 'heif' ? HEIC_ADVICE : `${meta.format} images are not supported; use JPEG, PNG, WebP, AVIF, GIF or TIFF`;
    return fail('unsupported_format', what);
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (width * height > maxPixels) {
    fail('too_many_pixels', `the image is ${width}x${height} (${megapixels(width * height)}); the limit is ${megapixels(maxPixels)}`);
  }
  return { kind: 'image-probe', bytes, file, format, width, height, pixels: width * height, maxPixels };
}

async function readLimited(file: string, maxBytes: number): Promise<Uint8Array> {
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) throw new ImageDecodeError('unreadable', 'not a regular file', file);
    if (stat.size > maxBytes) {
      throw new ImageDecodeError('too_large', `the image is ${formatBytes(stat.size)}; the limit is ${formatBytes(maxBytes)}`, file);
    }
    return await fs.readFile(file);
  } catch (err) {
    if (err instanceof ImageDecodeError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new ImageDecodeError('unreadable', `cannot read the image: ${reason}`, file);
  }
}

function supportedFormat(meta: Metadata): SupportedImageFormat | null {
  switch (meta.format) {
    case 'jpeg':
    case 'png':
    case 'webp':
    case 'gif':
    case 'tiff':
      return meta.format;
    case 'heif':
      return meta.compression === 'av1' ? 'avif' : null;
    default:
      // SVG, PDF, JPEG 2000, raw camera files...: not photos we expect, and SVG rendering is an attack surface.
      return null;
  }
}

/**
 * Map a libvips message to a code and a sentence in our words. libvips' and glib's own text goes
 * into `detail` (for logs: it is often the only clue) and never into the message a client reads.
 */
function classifySharpError(err: unknown): [ImageErrorCode, string, string] {
  const message = err instanceof Error ? err.message : String(err);
  const detail = message.split('\n')[0].trim().slice(0, 300);
  if (/unsupported image format/i.test(message)) return ['not_an_image', 'the bytes are not an image in any known format', detail];
  if (/exceeds pixel limit/i.test(message)) return ['too_many_pixels', 'the image has more pixels than allowed', detail];
  if (/premature end|truncated|unexpected end|end of (file|data|stream)|not enough data|read error/i.test(message)) {
    return ['truncated', 'the image data ends early or is damaged', detail];
  }
  return ['corrupt', 'the image data is damaged and cannot be decoded', detail];
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / (1024 * 1024)).toFixed(1)} MiB` : `${n} bytes`;
}

function megapixels(n: number): string {
  return `${(n / 1e6).toFixed(1)} MP`;
}
