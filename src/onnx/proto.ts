import onnxProto from 'onnx-proto';

/**
 * The ONNX protobuf schema (generated protobufjs classes). onnx-proto is CommonJS; from ESM only its
 * default import (module.exports) is reliable, so every other module takes the schema from here.
 */
export const onnx = onnxProto.onnx;
export type { onnx as OnnxTypes } from 'onnx-proto';

/** IR version 8 (ONNX 1.10-1.12) is the newest this schema knows; it carries opset 17. */
export const IR_VERSION = 8;
/** Opset 17: the first with LayerNormalization as a single standard op. */
export const OPSET_VERSION = 17;

/** Element types we emit (values of TensorProto.DataType). */
export const DataType = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
} as const;
export type DType = keyof typeof DataType;
