import type { Tensor32 } from '../onnx/weights.js';
import { DataFileError } from '../util/errors.js';
import type { TorchCheckpoint } from './torch-checkpoint.js';
import { TensorRef } from '../data/pickle/torch-unpickler.js';

/** Where training scripts put the model's weights in the dict they save. */
const STATE_DICT_KEYS = ['state_dict', 'model', 'model_state_dict'];

/**
 * The state_dict of a saved checkpoint: the seed saves {epoch, arch, state_dict, best_recall1,
 * optimizer}; a bare `torch.save(model.state_dict())` is the dict itself. Everything else (the
 * optimizer's moments, ~2/3 of a real file) is listed as ignored and never read.
 */
export function findStateDict(root: unknown, file: string): { stateDict: Map<string, TensorRef>; ignored: string[] } {
  if (!(root instanceof Map)) throw new DataFileError(file, 'holds no dict: expected {"state_dict": ..., ...} or a state_dict');
  const key = STATE_DICT_KEYS.find((k) => root.get(k) instanceof Map);
  const dict = key ? (root.get(key) as Map<unknown, unknown>) : root;
  const stateDict = new Map<string, TensorRef>();
  for (const [name, value] of dict) {
    if (typeof name !== 'string') throw new DataFileError(file, `state_dict key ${JSON.stringify(name)} is not a string`);
    if (!(value instanceof TensorRef)) {
      throw new DataFileError(file, key ? `state_dict entry ${name} is not a tensor` : `has no "state_dict" entry (top-level keys: ${[...root.keys()].slice(0, 8).join(', ')})`);
    }
    stateDict.set(name, value);
  }
  const ignored = key ? [...root.keys()].filter((k) => k !== key).map(String) : [];
  return { stateDict, ignored };
}

/**
 * The float32 entries of a state_dict as the read-on-demand map the graph emitters take
 * (ExportParams): names without the DDP prefix; each get() reads the tensor from the file and keeps
 * nothing, so a weight lives only as long as the graph that copies it needs it.
 */
export class CheckpointTensors implements ReadonlyMap<string, Tensor32> {
  private readonly refs = new Map<string, TensorRef>();

  constructor(private readonly checkpoint: TorchCheckpoint, stateDict: ReadonlyMap<string, TensorRef>, prefix: string) {
    for (const [name, ref] of stateDict) {
      // int64 buffers (BatchNorm batch counters) are not weights of any graph.
      if (ref.dtype !== 'int64') this.refs.set(name.slice(prefix.length), ref);
    }
  }

  get size(): number {
    return this.refs.size;
  }

  has(name: string): boolean {
    return this.refs.has(name);
  }

  get(name: string): Tensor32 | undefined {
    const ref = this.refs.get(name);
    if (!ref) return undefined;
    const data = this.checkpoint.read(ref);
    if (!(data instanceof Float32Array)) throw new DataFileError(this.checkpoint.file, `${name} is not a float tensor`);
    return { data, dims: [...ref.shape] };
  }

  keys(): MapIterator<string> {
    return this.refs.keys();
  }

  *entries(): MapIterator<[string, Tensor32]> {
    for (const name of this.refs.keys()) yield [name, this.get(name)!];
  }

  *values(): MapIterator<Tensor32> {
    for (const name of this.refs.keys()) yield this.get(name)!;
  }

  [Symbol.iterator](): MapIterator<[string, Tensor32]> {
    return this.entries();
  }

  forEach(fn: (value: Tensor32, key: string, map: ReadonlyMap<string, Tensor32>) => void): void {
    for (const [name, value] of this.entries()) fn(value, name, this);
  }
}
