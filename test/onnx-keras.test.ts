import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../src/onnx/graph-builder.js';
import { convertKerasLayers } from '../src/onnx/keras-convert.js';
import type { KerasLayer, KerasModel } from '../src/onnx/keras-model.js';
import { onnx, type OnnxTypes } from '../src/onnx/proto.js';
import type { Tensor32 } from '../src/onnx/weights.js';
import { DataFileError } from '../src/util/errors.js';
import { SeededRandom } from '../src/util/random.js';
import {
  addRef,
  batchNormRef,
  conv2dRef,
  f32,
  globalAvgPoolRef,
  linearRef,
  mapRef,
  maxPoolRef,
  randomArr,
  relativeError,
  zeroPadRef,
  type Arr,
} from './helpers/float64-reference.js';

const FILE = '/models/tiny/model.json';

function layer(name: string, className: string, config: Record<string, unknown>, inputs: string[]): KerasLayer {
  return { name, class_name: className, config: { name, ...config }, inbound_nodes: inputs.length ? [inputs.map((i) => [i, 0, 0, {}])] : [] };
}

const conv = (filters: number, k: number, strides: number, padding: string, activation = 'linear') => ({
  filters,
  kernel_size: [k, k],
  strides: [strides, strides],
  padding,
  data_format: 'channels_last',
  dilation_rate: [1, 1],
  activation,
  use_bias: true,
});
const bn = { axis: [3], epsilon: 1e-3, center: true, scale: true };

/**
 * A small Keras graph with every construct the ResNet converter folds or special-cases: a
 * ZeroPadding2D read by max pools (zeros must stay zeros, also under 'same') and a 'valid' conv (pads folded),
 * conv + batch norm folding, asymmetric stride-2 'same' padding (8 -> 4 pads [0, 1]), a conv
 * with a fused activation, Add, global average pooling and a softmax Dense.
 */
function tinyModel(rng: SeededRandom): { model: KerasModel; ref: (x: Arr) => { add: Arr; dense: Arr; pool2: Arr } } {
  const weights = new Map<string, Tensor32>();
  const keep = (name: string, shape: number[], scale = 0.5, positive = false): Arr => {
    const a = randomArr(rng, shape, scale);
    if (positive) a.data = a.data.map((v) => Math.fround(Math.abs(v) + 0.5));
    weights.set(name, { data: f32(a), dims: shape });
    return a;
  };
  const convW = (name: string, k: number, cin: number, cout: number) => ({ kernel: keep(`${name}/kernel`, [k, k, cin, cout]), bias: keep(`${name}/bias`, [cout], 0.2).data });
  const bnW = (name: string, c: number) => ({
    gamma: keep(`${name}/gamma`, [c]).data,
    beta: keep(`${name}/beta`, [c]).data,
    mean: keep(`${name}/moving_mean`, [c]).data,
    variance: keep(`${name}/moving_variance`, [c], 0.5, true).data,
  });
  const cv = convW('conv_v', 3, 2, 3);
  const bv = bnW('bn_v', 3);
  const cs = convW('conv_s', 3, 3, 3);
  const bs = bnW('bn_s', 3);
  const cp = convW('conv_p', 1, 2, 3);
  const dk = keep('dense/kernel', [3, 4]);
  const db = keep('dense/bias', [4], 0.2);
  const layers = [
    layer('input_1', 'InputLayer', { batch_input_shape: [null, 8, 8, 2] }, []),
    layer('pad1', 'ZeroPadding2D', { padding: [[1, 1], [1, 1]], data_format: 'channels_last' }, ['input_1']),
    layer('pool1', 'MaxPooling2D', { pool_size: [3, 3], strides: [2, 2], padding: 'valid', data_format: 'channels_last' }, ['pad1']),
    layer('pool2', 'MaxPooling2D', { pool_size: [3, 3], strides: [2, 2], padding: 'same', data_format: 'channels_last' }, ['pad1']),
    layer('conv_v', 'Conv2D', conv(3, 3, 1, 'valid'), ['pad1']),
    layer('bn_v', 'BatchNormalization', bn, ['conv_v']),
    layer('act_v', 'Activation', { activation: 'relu' }, ['bn_v']),
    layer('conv_s', 'Conv2D', conv(3, 3, 2, 'same'), ['act_v']),
    layer('bn_s', 'BatchNormalization', bn, ['conv_s']),
    layer('conv_p', 'Conv2D', conv(3, 1, 1, 'valid', 'relu'), ['pool1']),
    layer('add', 'Add', {}, ['bn_s', 'conv_p']),
    layer('gap', 'GlobalAveragePooling2D', { data_format: 'channels_last' }, ['add']),
    layer('dense', 'Dense', { units: 4, activation: 'softmax', use_bias: true }, ['gap']),
  ];
  const model: KerasModel = { file: FILE, layers, inputLayers: ['input_1'], outputLayers: ['dense'], weights, sha256: '' };

  // Keras kernel [kh, kw, in, out] read directly into ONNX order [out, in, kh, kw] for the reference.
  const oihw = (k: Arr): Arr => {
    const [kh, kw, cin, cout] = k.shape;
    const data: number[] = [];
    for (let o = 0; o < cout; o++) for (let i = 0; i < cin; i++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) data.push(k.data[((y * kw + x) * cin + i) * cout + o]);
    return { data, shape: [cout, cin, kh, kw] };
  };
  const bnRef = (x: Arr, p: ReturnType<typeof bnW>) => batchNormRef(x, p.gamma, p.beta, p.mean, p.variance, 1e-3);
  const ref = (x: Arr) => {
    const padded = zeroPadRef(x, [1, 1, 1, 1]);
    const pool = maxPoolRef(padded, [3, 3], [2, 2], [0, 0, 0, 0]);
    const v = mapRef(bnRef(conv2dRef(padded, oihw(cv.kernel), cv.bias, [1, 1], [0, 0, 0, 0]), bv), (t) => Math.max(t, 0));
    const s = bnRef(conv2dRef(v, oihw(cs.kernel), cs.bias, [2, 2], [0, 0, 1, 1]), bs);
    const p = mapRef(conv2dRef(pool, oihw(cp.kernel), cp.bias, [1, 1], [0, 0, 0, 0]), (t) => Math.max(t, 0));
    const add = addRef(s, p);
    const logits = linearRef(globalAvgPoolRef(add), { data: transpose(dk.data, 3, 4), shape: [4, 3] }, db);
    const dense = { data: [] as number[], shape: logits.shape };
    for (let r = 0; r < logits.shape[0]; r++) {
      const row = logits.data.slice(r * 4, r * 4 + 4);
      const z = row.reduce((a, v) => a + Math.exp(v), 0);
      dense.data.push(...row.map((v) => Math.exp(v) / z));
    }
    // 'same' on the 10x10 zero-padded map, stride 2: pads [0, 1] per axis, and those never win.
    const pool2 = maxPoolRef(padded, [3, 3], [2, 2], [0, 0, 1, 1]);
    return { add, dense, pool2 };
  };
  return { model, ref };
}

