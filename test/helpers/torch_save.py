"""Write a state dict the way torch.save does, in both of its formats, without torch (stdlib only).

The tests' independent reference for the checkpoint readers: a fake `torch` module layout
(torch.FloatStorage and friends, torch._utils._rebuild_tensor_v2) is registered in sys.modules, so
Python's own pickler writes the same GLOBAL names and persistent ids a real torch.save writes:
- legacy (torch < 1.6, `_use_new_zipfile_serialization=False`): magic number, protocol version
  1001, sys_info, the object with ('storage', type, key, location, numel, view_metadata) persistent
  ids, the sorted storage keys, then per key an int64 element count and the raw little-endian bytes;
- zip (torch >= 1.6): <folder>/data.pkl with ('storage', type, key, location, numel) ids,
  <folder>/byteorder, <folder>/data/<key>, <folder>/version, stored uncompressed.

Usage: python3 torch_save.py SPEC.json
SPEC: {
  "storages": {name: {"type": "FloatStorage" | "LongStorage" | "HalfStorage" | "DoubleStorage",
                      "values": [numbers; int64 as decimal strings]   # or, for large data:
                      "blob": [byte offset, numel],                  # raw little-endian bytes in spec.blob
                      "location": "cpu"}},
  "blob": path | null,
  "tensors": [{"name": str, "storage": name, "offset": int, "shape": [int], "stride": [int],
               "view": null | {"offset": int, "numel": int}}],   # view: a pre-0.4 storage view
  "checkpoint": null | {key: JSON value},   # null: the OrderedDict alone; else this dict with it
                                            # added under 'state_dict' (the seed's .pth.tar layout)
  "legacy": path | null, "zip": path | null, "folder": "archive",
  "protocol": 2,                      # pickle protocol (torch's default is 2)
  "rebuild": "_rebuild_tensor_v2" | "_rebuild_tensor",   # the latter as torch < 0.4 wrote
  "magic": int | null, "protocol_version": int | null, "little_endian": bool | null   # overrides
}
A tensor with a view is written in the zip file on the root storage, its offset shifted by the
view's, which is what torch.load makes of it.
"""
import collections
import json
import pickle
import struct
import sys
import types
import zipfile

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
FORMATS = {'FloatStorage': ('<f', 4), 'LongStorage': ('<q', 8), 'HalfStorage': ('<e', 2), 'DoubleStorage': ('<d', 8)}

torch = types.ModuleType('torch')
torch_utils = types.ModuleType('torch._utils')
torch._utils = torch_utils
sys.modules['torch'] = torch
sys.modules['torch._utils'] = torch_utils
for _name in FORMATS:
    setattr(torch, _name, type(_name, (), {'__module__': 'torch'}))


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks):
    raise RuntimeError('only pickled, never called')


def _rebuild_tensor(storage, storage_offset, size, stride):
    raise RuntimeError('only pickled, never called')


for _fn in (_rebuild_tensor_v2, _rebuild_tensor):
    _fn.__module__ = 'torch._utils'
    setattr(torch_utils, _fn.__name__, _fn)


class Storage:
    """A root storage (key = its id, as str(storage._cdata) in torch) or a view on one (root set)."""

    def __init__(self, key, type_name, location, data, numel, root=None, view_offset=0):
        self.key = key
        self.type = getattr(torch, type_name)
        self.location = location
        self.data = data
        self.numel = numel
        self.root = root
        self.view_offset = view_offset

    @staticmethod
    def of(key, type_name, values, location):
        fmt, _ = FORMATS[type_name]
        data = b''.join(struct.pack(fmt, int(v) if fmt == '<q' else float(v)) for v in values)
        return Storage(key, type_name, location, data, len(values))

    @staticmethod
    def from_blob(key, type_name, blob, offset, numel, location):
        size = FORMATS[type_name][1]
        return Storage(key, type_name, location, blob[offset:offset + numel * size], numel)

    def view(self, key, offset, numel):
        return Storage(key, self.type.__name__, self.location, None, numel, root=self, view_offset=offset)


