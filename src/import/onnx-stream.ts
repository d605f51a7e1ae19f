import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { onnx, type OnnxTypes } from '../onnx/proto.js';

/**
 * Write an ONNX ModelProto to a file without ever holding its serialised form in memory.
 * protobufjs encodes a message into one buffer, i.e. a second copy of every weight (~0.7 GB for the
 * paper's image encoder). Protobuf allows a message to be written as concatenated pieces, so the
 * small parts are encoded normally and each initializer's raw_data is written straight from its
 * Float32Array. Pieces follow protobufjs's field order (ascending field numbers), so the file is
 * byte-for-byte what `ModelProto.encode` would produce.
 */

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80) {
    bytes.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

/** Field tag of a length-delimited field. */
const tag = (field: number): Buffer => varint((field << 3) | 2);

/** The own properties of `message` named in `keys` (a partial message for a piece). */
function pick<T extends object>(message: T, keys: readonly string[]): T {
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    if (Object.prototype.hasOwnProperty.call(message, key)) out[key] = (message as Record<string, unknown>)[key];
  }
  return out as T;
}

const TENSOR_SIMPLE_KEYS = new Set(['dims', 'dataType', 'name', 'rawData']);
const MODEL_HEAD = ['irVersion', 'producerName', 'producerVersion', 'domain', 'modelVersion', 'docString'];
const MODEL_TAIL = ['opsetImport', 'metadataProps', 'trainingInfo', 'functions'];
const GRAPH_HEAD = ['node', 'name'];
const GRAPH_TAIL = ['docString', 'input', 'output', 'valueInfo', 'quantizationAnnotation', 'sparseInitializer'];

/** One piece of output: bytes to write. */
type Piece = Uint8Array;

/** An initializer as pieces: fields 1-8 encoded, then field 9 (raw_data) header + the data itself. */
function tensorPieces(t: OnnxTypes.ITensorProto): Piece[] {
  const simple = Object.keys(t).every((k) => TENSOR_SIMPLE_KEYS.has(k) || (t as Record<string, unknown>)[k] == null);
  if (!simple || !t.rawData) return [onnx.TensorProto.encode(t).finish()];
  const head = onnx.TensorProto.encode(pick(t, ['dims', 'dataType', 'name'])).finish();
  return [head, tag(9), varint(t.rawData.byteLength), t.rawData];
}

const sizeOf = (pieces: readonly Piece[]): number => pieces.reduce((n, p) => n + p.byteLength, 0);

/** The model as a list of pieces; weights are referenced, not copied. */
export function modelPieces(model: OnnxTypes.IModelProto): Piece[] {
  const graph = model.graph;
  if (!graph) return [onnx.ModelProto.encode(model).finish()];
  const graphPieces: Piece[] = [onnx.GraphProto.encode(pick(graph, GRAPH_HEAD)).finish()];
  for (const init of graph.initializer ?? []) {
    const pieces = tensorPieces(init);
    graphPieces.push(tag(5), varint(sizeOf(pieces)), ...pieces);
  }
  graphPieces.push(onnx.GraphProto.encode(pick(graph, GRAPH_TAIL)).finish());
  return [
    onnx.ModelProto.encode(pick(model, MODEL_HEAD)).finish(),
    tag(7), varint(sizeOf(graphPieces)), ...graphPieces,
    onnx.ModelProto.encode(pick(model, MODEL_TAIL)).finish(),
  ];
}

/** Write pieces to `file` and fsync it; returns the byte count. (The caller stages and renames.) */
export function writePieces(file: string, pieces: readonly Piece[]): number {
  const fd = openSync(file, 'w');
  let bytes = 0;
  try {
    for (const piece of pieces) {
      let done = 0;
      while (done < piece.byteLength) done += writeSync(fd, piece, done, piece.byteLength - done);
      bytes += piece.byteLength;
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return bytes;
}
