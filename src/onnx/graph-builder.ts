import type { OnnxTypes } from './proto.js';
import { DataType, IR_VERSION, onnx, OPSET_VERSION, type DType } from './proto.js';
import { attributeProto, type Attrs } from './attributes.js';
import { tensorProto, type TensorData } from './tensor.js';

/** A tensor dimension: a fixed size, or a name for a size chosen at run time (e.g. 'batch'). */
export type Dim = number | string;

export interface ModelOptions {
  producerName?: string;
  docString?: string;
  /** Free-form key/value pairs stored in the model (e.g. the weights' hash). */
  metadata?: Record<string, string>;
}

/**
 * Builds one ONNX graph (opset 17) node by node. Every value is referred to by name; the builder
 * hands out unique names from hints and refuses a node whose input no earlier step defined, so
 * a wiring mistake fails where it is made rather than as an opaque error from the runtime.
 */
export class GraphBuilder {
  private readonly nodes: OnnxTypes.INodeProto[] = [];
  private readonly initializers: OnnxTypes.ITensorProto[] = [];
  private readonly inputs: OnnxTypes.IValueInfoProto[] = [];
  private readonly outputs: OnnxTypes.IValueInfoProto[] = [];
  /** Every value name in use (inputs, initializers, node outputs), for uniqueness and wiring checks. */
  private readonly defined = new Set<string>();
  private readonly nodeNames = new Set<string>();
  /** Names set aside for graph inputs/outputs declared later (see reserve). */
  private readonly reserved = new Set<string>();
  private readonly hintCounts = new Map<string, number>();

  constructor(readonly name = 'graph') {}

  /**
   * Keep `names` free for later input()/output() declarations: values emitted meanwhile (e.g. by a
   * converter naming values after Keras layers) get other names.
   */
  reserve(...names: string[]): void {
    for (const name of names) {
      if (this.defined.has(name)) throw new Error(`cannot reserve ${name}: already used in graph ${this.name}`);
      this.reserved.add(name);
    }
  }

  /** A name not used yet: the hint itself if free, else hint_1, hint_2, ... */
  uniqueName(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9_./:-]/g, '_') || 'v';
    let n = this.hintCounts.get(base) ?? 0;
    let candidate = n === 0 ? base : `${base}_${n}`;
    while (this.defined.has(candidate) || this.reserved.has(candidate)) {
      n++;
      candidate = `${base}_${n}`;
    }
    this.hintCounts.set(base, n + 1);
    return candidate;
  }

  /** Declare a graph input with an exact name (names are the model's API, so no renaming). */
  input(name: string, dtype: DType, shape: readonly Dim[]): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, dtype, shape));
    return name;
  }

  /**
   * Declare `value` a graph output called `name` (an Identity node renames it when they differ).
   * A shape entry may be a number, a dynamic dim name, or null where the size is not named.
   */
  output(value: string, name: string, dtype: DType, shape: readonly (Dim | null)[]): string {
    this.requireDefined(value, `output ${name}`);
    if (value !== name) {
      this.claim(name);
      this.nodes.push({ opType: 'Identity', input: [value], output: [name], name: this.nodeName(`${name}_identity`) });
    }
    this.outputs.push(valueInfo(name, dtype, shape));
    return name;
  }

  /** A constant stored in the model (weights, shapes, axes); returns its unique name. */
  initializer(hint: string, data: TensorData, dims: readonly number[]): string {
    const name = this.uniqueName(hint);
    this.initializers.push(tensorProto(name, data, dims));
    this.defined.add(name);
    return name;
  }

  /** float32 constant; a bare number becomes a scalar (dims []), which broadcasts against anything. */
  constFloat(hint: string, values: number | readonly number[], dims?: readonly number[]): string {
    const data = Float32Array.from(typeof values === 'number' ? [values] : values);
    return this.initializer(hint, data, dims ?? (typeof values === 'number' ? [] : [data.length]));
  }

  /** int64 constant (shapes, axes, indices): a 1-D vector unless dims say otherwise. */
  constInt64(hint: string, values: readonly number[], dims?: readonly number[]): string {
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    return this.initializer(hint, data, dims ?? [data.length]);
  }

  /** Add a node with one output; returns the output's name. */
  op(opType: string, inputs: readonly string[], attrs: Attrs = {}, hint?: string): string {
    return this.opMulti(opType, inputs, 1, attrs, hint)[0];
  }

  /** Add a node with `outputCount` outputs; returns their names. An input '' means "omitted". */
  opMulti(opType: string, inputs: readonly string[], outputCount: number, attrs: Attrs = {}, hint?: string): string[] {
    for (const input of inputs) if (input !== '') this.requireDefined(input, `${opType} node`);
    const base = hint ?? opType.toLowerCase();
    const output = Array.from({ length: outputCount }, (_, i) => {
      const name = this.uniqueName(outputCount === 1 ? base : `${base}_out${i}`);
      this.defined.add(name);
      return name;
    });
    this.nodes.push({
      opType,
      input: [...inputs],
      output,
      name: this.nodeName(base),
      attribute: Object.entries(attrs).map(([key, value]) => attributeProto(key, value)),
    });
    return output;
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  toModel(opts: ModelOptions = {}): OnnxTypes.ModelProto {
    if (this.outputs.length === 0) throw new Error(`graph ${this.name} has no outputs`);
    return onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET_VERSION }],
      producerName: opts.producerName ?? 'recipe-retrieval',
      docString: opts.docString ?? '',
      metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
  }

  /** The model as protobuf bytes (what onnxruntime and `.onnx` files hold). */
  serialize(opts: ModelOptions = {}): Uint8Array {
    return onnx.ModelProto.encode(this.toModel(opts)).finish();
  }

  private claim(name: string): void {
    if (this.defined.has(name)) {
      throw new Error(`value name ${name} is already used in graph ${this.name} (reserve() it before emitting nodes)`);
    }
    this.reserved.delete(name);
    this.defined.add(name);
  }

  private requireDefined(name: string, user: string): void {
    if (!this.defined.has(name)) throw new Error(`${user} refers to ${name}, which nothing in graph ${this.name} defines`);
  }

  private nodeName(hint: string): string {
    let name = hint;
    for (let n = 1; this.nodeNames.has(name); n++) name = `${hint}_${n}`;
    this.nodeNames.add(name);
    return name;
  }
}

function valueInfo(name: string, dtype: DType, shape: readonly (Dim | null)[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DataType[dtype],
        shape: { dim: shape.map((d) => (d === null ? {} : typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}
