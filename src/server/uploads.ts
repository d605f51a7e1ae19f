import type { FastifyRequest } from 'fastify';
import { ApiError } from './http-errors.js';

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
 * Read every part of a multipart request: only file fields named "image" are accepted, at most
 * `maxFiles` of them. Files are read into memory (never written to disk), each cut at `maxBytes`.
 */
async function readMultipartPhotos(request: FastifyRequest, maxBytes: number, maxFiles: number, endpoint: string, maxTotalBytes = maxBytes): Promise<UploadedPhoto[]> {
  const photos: UploadedPhoto[] = [];
  let totalBytes = 0;
  try {
    // throwFileSizeLimit is an option of the plugin's parts() (its typings list only busboy's): an
    // oversized file is then cut and flagged instead of failing the whole request, so in a batch it fails alone.
    // One file more than allowed is let through the parser, so that the count error below is ours.
    for await (const part of request.parts({ limits: { fileSize: maxBytes, files: maxFiles + 1, fields: 8, parts: maxFiles + 9 }, throwFileSizeLimit: false } as never)) {
      if (part.type === 'field' || part.fieldname !== PHOTO_FIELD) {
        throw new ApiError('unexpected_field', `unexpected form field "${part.fieldname}": ${endpoint} takes photos in file fields named "${PHOTO_FIELD}" and nothing else`);
      }
      if (photos.length === maxFiles) {
        throw new ApiError('too_many_images', maxFiles === 1
          ? `${endpoint} takes one photo; send several to /v1/search/batch`
          : `${endpoint} takes at most ${maxFiles} photos per request`, { status: maxFiles === 1 ? 400 : 413 });
      }
      const bytes = await part.toBuffer();
      totalBytes += bytes.length;
      if (totalBytes > maxTotalBytes) throw new ApiError('too_large', `the photos of one request may hold ${mib(maxTotalBytes)} together`);
      photos.push({ bytes, filename: part.filename || undefined, tooLarge: part.file.truncated });
    }
  } catch (err) {
    if (err instanceof ApiError || typeof (err as { statusCode?: unknown }).statusCode === 'number') throw err;
    // busboy's own complaints (missing boundary, body cut short) are a malformed request.
    throw new ApiError('invalid_multipart', `malformed multipart body: ${(err as Error).message}`);
  }
  return photos;
}

/** The photo of a /v1/search request: multipart field "image", or the whole body sent as image/*. */
export async function readSinglePhoto(request: FastifyRequest, maxBytes: number): Promise<Buffer> {
  let photo: UploadedPhoto | undefined;
  if (request.isMultipart()) {
    [photo] = await readMultipartPhotos(request, maxBytes, 1, '/v1/search');
  } else if (Buffer.isBuffer(request.body)) {
    photo = { bytes: request.body, tooLarge: false };
  } else if (request.body !== undefined && request.body !== null) {
    throw new ApiError('unsupported_media_type', 'send the photo as multipart/form-data (file field "image") or as a raw image/* body');
  }
  if (!photo) throw new ApiError('missing_image', 'no photo: send it as multipart/form-data file field "image", or as a raw body with Content-Type image/*');
  if (photo.tooLarge) throw tooLargeError(maxBytes);
  return photo.bytes;
}

/** The photos of a /v1/search/batch request (multipart only), in the order they were sent. */
export async function readPhotoBatch(request: FastifyRequest, maxBytes: number, maxPhotos: number, maxTotalBytes: number): Promise<UploadedPhoto[]> {
  if (!request.isMultipart()) {
    throw new ApiError('unsupported_media_type', '/v1/search/batch takes multipart/form-data with one file field "image" per photo');
  }
  const photos = await readMultipartPhotos(request, maxBytes, maxPhotos, '/v1/search/batch', maxTotalBytes);
  if (photos.length === 0) throw new ApiError('missing_image', 'no photo: add one file field "image" per photo');
  return photos;
}
