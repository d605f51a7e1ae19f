import type { OnnxTypes } from './proto.js';
import { onnx } from './proto.js';

/**
 * A node attribute with its ONNX type made explicit: a JS number alone cannot say whether
 * epsilon=1 is a float or an int, and ONNX runtimes reject the wrong one.
 */
export type AttrValue =
  | { kind: 'int'; value: number }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'float'; value: number }
  | { kind: 'floats'; value: readonly number[] }
  | { kind: 'string'; value: string }
  | { kind: 'tensor'; value: OnnxTypes.ITensorProto };

export type Attrs = Record<string, AttrValue>;

export const attr = {
  int: (value: number): AttrValue => ({ kind: 'int', value: checkInt(value) }),
  ints: (value: readonly number[]): AttrValue => ({ kind: 'ints', value: value.map(checkInt) }),
  float: (value: number): AttrValue => ({ kind: 'float', value }),
  floats: (value: readonly number[]): AttrValue => ({ kind: 'floats', value }),
  string: (value: string): AttrValue => ({ kind: 'string', value }),
  tensor: (value: OnnxTypes.ITensorProto): AttrValue => ({ kind: 'tensor', value }),
};

function checkInt(value: number): number {
  if (!Number.isSafeInteger(value)) throw new Error(`integer attribute expected, got ${value}`);
  return value;
}

const T = onnx.AttributeProto.AttributeType;

export function attributeProto(name: string, a: AttrValue): OnnxTypes.IAttributeProto {
  switch (a.kind) {
    case 'int':
      return { name, type: T.INT, i: a.value };
    case 'ints':
      return { name, type: T.INTS, ints: [...a.value] };
    case 'float':
      return { name, type: T.FLOAT, f: a.value };
    case 'floats':
      return { name, type: T.FLOATS, floats: [...a.value] };
    case 'string':
      return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
    case 'tensor':
      return { name, type: T.TENSOR, t: a.value };
  }
}