class Tensor:
    def __init__(self, storage, offset, shape, stride, rebuild):
        self.args = (storage, offset, tuple(shape), tuple(stride))
        self.rebuild = rebuild

    def __reduce_ex__(self, protocol):
        if self.rebuild == '_rebuild_tensor':
            return (_rebuild_tensor, self.args)
        return (_rebuild_tensor_v2, self.args + (False, collections.OrderedDict()))


def build(spec, fmt):
    """The object to save; storages shared by name, so two tensors on one storage pickle one id."""
    roots = {}
    blob = None
    if spec.get('blob'):
        with open(spec['blob'], 'rb') as f:
            blob = f.read()
    for i, (name, s) in enumerate(spec['storages'].items()):
        # Legacy keys are memory addresses as decimal strings; zip keys count from 0.
        key = str(94000000000000 + 64 * i) if fmt == 'legacy' else str(i)
        location = s.get('location', 'cpu')
        if 'blob' in s:
            roots[name] = Storage.from_blob(key, s['type'], blob, s['blob'][0], s['blob'][1], location)
        else:
            roots[name] = Storage.of(key, s['type'], s['values'], location)
    state = collections.OrderedDict()
    for j, t in enumerate(spec['tensors']):
        storage = roots[t['storage']]
        offset = t['offset']
        view = t.get('view')
        if view is not None:
            if fmt == 'legacy':
                storage = storage.view(str(95000000000000 + 64 * j), view['offset'], view['numel'])
            else:
                offset += view['offset']
        state[t['name']] = Tensor(storage, offset, t['shape'], t['stride'], spec.get('rebuild', '_rebuild_tensor_v2'))
    # torch's state_dict() carries per-module versions in _metadata (pickled as BUILD state).
    state._metadata = collections.OrderedDict([('', {'version': 1})])
    if spec.get('checkpoint') is not None:
        return dict(spec['checkpoint'], state_dict=state)
    return state


def save_legacy(spec, path):
    protocol = spec.get('protocol', 2)
    obj = build(spec, 'legacy')
    written = {}

    class LegacyPickler(pickle.Pickler):
        def persistent_id(self, o):
            if not isinstance(o, Storage):
                return None
            root = o.root or o
            written.setdefault(root.key, root)
            view = None if o.root is None else (o.key, o.view_offset, o.numel)
            return ('storage', root.type, root.key, root.location, root.numel, view)

    little = spec.get('little_endian')
    sys_info = dict(protocol_version=PROTOCOL_VERSION, little_endian=True if little is None else little,
                    type_sizes=dict(short=2, int=4, long=8))
    with open(path, 'wb') as f:
        magic = spec.get('magic')
        version = spec.get('protocol_version')
        pickle.dump(MAGIC_NUMBER if magic is None else magic, f, protocol=protocol)
        pickle.dump(PROTOCOL_VERSION if version is None else version, f, protocol=protocol)
        pickle.dump(sys_info, f, protocol=protocol)
        LegacyPickler(f, protocol=protocol).dump(obj)
        keys = sorted(written.keys())
        pickle.dump(keys, f, protocol=protocol)
        for key in keys:
            root = written[key]
            f.write(struct.pack('<q', root.numel))
            f.write(root.data)


def save_zip(spec, path):
    obj = build(spec, 'zip')
    written = {}

    class ZipPickler(pickle.Pickler):
        def persistent_id(self, o):
            if not isinstance(o, Storage):
                return None
            written.setdefault(o.key, o)
            return ('storage', o.type, o.key, o.location, o.numel)

    import io
    buf = io.BytesIO()
    ZipPickler(buf, protocol=spec.get('protocol', 2)).dump(obj)
    folder = spec.get('folder', 'archive')
    with zipfile.ZipFile(path, 'w', compression=zipfile.ZIP_STORED) as z:
        z.writestr(f'{folder}/data.pkl', buf.getvalue())
        z.writestr(f'{folder}/byteorder', 'little')
        for key, s in written.items():
            z.writestr(f'{folder}/data/{key}', s.data)
        z.writestr(f'{folder}/version', '3\n')


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    if spec.get('legacy'):
        save_legacy(spec, spec['legacy'])
    if spec.get('zip'):
        save_zip(spec, spec['zip'])


if __name__ == '__main__':
    main()
