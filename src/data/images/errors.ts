import { UserError } from '../../util/errors.js';

/**
 * Why an image could not be used. Stable strings: the HTTP server maps them to 4xx responses
 * (e.g. too_large / too_many_pixels -> 413, not_an_image / unsupported_format -> 415, the rest -> 400).
 */
export type ImageErrorCode =
  | 'empty'
  | 'too_large'
  | 'too_many_pixels'
  | 'not_an_image'
  | 'unsupported_format'
  | 'truncated'
  | 'corrupt'
  | 'unreadable'
  | 'extreme_aspect_ratio';

/** An image the user supplied that cannot be decoded or used; names the file when there is one. */
export class ImageDecodeError extends UserError {
  constructor(
    readonly code: ImageErrorCode,
    problem: string,
    readonly file?: string,
    /** The decoder's own words (libvips/glib), for the log; never shown to API clients. */
    readonly detail?: string,
  ) {
    super(file === undefined ? problem : `${file}: ${problem}`);
    this.name = 'ImageDecodeError';
  }
}
