import { DataFileError } from '../util/errors.js';
import { attr } from './attributes.js';
import { batchNorm, conv2d, foldBatchNorm, globalAveragePool, maxPool, samePadding, zeroPad2d, zeroPaddedMaxPool, type BatchNormParams, type Pads2d } from './conv-blocks.js';
import type { GraphBuilder } from './graph-builder.js';
import type { KerasLayer, KerasModel } from './keras-model.js';
import type { Tensor32 } from './weights.js';

/**
 * Converts the layers of a Keras functional model (channels_last) into ONNX nodes working in NCHW.
 * Supported: InputLayer, Conv2D, BatchNormalization, Activation, Add, ZeroPadding2D, MaxPooling2D,
 * GlobalAveragePooling2D, Dense — what the Keras ImageNet ResNet-50 uses. Any other layer, option or
 * activation the conversion reaches is an error naming the layer and what is unsupported.
 */

/** A converted tensor: its graph value, and its per-example shape ([C, H, W] for images, [F] after pooling). */
export interface KerasValue {
  name: string;
  shape: number[];
}

/** Internal: a ZeroPadding2D output is kept as its input plus pads until a consumer decides how to use them. */
interface PendingValue extends KerasValue {
  pads?: Pads2d;
}

export interface KerasConversion {
  /** The converted value of every layer the targets needed, by Keras layer name (NCHW for 4-D). */
  values: Map<string, KerasValue>;
}

/**
 * Convert the part of `model` that `targets` (layer names) depend on. `inputs` maps each Keras input
 * layer needed to an existing NCHW float value and its [C, H, W].
 */
export function convertKerasLayers(
  b: GraphBuilder,
  model: KerasModel,
  inputs: Map<string, KerasValue>,
  targets: readonly string[],
): KerasConversion {
  const converter = new Converter(b, model, inputs, targets);
  return { values: converter.run() };
}

class Converter {
  private readonly byName = new Map<string, KerasLayer>();
  private readonly values = new Map<string, PendingValue>();
  /** Materialised (explicitly padded) versions of ZeroPadding2D outputs, made once. */
  private readonly padded = new Map<string, KerasValue>();
  private readonly consumers = new Map<string, string[]>();
  private order: KerasLayer[] = [];

  constructor(
    private readonly b: GraphBuilder,
    private readonly model: KerasModel,
    private readonly inputs: Map<string, KerasValue>,
    private readonly targets: readonly string[],
  ) {
    for (const layer of model.layers) this.byName.set(layer.name, layer);
  }

  run(): Map<string, KerasValue> {
    this.order = this.neededInOrder();
    for (const layer of this.order) {
      for (const src of this.inboundNames(layer)) this.consumers.set(src, [...(this.consumers.get(src) ?? []), layer.name]);
    }
    for (const t of this.targets) this.consumers.set(t, [...(this.consumers.get(t) ?? []), '<output>']);
    for (const layer of this.order) {
      if (this.values.has(layer.name)) continue; // produced together with its predecessor (folded batch norm)
      this.values.set(layer.name, this.convert(layer));
    }
    // Pending zero padding becomes a Pad node only where a target is a ZeroPadding2D itself.
    const out = new Map<string, KerasValue>();
    for (const [name, v] of this.values) {
      if (!v.pads) out.set(name, v);
      else if (this.targets.includes(name)) out.set(name, this.materialise(name));
    }
    return out;
  }

