// The image pipeline shared by feature extraction, training, evaluation and the server.
export type { RgbImage, DecodedImage, SupportedImageFormat } from './types.js';
export { ImageDecodeError, type ImageErrorCode } from './errors.js';
export { decodeImage, probeImage, DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, type DecodeOptions, type ImageProbe } from './decode.js';
export { SEED_GEOMETRY, MAX_ASPECT_RATIO, resizedSize, centreCropOffset, type CropGeometry } from './geometry.js';
export { testTransform, trainTransform, loadTestCrop, loadTrainCrop, flipHorizontal, RESIZE_KERNEL } from './transforms.js';
export {
  toTorchvisionNchw,
  toTorchvisionNchwBatch,
  toCaffeNhwc,
  toCaffeNhwcBatch,
  TORCHVISION_MEAN,
  TORCHVISION_STD,
  CAFFE_BGR_MEAN,
} from './normalise.js';
