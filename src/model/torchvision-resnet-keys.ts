/**
 * The state-dict keys of torchvision's ResNet-50 trunk (no avgpool/fc: the seed's backbone is an
 * IntermediateLayerGetter up to layer4), under a prefix. Widths follow from the stem width alone
 * (64 for the real network; the seed goldens' small configuration divides every width by 16), so
 * a checkpoint whose trunk is anything but a ResNet-50 shows up as missing or mis-shaped keys.
 */

export type KeyDType = 'float32' | 'int64';

export interface KeySpec {
  /** State-dict key without the `module.` prefix. */
  name: string;
  shape: number[];
  dtype: KeyDType;
}

/** Bottleneck blocks per stage (ResNet-50), and the bottleneck's output expansion. */
export const RESNET50_BLOCKS = [3, 4, 6, 3] as const;
export const BOTTLENECK_EXPANSION = 4;

export interface ResNetBlockShape {
  /** e.g. `layer2.0` */
  name: string;
  inChannels: number;
  planes: number;
  outChannels: number;
  /** torchvision v1.5: the stride sits on the 3x3 conv2. */
  stride: number;
  downsample: boolean;
}

/** The bottleneck blocks in forward order, for a trunk whose stem has `stemWidth` channels. */
export function resnet50Blocks(stemWidth: number): ResNetBlockShape[] {
  const blocks: ResNetBlockShape[] = [];
  let inChannels = stemWidth;
  RESNET50_BLOCKS.forEach((count, stage) => {
    const planes = stemWidth * 2 ** stage;
    const outChannels = planes * BOTTLENECK_EXPANSION;
    for (let i = 0; i < count; i++) {
      const stride = i === 0 && stage > 0 ? 2 : 1;
      blocks.push({ name: `layer${stage + 1}.${i}`, inChannels, planes, outChannels, stride, downsample: i === 0 });
      inChannels = outChannels;
    }
  });
  return blocks;
}

/** Channels of the layer4 output map. */
export function resnet50OutputChannels(stemWidth: number): number {
  return stemWidth * 8 * BOTTLENECK_EXPANSION;
}

function batchNormKeys(prefix: string, channels: number): KeySpec[] {
  return [
    ...['weight', 'bias', 'running_mean', 'running_var'].map((p): KeySpec => ({ name: `${prefix}.${p}`, shape: [channels], dtype: 'float32' })),
    { name: `${prefix}.num_batches_tracked`, shape: [], dtype: 'int64' },
  ];
}

function convKey(name: string, out: number, inChannels: number, k: number): KeySpec {
  return { name, shape: [out, inChannels, k, k], dtype: 'float32' };
}

/** Every key of the trunk under `prefix` (the seed: `backbone.0.body`), in state-dict order. */
export function resnet50KeySpecs(prefix: string, stemWidth: number): KeySpec[] {
  const specs: KeySpec[] = [convKey(`${prefix}.conv1.weight`, stemWidth, 3, 7), ...batchNormKeys(`${prefix}.bn1`, stemWidth)];
  for (const block of resnet50Blocks(stemWidth)) {
    const p = `${prefix}.${block.name}`;
    specs.push(
      convKey(`${p}.conv1.weight`, block.planes, block.inChannels, 1), ...batchNormKeys(`${p}.bn1`, block.planes),
      convKey(`${p}.conv2.weight`, block.planes, block.planes, 3), ...batchNormKeys(`${p}.bn2`, block.planes),
      convKey(`${p}.conv3.weight`, block.outChannels, block.planes, 1), ...batchNormKeys(`${p}.bn3`, block.outChannels),
    );
    if (block.downsample) {
      specs.push(convKey(`${p}.downsample.0.weight`, block.outChannels, block.inChannels, 1), ...batchNormKeys(`${p}.downsample.1`, block.outChannels));
    }
  }
  return specs;
}
