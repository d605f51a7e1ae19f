import { declareImageOutputs, emitImageHead, type ImageGraphOptions } from '../export/image-graph.js';
import type { ExportParams } from '../export/export-params.js';
import { imageEncoderInterface } from '../model-format/io-spec.js';
import { attr } from '../onnx/attributes.js';
import { GraphBuilder } from '../onnx/graph-builder.js';
import type { OnnxTypes } from '../onnx/proto.js';
import type { ModelConfig } from '../model/config.js';
import { BACKBONE_PREFIX } from './seed-state-dict.js';
import { emitImageNetPreprocess, emitTorchvisionResNet50 } from './torchvision-resnet-graph.js';

/**
 * The two graphs of an imported seed model, with the export's interface (src/model-format/io-spec.ts):
 * the head, classifier, debiasing and recipe encoder are the exporter's own emitters; only the
 * trunk differs (torchvision ResNet-50 with ImageNet normalisation instead of the Keras one).
 * Only the image encoder is built here; recipe_encoder.onnx is the exporter's recipeEncoderModelProto.
 * Both are ModelProtos, not bytes, so the caller can stream them to disk (onnx-stream.ts).
 */

/** image_encoder.onnx: uint8 RGB crop -> torchvision trunk -> the model's head. */
export function seedImageEncoderModel(
  params: ExportParams, config: ModelConfig, stemWidth: number, opts: ImageGraphOptions = {},
): OnnxTypes.IModelProto {
  const b = new GraphBuilder('image_encoder');
  const io = imageEncoderInterface(config);
  b.reserve(...io.outputs.map((o) => o.name));
  const input = b.input(io.inputs[0].name, io.inputs[0].dtype, io.inputs[0].shape);
  const trunk = emitTorchvisionResNet50(b, (name) => params.get(`${BACKBONE_PREFIX}.${name}`), emitImageNetPreprocess(b, input), stemWidth);
  // The head reads NHWC, the layout of the feature caches.
  const nhwc = b.op('Transpose', [trunk], { perm: attr.ints([0, 2, 3, 1]) }, 'feature_map_nhwc');
  declareImageOutputs(b, io, emitImageHead(b, params, config, nhwc, opts.projectedDictionary));
  return b.toModel({
    docString: 'image encoder: torchvision ResNet-50 (ImageNet normalisation in-graph) + image head, imported from the seed checkpoint',
    metadata: opts.metadata,
  });
}