function transpose(data: number[], rows: number, cols: number): number[] {
  return Array.from({ length: rows * cols }, (_, i) => data[(i % rows) * cols + Math.floor(i / rows)]);
}

test('a small Keras graph (zero padding, folded batch norms, asymmetric same padding, Add, Dense) matches float64', async () => {
  const rng = new SeededRandom(11);
  const { model, ref } = tinyModel(rng);
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', ['batch', 2, 8, 8]);
  const { values } = convertKerasLayers(b, model, new Map([['input_1', { name: x, shape: [2, 8, 8] }]]), ['dense', 'add', 'pool2']);
  assert.deepEqual(values.get('add')!.shape, [3, 4, 4]);
  assert.deepEqual(values.get('pool2')!.shape, [2, 5, 5]);
  b.output(values.get('add')!.name, 'sum_map', 'float32', ['batch', 3, 4, 4]);
  b.output(values.get('dense')!.name, 'probabilities', 'float32', ['batch', 4]);
  b.output(values.get('pool2')!.name, 'same_pool', 'float32', ['batch', 2, 5, 5]);
  // Both batch norms fold into their convs, and the zero padding needs no Pad node: the conv takes
  // it as pads, the pools as -inf pads plus a constant border (onnxruntime's PadFusion would turn a
  // zero Pad before a MaxPool into -inf padding).
  const graph = onnx.ModelProto.decode(b.serialize()).graph as OnnxTypes.GraphProto;
  const nodeTypes = graph.node.map((n) => n.opType);
  assert.ok(!nodeTypes.includes('BatchNormalization'), `ops: ${nodeTypes.join(',')}`);
  assert.ok(!nodeTypes.includes('Pad'), `ops: ${nodeTypes.join(',')}`);

  // Mostly negative input: a max pool that ignored the Keras zero padding would differ at the border.
  const input = randomArr(rng, [2, 2, 8, 8]);
  input.data = input.data.map((v) => Math.fround(v - 0.8));
  const session = await ort.InferenceSession.create(b.serialize(), { executionProviders: ['cpu'] });
  const out = await session.run({ x: new ort.Tensor('float32', f32(input), input.shape) });
  const expected = ref(input);
  for (const [output, name] of [['sum_map', 'add'], ['probabilities', 'dense'], ['same_pool', 'pool2']] as const) {
    assert.deepEqual(out[output].dims, expected[name].shape);
    const err = relativeError(out[output].data as Float32Array, expected[name].data);
    assert.ok(err <= 1e-5, `${name}: error ${err}`);
  }
});

test('an unsupported layer, activation or option is an error naming the layer and the file', () => {
  const rng = new SeededRandom(12);
  const convert = (model: KerasModel, targets: string[]) => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['batch', 2, 8, 8]);
    return convertKerasLayers(b, model, new Map([['input_1', { name: x, shape: [2, 8, 8] }]]), targets);
  };
  const { model } = tinyModel(rng);
  const withDropout = { ...model, layers: [...model.layers, layer('drop', 'Dropout', { rate: 0.5 }, ['gap'])] };
  assert.throws(
    () => convert(withDropout, ['drop']),
    (err: Error) => err instanceof DataFileError && err.message === `${FILE}: layer "drop" (Dropout) is not supported by the ONNX converter`,
  );
  // A layer outside what the targets need does not matter.
  assert.doesNotThrow(() => convert(withDropout, ['dense']));
  const withElu = { ...model, layers: model.layers.map((l) => (l.name === 'act_v' ? layer('act_v', 'Activation', { activation: 'elu' }, ['bn_v']) : l)) };
  assert.throws(() => convert(withElu, ['dense']), /model\.json: layer "act_v" \(Activation\): activation 'elu' is not supported/);
  const withCausal = { ...model, layers: model.layers.map((l) => (l.name === 'conv_s' ? layer('conv_s', 'Conv2D', conv(3, 3, 2, 'causal'), ['act_v']) : l)) };
  assert.throws(() => convert(withCausal, ['dense']), /layer "conv_s" \(Conv2D\): padding 'causal' is not supported/);
  const noWeights = { ...model, weights: new Map([...model.weights].filter(([k]) => k !== 'conv_p/kernel')) };
  assert.throws(() => convert(noWeights, ['dense']), /weight conv_p\/kernel of layer "conv_p" \(Conv2D\) is not in the weights manifest/);
});