  /** The layers the targets depend on, inputs first (depth-first post-order). */
  private neededInOrder(): KerasLayer[] {
    const order: KerasLayer[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (name: string, user: string): void => {
      const layer = this.byName.get(name);
      if (!layer) throw this.error(`layer ${user} refers to ${name}, which the model does not define`);
      if (state.get(name) === 'done') return;
      if (state.get(name) === 'visiting') throw this.error(`layer ${name} is part of a cycle`);
      state.set(name, 'visiting');
      for (const src of this.inboundNames(layer)) visit(src, name);
      state.set(name, 'done');
      order.push(layer);
    };
    for (const t of this.targets) visit(t, '<targets>');
    return order;
  }

  private inboundNames(layer: KerasLayer): string[] {
    if (layer.inbound_nodes.length > 1) {
      throw this.error(`layer "${layer.name}" (${layer.class_name}) is called ${layer.inbound_nodes.length} times; shared layers are not supported`);
    }
    const node = layer.inbound_nodes[0] ?? [];
    return node.map(([name, , tensorIndex]) => {
      if (tensorIndex !== 0) throw this.error(`layer "${layer.name}" reads output ${tensorIndex} of ${name}; only single-output layers are supported`);
      return name;
    });
  }

  private convert(layer: KerasLayer): PendingValue {
    const cfg = layer.config;
    if (cfg.data_format !== undefined && cfg.data_format !== 'channels_last') {
      throw this.unsupported(layer, `data_format ${String(cfg.data_format)}`);
    }
    switch (layer.class_name) {
      case 'InputLayer': {
        const given = this.inputs.get(layer.name);
        if (!given) throw this.error(`no graph value was given for input layer "${layer.name}"`);
        return given;
      }
      case 'ZeroPadding2D':
        return this.zeroPadding(layer);
      case 'Conv2D':
        return this.conv(layer);
      case 'BatchNormalization':
        return this.standaloneBatchNorm(layer);
      case 'Activation':
        return this.activation(layer, this.single(layer), String(cfg.activation));
      case 'Add':
        return this.add(layer);
      case 'MaxPooling2D':
        return this.maxPool(layer);
      case 'GlobalAveragePooling2D': {
        const x = this.single(layer);
        this.expectImage(layer, x);
        return { name: globalAveragePool(this.b, x.name, layer.name), shape: [x.shape[0]] };
      }
      case 'Dense':
        return this.dense(layer);
      default:
        throw this.error(`layer "${layer.name}" (${layer.class_name}) is not supported by the ONNX converter`);
    }
  }

  private zeroPadding(layer: KerasLayer): PendingValue {
    const x = this.single(layer);
    this.expectImage(layer, x);
    const [[top, bottom], [left, right]] = pairs2d(layer.config.padding, (why) => this.unsupported(layer, why));
    const [c, h, w] = x.shape;
    return { name: x.name, shape: [c, h + top + bottom, w + left + right], pads: [top, left, bottom, right] };
  }

  private conv(layer: KerasLayer): PendingValue {
    const cfg = layer.config;
    if (Number(cfg.groups ?? 1) !== 1) throw this.unsupported(layer, `groups=${String(cfg.groups)}`);
    const input = this.inputValue(layer);
    const [kh, kw] = numbers2(cfg.kernel_size, 'kernel_size', (why) => this.unsupported(layer, why));
    const strides = numbers2(cfg.strides ?? [1, 1], 'strides', (why) => this.unsupported(layer, why));
    const dilations = numbers2(cfg.dilation_rate ?? [1, 1], 'dilation_rate', (why) => this.unsupported(layer, why));
    const { x, pads } = this.spatialInput(layer, input, [kh, kw], strides, dilations);
    const kernel = this.weight(layer, 'kernel');
    if (kernel.dims.join() !== [kh, kw, x.shape[0], Number(cfg.filters)].join()) {
      throw this.error(`layer "${layer.name}": kernel dims [${kernel.dims.join(',')}] do not match the layer (${kh}x${kw}, ${x.shape[0]} -> ${String(cfg.filters)})`);
    }
    let weight = kerasKernelToOnnx(kernel);
    let bias = cfg.use_bias === false ? undefined : this.weight(layer, 'bias').data;
    let producedName = layer.name;
    const bn = this.foldableBatchNorm(layer);
    if (bn) {
      ({ weight, bias } = foldBatchNorm(weight, bias, this.batchNormParams(bn)));
      producedName = bn.name;
    }
    const y = conv2d(this.b, x.name, { weight, bias, strides, pads, dilations }, producedName);
    const shape = [weight.dims[0], ...[0, 1].map((i) => convOut(x.shape[i + 1] + pads[i] + pads[i + 2], [kh, kw][i], strides[i], dilations[i]))];
    const value: PendingValue = { name: y, shape };
    if (bn) {
      // The norm's value is produced here, under its name; the conv's own (pre-norm) value is never
      // read since the norm was its only consumer.
      this.values.set(bn.name, value);
      return value;
    }
    return this.activation(layer, value, String(cfg.activation ?? 'linear'));
  }

  /** A BatchNormalization that is the sole consumer of a linear conv can be folded into it. */
  private foldableBatchNorm(conv: KerasLayer): KerasLayer | undefined {
    if (String(conv.config.activation ?? 'linear') !== 'linear') return undefined;
    const users = this.consumers.get(conv.name) ?? [];
    if (users.length !== 1) return undefined;
    const bn = this.byName.get(users[0]);
    if (bn?.class_name !== 'BatchNormalization' || !this.isChannelAxis(bn)) return undefined;
    return bn;
  }

  private standaloneBatchNorm(layer: KerasLayer): PendingValue {
    const x = this.inputValue(layer);
    if (!this.isChannelAxis(layer)) throw this.unsupported(layer, `axis ${JSON.stringify(layer.config.axis)}`);
    const input = x.pads ? this.materialise(this.inboundNames(layer)[0]) : x;
    return { name: batchNorm(this.b, input.name, this.batchNormParams(layer), layer.name), shape: input.shape };
  }

  private isChannelAxis(layer: KerasLayer): boolean {
    const axis = layer.config.axis;
    const a = Array.isArray(axis) ? (axis.length === 1 ? axis[0] : undefined) : axis;
    return a === 3 || a === -1;
  }

  private batchNormParams(layer: KerasLayer): BatchNormParams {
    const cfg = layer.config;
    return {
      gamma: cfg.scale === false ? undefined : this.weight(layer, 'gamma').data,
      beta: cfg.center === false ? undefined : this.weight(layer, 'beta').data,
      mean: this.weight(layer, 'moving_mean').data,
      variance: this.weight(layer, 'moving_variance').data,
      epsilon: Number(cfg.epsilon ?? 1e-3),
    };
  }

  private activation(layer: KerasLayer, x: KerasValue, kind: string): PendingValue {
    if (!Object.hasOwn(KERAS_ACTIVATION_OPS, kind)) throw this.unsupported(layer, `activation '${kind}'`);
    const op = KERAS_ACTIVATION_OPS[kind];
    if (op === undefined) return x;
    const input = x;
    if (op === 'Softmax') {
      // Keras softmax runs over the last (channel) axis; only the 2-D case keeps that axis last in NCHW.
      if (input.shape.length !== 1) throw this.unsupported(layer, 'softmax over a 4-D tensor');
      return { name: this.b.op('Softmax', [input.name], { axis: attr.int(-1) }, `${layer.name}_softmax`), shape: input.shape };
    }
    return { name: this.b.op(op, [input.name], {}, `${layer.name}_${kind}`), shape: input.shape };
  }

  private add(layer: KerasLayer): PendingValue {
    const names = this.inboundNames(layer);
    if (names.length < 2) throw this.unsupported(layer, `${names.length} input(s)`);
    const xs = names.map((n) => this.resolved(n));
    if (new Set(xs.map((x) => x.shape.join())).size !== 1) {
      throw this.error(`layer "${layer.name}" (Add): input shapes differ (${xs.map((x) => x.shape.join('x')).join(' vs ')})`);
    }
    const name = xs.length === 2 ? this.b.op('Add', [xs[0].name, xs[1].name], {}, layer.name) : this.b.op('Sum', xs.map((x) => x.name), {}, layer.name);
    return { name, shape: xs[0].shape };
  }

  private maxPool(layer: KerasLayer): PendingValue {
    const cfg = layer.config;
    const unsupported = (why: string) => this.unsupported(layer, why);
    const kernel = numbers2(cfg.pool_size, 'pool_size', unsupported);
    const strides = numbers2(cfg.strides ?? cfg.pool_size, 'strides', unsupported);
    const x = this.inputValue(layer);
    const [c, h, w] = x.shape;
    const zeroPads: Pads2d = x.pads ?? [0, 0, 0, 0];
    const unpadded: [number, number] = [h - zeroPads[0] - zeroPads[2], w - zeroPads[1] - zeroPads[3]];
    // 'same' pads are computed on the (zero-padded) input the Keras layer sees.
    const mode = String(cfg.padding ?? 'valid');
    if (mode !== 'valid' && mode !== 'same') throw this.unsupported(layer, `padding '${mode}'`);
    const [top, bottom] = mode === 'same' ? samePadding(h, kernel[0], strides[0]) : [0, 0];
    const [left, right] = mode === 'same' ? samePadding(w, kernel[1], strides[1]) : [0, 0];
    const pads: Pads2d = [top, left, bottom, right];
    // Keras zero padding must stay zeros: ONNX MaxPool pads never win the max, zeros can.
    const y = x.pads
      ? zeroPaddedMaxPool(this.b, x.name, { size: unpadded, kernel, strides, zeroPads, pads }, layer.name)
      : maxPool(this.b, x.name, { kernel, strides, pads }, layer.name);
    return { name: y, shape: [c, convOut(h + pads[0] + pads[2], kernel[0], strides[0], 1), convOut(w + pads[1] + pads[3], kernel[1], strides[1], 1)] };
  }

  private dense(layer: KerasLayer): PendingValue {
    const x = this.single(layer);
    if (x.shape.length !== 1) throw this.unsupported(layer, `a ${x.shape.length + 1}-D input (only [N, features] is supported)`);
    const kernel = this.weight(layer, 'kernel'); // Keras layout [in, out]: what MatMul wants
    if (kernel.dims[0] !== x.shape[0]) throw this.error(`layer "${layer.name}": kernel dims [${kernel.dims.join(',')}] do not fit ${x.shape[0]} inputs`);
    let y = this.b.op('MatMul', [x.name, this.b.initializer(`${layer.name}.kernel`, kernel.data, kernel.dims)], {}, `${layer.name}_matmul`);
    if (layer.config.use_bias !== false) {
      y = this.b.op('Add', [y, this.b.initializer(`${layer.name}.bias`, this.weight(layer, 'bias').data, [kernel.dims[1]])], {}, layer.name);
    }
    return this.activation(layer, { name: y, shape: [kernel.dims[1]] }, String(layer.config.activation ?? 'linear'));
  }

  /**
   * The input of a conv/pool and its ONNX pads: pending zero padding is folded into the pads of a
   * 'valid' conv (same zeros), and 'same' gets TensorFlow's asymmetric padding.
   */
  private spatialInput(
    layer: KerasLayer,
    input: PendingValue,
    kernel: readonly [number, number],
    strides: readonly [number, number],
    dilations: readonly [number, number],
  ): { x: KerasValue; pads: Pads2d } {
    const mode = String(layer.config.padding ?? 'valid');
    if (mode === 'valid') {
      if (!input.pads) return { x: input, pads: [0, 0, 0, 0] };
      const [c, h, w] = input.shape;
      const [top, left, bottom, right] = input.pads;
      return { x: { name: input.name, shape: [c, h - top - bottom, w - left - right] }, pads: input.pads };
    }
    if (mode !== 'same') throw this.unsupported(layer, `padding '${mode}'`);
    const x = input.pads ? this.materialise(this.inboundNames(layer)[0]) : input;
    const [top, bottom] = samePadding(x.shape[1], kernel[0], strides[0], dilations[0]);
    const [left, right] = samePadding(x.shape[2], kernel[1], strides[1], dilations[1]);
    return { x, pads: [top, left, bottom, right] };
  }

  /** The single input of `layer`, with any pending padding still pending. */
  private inputValue(layer: KerasLayer): PendingValue {
    const names = this.inboundNames(layer);
    if (names.length !== 1) throw this.unsupported(layer, `${names.length} inputs`);
    const v = this.values.get(names[0]);
    if (!v) throw this.error(`layer "${layer.name}" needs ${names[0]}, which has not been converted`);
    return v;
  }

  /** The single input of `layer` as a real graph value (padding applied). */
  private single(layer: KerasLayer): KerasValue {
    return this.resolved(this.inboundNames(layer)[0] ?? '', layer);
  }

  private resolved(name: string, user?: KerasLayer): KerasValue {
    const v = this.values.get(name);
    if (!v) throw this.error(`layer "${user?.name ?? name}" needs ${name}, which has not been converted`);
    return v.pads ? this.materialise(name) : v;
  }

  private materialise(name: string): KerasValue {
    const done = this.padded.get(name);
    if (done) return done;
    const v = this.values.get(name)!;
    const value = { name: zeroPad2d(this.b, v.name, v.pads!, name), shape: v.shape };
    this.padded.set(name, value);
    return value;
  }

  private expectImage(layer: KerasLayer, x: KerasValue): void {
    if (x.shape.length !== 3) throw this.unsupported(layer, `a ${x.shape.length + 1}-D input (an image tensor is needed)`);
  }

  private weight(layer: KerasLayer, which: string): Tensor32 {
    const w = this.model.weights.get(`${layer.name}/${which}`);
    if (!w) throw this.error(`weight ${layer.name}/${which} of layer "${layer.name}" (${layer.class_name}) is not in the weights manifest`);
    return w;
  }

  private unsupported(layer: KerasLayer, what: string): DataFileError {
    return this.error(`layer "${layer.name}" (${layer.class_name}): ${what} is not supported by the ONNX converter`);
  }

  private error(problem: string): DataFileError {
    return new DataFileError(this.model.file, problem);
  }
}

/** Keras activation name -> ONNX op ('linear' is the identity). */
const KERAS_ACTIVATION_OPS: Record<string, string | undefined> = {
  linear: undefined,
  relu: 'Relu',
  tanh: 'Tanh',
  sigmoid: 'Sigmoid',
  softmax: 'Softmax',
};

/** Keras Conv2D kernel [kh, kw, in, out] -> ONNX [out, in, kh, kw]. */
export function kerasKernelToOnnx(kernel: Tensor32): Tensor32 {
  const [kh, kw, cin, cout] = kernel.dims;
  const out = new Float32Array(kernel.data.length);
  const src = kernel.data;
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++) {
        const srcBase = ((y * kw + x) * cin + i) * cout;
        for (let o = 0; o < cout; o++) out[((o * cin + i) * kh + y) * kw + x] = src[srcBase + o];
      }
  return { data: out, dims: [cout, cin, kh, kw] };
}

function convOut(size: number, kernel: number, stride: number, dilation: number): number {
  return Math.floor((size - ((kernel - 1) * dilation + 1)) / stride) + 1;
}

function numbers2(value: unknown, what: string, fail: (why: string) => Error): [number, number] {
  const v = typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(v) || v.length !== 2 || !v.every((n) => Number.isInteger(n))) throw fail(`${what} ${JSON.stringify(value)}`);
  return [v[0], v[1]];
}

/** ZeroPadding2D's padding: an int, [h, w], or [[top, bottom], [left, right]]. */
function pairs2d(value: unknown, fail: (why: string) => Error): [[number, number], [number, number]] {
  if (typeof value === 'number') return [[value, value], [value, value]];
  if (Array.isArray(value) && value.length === 2) {
    if (value.every((n) => typeof n === 'number')) return [[value[0], value[0]], [value[1], value[1]]];
    if (value.every((p) => Array.isArray(p) && p.length === 2 && p.every((n) => Number.isInteger(n)))) {
      return [[value[0][0], value[0][1]], [value[1][0], value[1][1]]];
    }
  }
  throw fail(`padding ${JSON.stringify(value)}`);
}
