import type { FastifyRequest } from 'fastify';
import { ApiError } from './http-errors.js';
import { MultipartError, parseMultipart, type FormPart } from './http/multipart.js';

/** The multipart file field that carries a photo. */
export const PHOTO_FIELD = 'image';

export interface UploadedPhoto {
  bytes: Buffer;
  filename?: string;
  /** The upload was cut at the byte limit: it is refused as too large. */
  tooLarge: boolean;
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

export function tooLargeError(maxBytes: number): ApiError {
  return new ApiError('too_large', `the photo is larger than the ${mib(maxBytes)} limit`);
}

/**
 * The photos of a multipart request (its body already read whole, see http/body-reader.ts): only
 * file fields named "image" are accepted, at most `maxFiles` of them; a file over `maxBytes` is
 * flagged (in a batch it then fails alone).
 */
function readMultipartPhotos(request: FastifyRequest, maxBytes: number, maxFiles: number, endpoint: string, maxTotalBytes = maxBytes): UploadedPhoto[] {
  let parts: FormPart[];
  try {
    // One part more than allowed is let through the parser, so that the count error below is ours.
    parts = parseMultipart(request.body as Buffer, request.headers['content-type'] ?? '', { maxParts: maxFiles + 9 });
  } catch (err) {
    if (err instanceof MultipartError) throw new ApiError('invalid_multipart', `malformed multipart body: ${err.message}`);
    throw err;
  }
  const photos: UploadedPhoto[] = [];
  let totalBytes = 0;
  for (const part of parts) {
    if (part.filename === undefined || part.name !== PHOTO_FIELD) {
      const what = part.filename === undefined ? `form field "${part.name.slice(0, 60)}" (not a file)` : `file field "${part.name.slice(0, 60)}"`;
      throw new ApiError('unexpected_field', `unexpected ${what}: ${endpoint} takes photos in file fields named "${PHOTO_FIELD}" and nothing else`);
    }
    if (photos.length === maxFiles) {
      throw new ApiError('too_many_images', maxFiles === 1
        ? `${endpoint} takes one photo; send several to /v1/search/batch`
        : `${endpoint} takes at most ${maxFiles} photos per request`, { status: maxFiles === 1 ? 400 : 413 });
    }
    totalBytes += part.data.length;
    if (totalBytes > maxTotalBytes) throw new ApiError('too_large', `the photos of one request may hold ${mib(maxTotalBytes)} together`);
    photos.push({ bytes: part.data, filename: part.filename || undefined, tooLarge: part.data.length > maxBytes });
  }
  return photos;
}

function isMultipart(request: FastifyRequest): boolean {
  return /^multipart\/form-data\b/i.test(request.headers['content-type'] ?? '');
}

/** The photo of a /v1/search request: multipart field "image", or the whole body sent as image/*. */
export async function readSinglePhoto(request: FastifyRequest, maxBytes: number): Promise<Buffer> {
  let photo: UploadedPhoto | undefined;
  if (isMultipart(request)) {
    [photo] = readMultipartPhotos(request, maxBytes, 1, '/v1/search');
  } else if (Buffer.isBuffer(request.body)) {
    photo = { bytes: request.body, tooLarge: request.body.length > maxBytes };
  } else if (request.body !== undefined && request.body !== null) {
    throw new ApiError('unsupported_media_type', 'send the photo as multipart/form-data (file field "image") or as a raw image/* body');
  }
  if (!photo) throw new ApiError('missing_image', 'no photo: send it as multipart/form-data file field "image", or as a raw body with Content-Type image/*');
  if (photo.tooLarge) throw tooLargeError(maxBytes);
  return photo.bytes;
}

/** The photos of a /v1/search/batch request (multipart only), in the order they were sent. */
export async function readPhotoBatch(request: FastifyRequest, maxBytes: number, maxPhotos: number, maxTotalBytes: number): Promise<UploadedPhoto[]> {
  if (!isMultipart(request)) {
    throw new ApiError('unsupported_media_type', '/v1/search/batch takes multipart/form-data with one file field "image" per photo');
  }
  const photos = readMultipartPhotos(request, maxBytes, maxPhotos, '/v1/search/batch', maxTotalBytes);
  if (photos.length === 0) throw new ApiError('missing_image', 'no photo: add one file field "image" per photo');
  return photos;
}
