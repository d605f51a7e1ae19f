/**
 * multipart/form-data (RFC 7578) parsed from a body already held in memory.
 *
 * The server reads each upload whole before handling it (the body counts against the upload
 * budget while it is read), so parsing is a pass of Buffer.indexOf over the bytes: no stream state
 * that can stall. The streaming parser used before never answered a part without a
 * Content-Disposition header once its body exceeded the part stream's 16 KiB high-water mark.
 */

export interface FormPart {
  /** The field name (Content-Disposition `name`). */
  name: string;
  /** The file name when the part is a file (`filename` or RFC 5987 `filename*`). */
  filename?: string;
  contentType?: string;
  /** A view into the request body (not a copy). */
  data: Buffer;
}

/** A body that is not valid multipart/form-data: the message says what, in our words. */
export class MultipartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MultipartError';
  }
}

export interface MultipartLimits {
  /** Most parts accepted; one more is an error. */
  maxParts: number;
  /** Largest header block of one part. */
  maxHeaderBytes?: number;
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

/** The boundary parameter of a multipart Content-Type, or an error that says what is wrong. */
export function multipartBoundary(contentType: string): string {
  const match = /;\s*boundary=(?:"((?:[^"\\]|\\.){1,70})"|([^;\s"]{1,70}))/i.exec(contentType);
  const boundary = match ? (match[1] ?? match[2]).replace(/\\(.)/g, '$1') : undefined;
  if (!boundary) throw new MultipartError('the multipart Content-Type has no boundary parameter');
  return boundary;
}

/** Every part of a multipart/form-data body, in order. */
export function parseMultipart(body: Buffer, contentType: string, limits: MultipartLimits): FormPart[] {
  const boundary = multipartBoundary(contentType);
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  const maxHeaderBytes = limits.maxHeaderBytes ?? 16 * 1024;
  // The first delimiter may open the body without the CRLF before it.
  let at = body.subarray(0, delimiter.length - 2).equals(delimiter.subarray(2)) ? -2 : body.indexOf(delimiter);
  if (at === -2) at = 0;
  else if (at < 0) throw new MultipartError('the multipart body has no boundary line (empty, or cut short)');
  else at += 2;
  // `at` points at "--boundary".
  const parts: FormPart[] = [];
  for (;;) {
    let cursor = at + 2 + boundary.length;
    if (body[cursor] === 0x2d && body[cursor + 1] === 0x2d) return parts; // "--": the closing delimiter
    while (body[cursor] === 0x20 || body[cursor] === 0x09) cursor++; // transport padding
    if (!body.subarray(cursor, cursor + 2).equals(CRLF)) throw new MultipartError('a multipart boundary line is malformed or the body is cut short');
    cursor += 2;
    if (parts.length === limits.maxParts) throw new MultipartError(`too many parts in the form (more than ${limits.maxParts})`);
    const headerEnd = body.indexOf(HEADER_END, cursor - 2);
    let headerBlock: string;
    let dataStart: number;
    if (body.subarray(cursor, cursor + 2).equals(CRLF)) {
      headerBlock = ''; // a part with no headers at all
      dataStart = cursor + 2;
    } else if (headerEnd < 0 || headerEnd - cursor > maxHeaderBytes) {
      throw new MultipartError(headerEnd < 0 ? 'the multipart body ends inside the headers of a part' : `the headers of form part ${parts.length + 1} are longer than ${maxHeaderBytes} bytes`);
    } else {
      headerBlock = body.toString('latin1', cursor, headerEnd);
      dataStart = headerEnd + 4;
    }
    const next = body.indexOf(delimiter, dataStart);
    if (next < 0) throw new MultipartError('the multipart body ends before its closing boundary (cut short?)');
    parts.push(partFrom(parts.length + 1, headerBlock, body.subarray(dataStart, next)));
    at = next + 2;
  }
}

function partFrom(ordinal: number, headerBlock: string, data: Buffer): FormPart {
  const headers = new Map<string, string>();
  for (const line of headerBlock.split('\r\n')) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new MultipartError(`form part ${ordinal} has a malformed header line`);
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const disposition = headers.get('content-disposition');
  if (disposition === undefined) {
    throw new MultipartError(`form part ${ordinal} has no Content-Disposition header, so no field name: send the photo as a file field named "image"`);
  }
  const params = dispositionParams(disposition);
  if (!/^form-data\s*(;|$)/i.test(disposition)) throw new MultipartError(`form part ${ordinal} is not form-data (Content-Disposition "${disposition.slice(0, 40)}")`);
  const name = params.get('name');
  if (name === undefined || name === '') throw new MultipartError(`form part ${ordinal} has no name (its Content-Disposition lacks name="...")`);
  const filename = params.get('filename*') ?? params.get('filename');
  return { name, filename: filename === undefined ? undefined : baseName(filename), contentType: headers.get('content-type'), data };
}

/** `form-data; name="a"; filename="b.jpg"` -> parameters (quoted strings unescaped, RFC 5987 values decoded). */
function dispositionParams(value: string): Map<string, string> {
  const params = new Map<string, string>();
  const re = /;\s*([!#$%&'*+.^_`|~\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    const key = m[1].toLowerCase();
    let v = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3].trim();
    if (key.endsWith('*')) {
      const ext = /^([\w-]+)'[^']*'(.*)$/.exec(v);
      try {
        v = ext ? decodeURIComponent(ext[2]) : v;
      } catch {
        continue; // undecodable: fall back to the plain parameter
      }
    } else {
      // Browsers send UTF-8 bytes in the quoted string; the header block was read as latin1.
      v = Buffer.from(v, 'latin1').toString('utf8');
    }
    params.set(key, v);
  }
  return params;
}

/** A file name without any directory a client put in it. */
function baseName(filename: string): string {
  const parts = filename.split(/[\\/]/);
  return parts[parts.length - 1];
}
