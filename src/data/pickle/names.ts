/**
 * The Python globals that plain data pickles refer to at protocols 0-2, where bytes, bytearray and
 * sets have no opcode of their own and are written as calls (REDUCE). Without these, pickleparser
 * returns placeholder objects for them. Python 3 writes `_codecs.encode(text, 'latin1')` for bytes
 * and `__builtin__.bytes()` for empty bytes; sets become arrays, as pickleparser does for EMPTY_SET;
 * collections' dict subclasses become Maps.
 */
import { NameRegistry } from 'pickleparser';

/** bytes() / bytes(iterable of ints) / bytes(bytes); also bytearray(...). */
function bytesFrom(source?: unknown): Uint8Array {
  if (source === undefined) return new Uint8Array(0);
  if (source instanceof Uint8Array) return new Uint8Array(source);
  if (Array.isArray(source) && source.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) return Uint8Array.from(source as number[]);
  throw new Error('bytes() argument is not bytes or a list of byte values');
}

/** _codecs.encode(text, encoding), the way Python 3 pickles bytes at protocols 0-2. */
function codecsEncode(text: unknown, encoding: unknown = 'utf-8'): Uint8Array {
  if (typeof text !== 'string') throw new Error('_codecs.encode() argument is not a string');
  const name = String(encoding).toLowerCase().replace(/[-_]/g, '');
  if (name === 'latin1' || name === 'iso88591') {
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code > 255) throw new Error('_codecs.encode(..., "latin1") argument has a character above U+00FF');
      out[i] = code;
    }
    return out;
  }
  if (name === 'utf8') return new Uint8Array(Buffer.from(text, 'utf8'));
  throw new Error(`_codecs.encode() with unsupported encoding ${JSON.stringify(encoding)}`);
}

function setAsArray(items?: unknown): unknown[] {
  return items === undefined ? [] : Array.from(items as Iterable<unknown>);
}

/**
 * dict subclasses (OrderedDict, defaultdict, Counter) as plain Maps: Python writes them as a call
 * with no items (Counter: with a dict) followed by SETITEM(S), which pickleparser applies with
 * Map#set. A defaultdict's factory is dropped.
 */
function dictSubclass(source?: unknown): Map<unknown, unknown> {
  return source instanceof Map ? new Map(source) : new Map();
}

/**
 * A pickleparser NameRegistry that knows the names above; other names become pickleparser's
 * placeholder objects. Register more (numpy, torch) on it and pass it as `nameResolver`.
 */
export function createPickleNameRegistry(): NameRegistry {
  const registry = new NameRegistry();
  for (const module of ['builtins', '__builtin__']) {
    registry.register(module, 'bytes', bytesFrom);
    registry.register(module, 'bytearray', bytesFrom);
    registry.register(module, 'set', setAsArray);
    registry.register(module, 'frozenset', setAsArray);
  }
  registry.register('_codecs', 'encode', codecsEncode);
  for (const name of ['OrderedDict', 'defaultdict', 'Counter']) registry.register('collections', name, dictSubclass);
  return registry;
}
