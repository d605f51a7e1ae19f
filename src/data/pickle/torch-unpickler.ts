import { createPickleNameRegistry, type PickleNameResolver, type PicklePersistentResolver } from './pickle.js';
import { numpyDType, numpyFromBuffer, numpyReconstruct, numpyScalar } from './numpy-values.js';

/**
 * What `torch.save`'s object pickle refers to, rebuilt without any tensor data: storages become
 * StorageRef (a key naming the stored data, the zip entry `data/<key>` or a legacy file's record,
 * and its dtype), tensors become TensorRef (a view on a storage). Data is read later, and only for
 * the tensors an import needs.
 */

export type TorchDType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** torch.<Name>Storage, as the persistent id names the storage's element type. */
const STORAGE_TYPES: Record<string, { dtype: TorchDType; itemSize: number }> = {
  FloatStorage: { dtype: 'float32', itemSize: 4 },
  DoubleStorage: { dtype: 'float64', itemSize: 8 },
  HalfStorage: { dtype: 'float16', itemSize: 2 },
  BFloat16Storage: { dtype: 'bfloat16', itemSize: 2 },
  LongStorage: { dtype: 'int64', itemSize: 8 },
  IntStorage: { dtype: 'int32', itemSize: 4 },
  ShortStorage: { dtype: 'int16', itemSize: 2 },
  CharStorage: { dtype: 'int8', itemSize: 1 },
  ByteStorage: { dtype: 'uint8', itemSize: 1 },
  BoolStorage: { dtype: 'bool', itemSize: 1 },
};

/** The class object a GLOBAL `torch FloatStorage` stands for. */
export class StorageType {
  constructor(readonly name: string, readonly dtype: TorchDType, readonly itemSize: number) {}
}

/**
 * One storage of the checkpoint: `numel` elements of `dtype` stored under `key` (zip entry
 * `<folder>/data/<key>`, or the legacy file's record for that key).
 */
export interface StorageRef {
  key: string;
  /**
   * Legacy format only: a storage view (pre-0.4 torch) starts this many elements into the stored
   * data of `key`; absent means 0.
   */
  elementOffset?: number;
  dtype: TorchDType;
  itemSize: number;
  /** Where it lived when saved ('cuda:0', 'cpu'); the data is the same either way. */
  location: string;
  numel: number;
}

/** A tensor as `_rebuild_tensor_v2` describes it: a strided view on a storage. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    /** In elements. */
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}

  get dtype(): TorchDType {
    return this.storage.dtype;
  }

  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** Row-major (C-contiguous) strides for this shape; size-1 dims may have any stride. */
  isContiguous(): boolean {
    let expected = 1;
    for (let d = this.shape.length - 1; d >= 0; d--) {
      if (this.shape[d] !== 1 && this.stride[d] !== expected) return false;
      expected *= this.shape[d];
    }
    return true;
  }
}

/** collections.OrderedDict: a Map that keeps the `_metadata` attribute BUILD sets on a state_dict. */
export class OrderedDictValue extends Map<unknown, unknown> {
  /** The module versions torch stores on a state_dict (prefix -> {version}); undefined if absent. */
  metadata: unknown;

  __setstate__(state: unknown): void {
    // Python pickles an OrderedDict's instance attributes as a dict {name: value}.
    if (state instanceof Map) {
      if (state.has('_metadata')) this.metadata = state.get('_metadata');
    } else if (state !== null && state !== undefined) {
      throw new Error('OrderedDict state is not a dict of attributes');
    }
  }
}

function intList(value: unknown, what: string): number[] {
  if (!Array.isArray(value) || !value.every((v) => Number.isSafeInteger(v) && (v as number) >= 0)) {
    throw new Error(`${what} is not a tuple of non-negative ints`);
  }
  return value as number[];
}

/** `_rebuild_tensor_v2` (torch >= 0.4) and `_rebuild_tensor` (older legacy files) take the same leading four. */
function rebuildTensorV2(storage: unknown, offset: unknown, size: unknown, stride: unknown): TensorRef {
  if (!isStorageRef(storage)) throw new Error('_rebuild_tensor_v2: first argument is not a storage');
  if (!Number.isSafeInteger(offset) || (offset as number) < 0) throw new Error('_rebuild_tensor_v2: storage offset is not an int');
  const shape = intList(size, '_rebuild_tensor_v2 size');
  const strides = intList(stride, '_rebuild_tensor_v2 stride');
  if (shape.length !== strides.length) throw new Error('_rebuild_tensor_v2: size and stride differ in length');
  const t = new TensorRef(storage, offset as number, shape, strides);
  // Furthest element addressed must lie inside the storage.
  const last = t.numel === 0 ? 0 : t.offset + shape.reduce((acc, d, i) => acc + (d - 1) * strides[i], 0) + 1;
  if (last > storage.numel) throw new Error(`tensor view [${shape.join(',')}] at offset ${t.offset} reaches element ${last} of a ${storage.numel}-element storage`);
  return t;
}

function isStorageRef(value: unknown): value is StorageRef {
  return typeof value === 'object' && value !== null && 'key' in value && 'numel' in value && 'itemSize' in value;
}

