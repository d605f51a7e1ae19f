/**
 * Every error code the API answers with: its HTTP status and what it means. The single source for
 * the codes: `ApiError` and the error mapping only accept codes listed here (a new code does not
 * compile until it is added), and the API documentation at /docs lists them from here.
 */
export const ERROR_CATALOGUE = {
  // Requests the server cannot read.
  bad_request: { status: 400, description: 'malformed HTTP request, or one the server cannot read (the status may be another 4xx the HTTP layer chose)' },
  bad_url: { status: 400, description: 'a URL part that is not valid percent-encoding' },
  url_too_long: { status: 414, description: 'a path parameter longer than 256 characters' },
  headers_too_large: { status: 431, description: 'the request headers are too large' },
  timeout: { status: 408, description: 'the request took too long to arrive' },
  not_found: { status: 404, description: 'no such route' },
  invalid_parameter: { status: 400, description: 'a query, path or body parameter missing, of the wrong type, out of range or not allowed (the message names it)' },
  invalid_body: { status: 400, description: 'an empty or malformed JSON body' },
  invalid_request: { status: 400, description: 'a request the server cannot serve as asked (the message says why)' },
  unsupported_media_type: { status: 415, description: 'a body in a content type the route does not take' },

  // Photo uploads.
  missing_image: { status: 400, description: 'no photo: send it as multipart file field "image" (or, for /v1/search, as a raw image/* body)' },
  unexpected_field: { status: 400, description: 'a multipart field other than file fields named "image"' },
  too_many_images: { status: 400, description: 'more photos than the route takes: 400 for /v1/search (one photo), 413 for /v1/search/batch (over its limit)' },
  invalid_multipart: { status: 400, description: 'a malformed multipart body: no boundary, cut short, a part without a Content-Disposition header or without a name, too many parts' },
  too_large: { status: 413, description: 'a photo, or a batch\'s photos together, over the byte limit (see /v1/info limits)' },
  too_many_pixels: { status: 413, description: 'a photo over the pixel limit (see /v1/info limits)' },
  not_an_image: { status: 415, description: 'the bytes are not an image' },
  unsupported_format: { status: 415, description: 'an image format the server does not decode, such as HEIC' },
  empty: { status: 400, description: 'an empty photo' },
  truncated: { status: 400, description: 'a photo whose file is cut short' },
  corrupt: { status: 400, description: 'a damaged photo' },
  unreadable: { status: 400, description: 'a photo that could not be read' },
  extreme_aspect_ratio: { status: 400, description: 'a photo too narrow or too flat to crop a square from' },

  // Things a request names that do not exist.
  recipe_not_found: { status: 404, description: 'no recipe with that id in the index' },
  image_not_found: { status: 404, description: 'not a photo of a recipe of the index, or its file is not available' },
  evaluation_not_found: { status: 404, description: 'unknown evaluation id (or forgotten after 100 newer ones)' },
  dataset_not_found: { status: 404, description: 'no dataset folder of that name in the server\'s data folder' },

  // Evaluations.
  evaluations_disabled: { status: 403, description: 'the server was started without --data-dir' },
  path_outside_data_dir: { status: 400, description: 'a dataset path that leads outside the server\'s data folder' },
  too_many_evaluations: { status: 429, description: 'too many evaluations waiting (Retry-After: when the running one should finish, from past runs)' },
  evaluation_finished: { status: 409, description: 'DELETE of an evaluation that has already finished: there is nothing to stop' },
  data_dir_missing: { status: 500, description: 'the server\'s data folder does not exist' },

  // The server's state.
  overloaded: { status: 503, description: 'refused before any work: uploads held past the upload budget, photos past --max-queue or past the latency budget, or the event loop behind (Retry-After: when the backlog will have drained)' },
  deadline_exceeded: { status: 503, description: 'not answered within the handler deadline (--handler-timeout-ms) after the body arrived (see Retry-After)' },
  not_ready: { status: 503, description: 'the model and index are still loading, or failed to load (see /readyz)' },
  shutting_down: { status: 503, description: 'the server is shutting down' },
  inference_failed: { status: 500, description: 'the model failed on this input (logged on the server)' },
  internal_error: { status: 500, description: 'an unexpected server fault (logged on the server)' },
} as const satisfies Record<string, { status: number; description: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** The body of every error response: a stable machine-readable code and a sentence for people. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

/** The status a code is answered with, unless the code's description names another for a case. */
export function statusOf(code: ErrorCode): number {
  return ERROR_CATALOGUE[code].status;
}

/** The error object inside every error body, as a JSON schema (with the codes as an enum). */
export const errorDetailSchema = {
  type: 'object',
  required: ['code', 'message'],
  properties: {
    code: { type: 'string', enum: ERROR_CODES, description: 'stable machine-readable code (see the table in the API description)' },
    message: { type: 'string', description: 'what went wrong, for people' },
  },
} as const;

/** The catalogue as a Markdown table, for the API description at /docs. */
export function errorCatalogueMarkdown(): string {
  const rows = ERROR_CODES.map((code) => `| \`${code}\` | ${ERROR_CATALOGUE[code].status} | ${ERROR_CATALOGUE[code].description.replace(/\|/g, '\\|')} |`);
  return ['| code | status | meaning |', '|---|---|---|', ...rows].join('\n');
}
