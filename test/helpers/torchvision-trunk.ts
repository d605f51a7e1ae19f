import { GraphBuilder } from '../../src/onnx/graph-builder.js';
import { resnet50OutputChannels } from '../../src/model/torchvision-resnet-keys.js';
import { emitImageNetPreprocess, emitTorchvisionResNet50, type TrunkParams } from '../../src/import/torchvision-resnet-graph.js';

/**
 * A standalone trunk model, image uint8 [N,224,224,3] -> feature_map float [N, C, 7, 7] (NCHW, the
 * layout of the seed's layer-4 hook), for checking the trunk alone.
 */
export function buildTorchvisionTrunkModel(params: TrunkParams, stemWidth: number): Uint8Array {
  const b = new GraphBuilder('torchvision_resnet50');
  b.reserve('feature_map');
  const input = b.input('image', 'uint8', ['batch', 224, 224, 3]);
  const features = emitTorchvisionResNet50(b, params, emitImageNetPreprocess(b, input), stemWidth);
  b.output(features, 'feature_map', 'float32', ['batch', resnet50OutputChannels(stemWidth), 7, 7]);
  return b.serialize({ docString: 'torchvision ResNet-50 trunk (layer4 output, NCHW) with ImageNet preprocessing in-graph' });
}