/** nn.Parameter -> the tensor it wraps (requires_grad and hooks do not matter to an import). */
function rebuildParameter(data: unknown): unknown {
  if (!(data instanceof TensorRef)) throw new Error('_rebuild_parameter: argument is not a tensor');
  return data;
}

/**
 * Resolvers for one object pickle: every storage id maps to one StorageRef (views of one storage
 * share it). Unknown globals stay pickleparser placeholders, so an unusual entry outside the
 * state_dict (a custom scheduler) does not stop the import. Storage ids:
 * - zip format: ('storage', type, key, location, numel);
 * - legacy format: the same plus view_metadata, None or (view_key, offset, view_numel) for a view
 *   on the stored storage `key` (pre-0.4 torch). `storages` holds the stored (root) storages only.
 * A legacy ('module', class, source_file, source) id (a whole pickled nn.Module) stands for its class.
 */
export function createTorchResolvers(): { nameResolver: PickleNameResolver; persistentResolver: PicklePersistentResolver; storages: Map<string, StorageRef> } {
  const base = createPickleNameRegistry();
  // Values a GLOBAL stands for: functions REDUCE calls, or (storage types) plain values.
  const own = new Map<string, unknown>();
  own.set('collections.OrderedDict', () => new OrderedDictValue());
  own.set('torch._utils._rebuild_tensor_v2', rebuildTensorV2);
  own.set('torch._utils._rebuild_tensor', rebuildTensorV2);
  own.set('torch._utils._rebuild_parameter', rebuildParameter);
  own.set('torch._utils._rebuild_parameter_with_state', rebuildParameter);
  // numpy 2 pickles under numpy._core; numpy 1 under numpy.core.
  for (const module of ['numpy.core.multiarray', 'numpy._core.multiarray']) {
    own.set(`${module}.scalar`, numpyScalar);
    own.set(`${module}._reconstruct`, numpyReconstruct);
  }
  for (const module of ['numpy.core.numeric', 'numpy._core.numeric']) own.set(`${module}._frombuffer`, numpyFromBuffer);
  own.set('numpy.dtype', numpyDType);
  for (const [name, t] of Object.entries(STORAGE_TYPES)) {
    const type = new StorageType(name, t.dtype, t.itemSize);
    // torch.save normalises cuda storage types to torch.<Name>Storage; accept the cuda names anyway.
    own.set(`torch.${name}`, type);
    own.set(`torch.cuda.${name}`, type);
  }
  const nameResolver: PickleNameResolver = {
    resolve: (module: string, name: string) => (own.get(`${module}.${name}`) ?? base.resolve(module, name)) as never,
  };
  const storages = new Map<string, StorageRef>();
  const views = new Map<string, StorageRef>();
  const persistentResolver: PicklePersistentResolver = {
    resolve(pid: unknown) {
      if (Array.isArray(pid) && pid[0] === 'module' && pid.length === 4) return pid[1] as never;
      if (!Array.isArray(pid) || pid[0] !== 'storage' || (pid.length !== 5 && pid.length !== 6)) {
        throw new Error(`unsupported persistent id ${JSON.stringify(pid, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))?.slice(0, 80)} (expected ('storage', type, key, location, numel[, view]))`);
      }
      const [, type, key, location, numel, view] = pid as unknown[];
      if (!(type instanceof StorageType)) throw new Error(`storage ${String(key)} has an unsupported element type`);
      if (typeof key !== 'string' || typeof location !== 'string' || !Number.isSafeInteger(numel) || (numel as number) < 0) {
        throw new Error(`malformed storage id for key ${String(key)}`);
      }
      let root = storages.get(key);
      if (!root) {
        root = { key, dtype: type.dtype, itemSize: type.itemSize, location, numel: numel as number };
        storages.set(key, root);
      }
      if (view === undefined || view === null) return root as never;
      return storageView(root, view, views) as never;
    },
  };
  return { nameResolver, persistentResolver, storages };
}

/** A legacy storage view: (view_key, offset, numel) in elements of the root storage, shared by view_key. */
function storageView(root: StorageRef, view: unknown, views: Map<string, StorageRef>): StorageRef {
  const [viewKey, offset, numel] = Array.isArray(view) ? (view as unknown[]) : [];
  if (!Array.isArray(view) || view.length !== 3 || typeof viewKey !== 'string' || !Number.isSafeInteger(offset) || !Number.isSafeInteger(numel) ||
    (offset as number) < 0 || (numel as number) < 0) {
    throw new Error(`malformed storage view of key ${root.key} (expected (view_key, offset, numel))`);
  }
  const known = views.get(viewKey);
  if (known) return known;
  if ((offset as number) + (numel as number) > root.numel) {
    throw new Error(`storage view ${viewKey} covers elements ${offset as number}..${(offset as number) + (numel as number)} of the ${root.numel}-element storage ${root.key}`);
  }
  const ref: StorageRef = { ...root, elementOffset: offset as number, numel: numel as number };
  views.set(viewKey, ref);
  return ref;
}
