import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MultipartError, multipartBoundary, parseMultipart } from '../src/server/http/multipart.js';

/** The bytes and Content-Type undici (fetch) sends for a FormData: an independent encoder. */
async function encoded(form: FormData): Promise<{ body: Buffer; contentType: string }> {
  const req = new Request('http://x/', { method: 'POST', body: form });
  return { body: Buffer.from(await req.arrayBuffer()), contentType: req.headers.get('content-type')! };
}

const LIMITS = { maxParts: 20 };

test('parseMultipart reads what fetch encodes: fields, files, names, bytes (CRLF and boundary-like bytes inside data)', async () => {
  const binary = Buffer.from([0, 13, 10, 45, 45, 13, 10, 13, 10, 255, 1, 2]);
  const form = new FormData();
  form.append('image', new Blob([binary], { type: 'image/jpeg' }), 'dish.jpg');
  form.append('note', 'hello\r\nworld');
  form.append('image', new Blob([Buffer.alloc(70_000, 65)]), 'crème brûlée.png');
  form.append('image', new Blob([]), 'empty.jpg');
  const { body, contentType } = await encoded(form);
  const parts = parseMultipart(body, contentType, LIMITS);
  assert.deepEqual(parts.map((p) => [p.name, p.filename]), [['image', 'dish.jpg'], ['note', undefined], ['image', 'crème brûlée.png'], ['image', 'empty.jpg']]);
  assert.deepEqual(parts[0].data, binary);
  assert.equal(parts[0].contentType, 'image/jpeg');
  assert.equal(parts[1].data.toString(), 'hello\r\nworld');
  assert.deepEqual(parts[2].data, Buffer.alloc(70_000, 65));
  assert.equal(parts[3].data.length, 0);
  // The reference parser agrees on the same bytes.
  const reference = await new Response(body, { headers: { 'content-type': contentType } }).formData();
  assert.deepEqual([...reference.keys()], parts.map((p) => p.name));
});

test('parseMultipart: quoted boundary, preamble, transport padding, RFC 5987 filename*, a directory in the file name', () => {
  const body = Buffer.from('preamble text\r\n--a b:c  \r\nContent-Disposition: form-data; name="image"; filename*=UTF-8\'\'gr%C3%BC%C3%9F.jpg\r\n\r\nxyz\r\n--a b:c\r\ncontent-disposition: form-data; name=plain; filename="C:\\\\photos\\\\dish.jpg"\r\n\r\n1\r\n--a b:c--\r\nepilogue');
  const parts = parseMultipart(body, 'multipart/form-data; boundary="a b:c"', LIMITS);
  assert.deepEqual(parts.map((p) => [p.name, p.filename, p.data.toString()]), [['image', 'grüß.jpg', 'xyz'], ['plain', 'dish.jpg', '1']]);
});

test('parseMultipart refuses malformed bodies with a sentence, never hangs or returns garbage', () => {
  const ct = 'multipart/form-data; boundary=XyZ';
  const cases: [string, RegExp][] = [
    ['--XyZ\r\nContent-Type: image/jpeg\r\n\r\n' + 'A'.repeat(20_000) + '\r\n--XyZ--\r\n', /part 1 has no Content-Disposition/],
    ['--XyZ\r\nContent-Disposition: form-data; filename="a.jpg"\r\n\r\nabc\r\n--XyZ--\r\n', /part 1 has no name/],
    ['--XyZ\r\nContent-Disposition: attachment; name="image"\r\n\r\nabc\r\n--XyZ--\r\n', /not form-data/],
    ['--XyZ\r\nContent-Disposition: form-data; name="image"\r\n\r\nabc', /ends before its closing boundary/],
    ['--XyZ\r\nContent-Disposition: form-data; name="im', /ends inside the headers/],
    ['just some bytes', /no boundary line/],
    ['', /no boundary line/],
    ['--XyZ\r\nno colon here\r\n\r\nabc\r\n--XyZ--', /malformed header/],
  ];
  for (const [body, message] of cases) {
    assert.throws(() => parseMultipart(Buffer.from(body), ct, LIMITS), (err: Error) => err instanceof MultipartError && message.test(err.message), body.slice(0, 60));
  }
  const many = `${'--XyZ\r\nContent-Disposition: form-data; name="image"; filename="a"\r\n\r\nx\r\n'.repeat(3)}--XyZ--\r\n`;
  assert.throws(() => parseMultipart(Buffer.from(many), ct, { maxParts: 2 }), /too many parts/);
  assert.equal(parseMultipart(Buffer.from('--XyZ--\r\n'), ct, LIMITS).length, 0);
  assert.throws(() => multipartBoundary('multipart/form-data'), /no boundary/);
});
