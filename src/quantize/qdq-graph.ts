import type { OnnxTypes } from '../onnx/proto.js';
import { DataType } from '../onnx/proto.js';
import { attributeProto, attr } from '../onnx/attributes.js';
import { tensorProto, type TensorData } from '../onnx/tensor.js';

/** Observed range of one activation tensor over the calibration photos. */
export interface ActivationRange {
  min: number;
  max: number;
}

/** uint8 affine parameters of one activation tensor: real = scale * (q - zeroPoint). */
export interface ActivationQuant {
  scale: number;
  zeroPoint: number;
}

export interface QdqSummary {
  /** Conv nodes given int8 per-channel weights and int32 biases. */
  convs: number;
  /** Residual Add nodes whose inputs were quantized. */
  adds: number;
  /** Activation tensors given a QuantizeLinear -> DequantizeLinear pair. */
  activations: number;
}

/**
 * The activation tensors static quantization covers: the data input of every Conv and both inputs
 * of every Add joining two convolution branches (ResNet's residual adds). Everything else (the
 * preprocessing, pooling, the ingredient head's attention, LayerNorm, tanh) stays float32: it is a
 * few percent of the work and the most sensitive to rounding.
 */
export function quantizationTargets(graph: OnnxTypes.IGraphProto, keepFloat: (node: OnnxTypes.INodeProto) => boolean = () => false): string[] {
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name as string));
  const producer = new Map<string, OnnxTypes.INodeProto>();
  for (const node of graph.node ?? []) for (const out of node.output ?? []) producer.set(out, node);
  const targets = new Set<string>();
  for (const node of graph.node ?? []) {
    if (keepFloat(node)) continue;
    if (isQuantizableConv(node, initializers)) targets.add(node.input![0]);
    else if (isResidualAdd(node, producer)) for (const input of node.input!) targets.add(input);
  }
  return [...targets];
}

function isQuantizableConv(node: OnnxTypes.INodeProto, initializers: Set<string>): boolean {
  const inputs = node.input ?? [];
  return node.opType === 'Conv' && initializers.has(inputs[1]) && (inputs.length < 3 || inputs[2] === '' || initializers.has(inputs[2]));
}

function isResidualAdd(node: OnnxTypes.INodeProto, producer: Map<string, OnnxTypes.INodeProto>): boolean {
  if (node.opType !== 'Add' || node.input?.length !== 2) return false;
  const branch = (name: string) => ['Conv', 'Relu'].includes(producer.get(name)?.opType ?? '');
  return node.input.every(branch);
}

/** uint8 asymmetric parameters covering [min(0, lo), max(0, hi)], zero exactly representable. */
export function activationQuant(range: ActivationRange): ActivationQuant {
  const lo = Math.min(0, range.min);
  const hi = Math.max(0, range.max);
  if (!(hi > lo)) return { scale: 1, zeroPoint: 0 };
  const scale = (hi - lo) / 255;
  const zeroPoint = Math.min(255, Math.max(0, Math.round(-lo / scale)));
  return { scale, zeroPoint };
}

/**
 * Symmetric per-output-channel int8 weights (axis 0, zero point 0, range -127..127 so that the
 * u8 x s8 products of VNNI cannot saturate): scale_c = max |w_c| / 127.
 */
export function quantizeWeightsPerChannel(weights: Float32Array, channels: number): { values: Int8Array; scales: Float32Array } {
  const per = weights.length / channels;
  if (!Number.isInteger(per)) throw new Error(`${weights.length} weights do not split into ${channels} channels`);
  const values = new Int8Array(weights.length);
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let maxAbs = 0;
    for (let k = c * per; k < (c + 1) * per; k++) maxAbs = Math.max(maxAbs, Math.abs(weights[k]));
    const scale = maxAbs > 0 ? maxAbs / 127 : 1;
    scales[c] = scale;
    for (let k = c * per; k < (c + 1) * per; k++) values[k] = Math.max(-127, Math.min(127, Math.round(weights[k] / scale)));
  }
  return { values, scales };
}

/**
 * Rewrite a float32 model into QDQ form (the format onnxruntime fuses into QLinearConv /
 * QLinearAdd kernels): each target activation T gets T -> QuantizeLinear -> DequantizeLinear, and
 * its quantized consumers read the dequantized copy; each Conv's weight becomes an int8 per-channel
 * initializer behind a DequantizeLinear, its bias an int32 one (scale = input scale x weight scale,
 * as QLinearConv requires). The model is changed in place and returned.
 */
