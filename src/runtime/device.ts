/**
 * Where onnxruntime runs: the device asked for (`auto` tries CUDA, then CPU) and the provider a
 * session got. One table for the session factory and the CLI's --device; this module imports
 * nothing, so the CLI can list the devices without loading onnxruntime.
 */
export const DEVICES = ['auto', 'cuda', 'cpu'] as const;
export type Device = (typeof DEVICES)[number];
export type Provider = Exclude<Device, 'auto'>;