export function insertQdq(
  model: OnnxTypes.IModelProto,
  ranges: ReadonlyMap<string, ActivationRange>,
  keepFloat: (node: OnnxTypes.INodeProto) => boolean = () => false,
): QdqSummary {
  const graph = model.graph!;
  const initializerList = graph.initializer ?? [];
  const initializers = new Map(initializerList.map((t) => [t.name as string, t]));
  const producer = new Map<string, OnnxTypes.INodeProto>();
  for (const node of graph.node ?? []) for (const out of node.output ?? []) producer.set(out, node);
  const targets = quantizationTargets(graph, keepFloat);
  const quant = new Map<string, ActivationQuant>();
  for (const t of targets) {
    const range = ranges.get(t);
    if (!range) throw new Error(`no calibration range for activation ${t}`);
    quant.set(t, activationQuant(range));
  }

  const used = new Set<string>([...initializers.keys(), ...[...producer.keys()], ...(graph.input ?? []).map((i) => i.name as string)]);
  const fresh = (hint: string): string => {
    let name = hint;
    for (let n = 1; used.has(name); n++) name = `${hint}_${n}`;
    used.add(name);
    return name;
  };
  const newInitializers: OnnxTypes.ITensorProto[] = [];
  const addInit = (hint: string, data: TensorData, dims: number[]): string => {
    const name = fresh(hint);
    newInitializers.push(tensorProto(name, data, dims));
    return name;
  };
  const qdqNodes = (t: string): OnnxTypes.INodeProto[] => {
    const { scale, zeroPoint } = quant.get(t)!;
    const s = addInit(`${t}_scale`, Float32Array.of(scale), []);
    const z = addInit(`${t}_zero_point`, Uint8Array.of(zeroPoint), []);
    const q = fresh(`${t}_quantized`);
    const dq = fresh(`${t}_dequantized`);
    dequantized.set(t, dq);
    return [
      { opType: 'QuantizeLinear', input: [t, s, z], output: [q], name: fresh(`${t}_QuantizeLinear`) },
      { opType: 'DequantizeLinear', input: [q, s, z], output: [dq], name: fresh(`${t}_DequantizeLinear`) },
    ];
  };
  const dequantized = new Map<string, string>();
  const nodes: OnnxTypes.INodeProto[] = [];
  const summary: QdqSummary = { convs: 0, adds: 0, activations: 0 };

  for (const input of graph.input ?? []) if (quant.has(input.name as string)) nodes.push(...qdqNodes(input.name as string));
  for (const node of graph.node ?? []) {
    const inputs = [...(node.input ?? [])];
    if (keepFloat(node)) {
      // stays float32, reading the original (float) tensors
    } else if (isQuantizableConv(node, new Set(initializers.keys())) && dequantized.has(inputs[0])) {
      const w = initializers.get(inputs[1])!;
      const dims = (w.dims ?? []).map(Number);
      const { values, scales } = quantizeWeightsPerChannel(floatData(w), dims[0]);
      const axis = [attributeProto('axis', attr.int(0))];
      const wq = addInit(`${inputs[1]}_int8`, values, dims);
      const ws = addInit(`${inputs[1]}_scale`, scales, [dims[0]]);
      const wz = addInit(`${inputs[1]}_zero_point`, new Int8Array(dims[0]), [dims[0]]);
      const wdq = fresh(`${inputs[1]}_dequantized`);
      nodes.push({ opType: 'DequantizeLinear', input: [wq, ws, wz], output: [wdq], name: fresh(`${inputs[1]}_DequantizeLinear`), attribute: axis });
      inputs[1] = wdq;
      if (inputs.length > 2 && inputs[2] !== '') {
        const inputScale = quant.get(inputs[0])!.scale;
        const b = floatData(initializers.get(inputs[2])!);
        const bScales = scales.map((s) => s * inputScale);
        const bq = Int32Array.from(b, (v, c) => Math.round(v / bScales[c]));
        const bqName = addInit(`${inputs[2]}_int32`, bq, [b.length]);
        const bs = addInit(`${inputs[2]}_scale`, bScales, [b.length]);
        const bz = addInit(`${inputs[2]}_zero_point`, new Int32Array(b.length), [b.length]);
        const bdq = fresh(`${inputs[2]}_dequantized`);
        nodes.push({ opType: 'DequantizeLinear', input: [bqName, bs, bz], output: [bdq], name: fresh(`${inputs[2]}_DequantizeLinear`), attribute: axis });
        inputs[2] = bdq;
      }
      inputs[0] = dequantized.get(inputs[0])!;
      summary.convs++;
    } else if (node.opType === 'Add' && inputs.length === 2 && inputs.every((i) => dequantized.has(i))) {
      for (let k = 0; k < 2; k++) inputs[k] = dequantized.get(inputs[k])!;
      summary.adds++;
    }
    nodes.push({ ...node, input: inputs });
    for (const out of node.output ?? []) if (quant.has(out)) nodes.push(...qdqNodes(out));
  }
  summary.activations = dequantized.size;

  // Float weights and biases now read only through their int8/int32 copies: drop them.
  const stillUsed = new Set(nodes.flatMap((n) => n.input ?? []));
  graph.initializer = [...initializerList.filter((t) => stillUsed.has(t.name as string)), ...newInitializers];
  graph.node = nodes;
  return summary;
}

/** The float32 values of an initializer (raw_data or float_data). */
export function floatData(t: OnnxTypes.ITensorProto): Float32Array {
  if (t.dataType !== DataType.float32) throw new Error(`initializer ${t.name} is not float32`);
  if (t.rawData && t.rawData.length > 0) {
    const raw = t.rawData;
    const copy = new Uint8Array(raw.length);
    copy.set(raw);
    return new Float32Array(copy.buffer);
  }
  return Float32Array.from(t.floatData ?? []);
}
