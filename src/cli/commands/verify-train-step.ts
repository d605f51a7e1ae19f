import { formatTrainStepReport, verifyTrainStep } from '../../train/fine-tune/verify-train-step.js';
import { fromRoot } from '../../util/paths.js';
import { activateBackend } from '../backend-setup.js';
import type { Command } from '../command.js';
import { backendOption } from '../common-options.js';
import { readFlags } from '../flags.js';
import { defineOptions } from '../options.js';

/** The seed's training-step goldens shipped with the project (copied from the shared reference set). */
export const SHIPPED_TRAIN_STEP_GOLDENS = 'test/fixtures/seed-goldens/train-step';

const OPTIONS = defineOptions({
  backend: backendOption('cpu', 'TF.js backend (wasm lacks the convolution gradients)'),
});

export const verifyTrainStepCommand: Command = {
  name: 'verify-train-step',
  summary: "run the seed's recorded training iterations and compare every number (losses, gradients, AdamW, BatchNorm)",
  help: `Usage: recipe-retrieval verify-train-step [GOLDENS_DIR] [--backend B]

GOLDENS_DIR is a training-step golden set (default: ${SHIPPED_TRAIN_STEP_GOLDENS}, two
iterations of the seed's own PyTorch train() for stage 1 and stage 2). For each stage the seed
checkpoint the set names is loaded into the fine-tuning model (torchvision ResNet trunk + heads),
and its iterations run on the chosen backend: training-mode forward, the seed's loss, backward,
AdamW. Compared: every loss term, the forward outputs, the gradient of every trainable tensor, the
parameter updates (per element, and sums/norms of the full tensors), BatchNorm running statistics
and num_batches_tracked, and AdamW moments, with tolerances read from the set's
tolerance_hints.json. Prints the worst error per group; exits 1 when any is out of tolerance.
Run it on the backend you train with (tfjs-node-gpu for the GPU path).`,
  options: OPTIONS,
  positionals: { min: 0, max: 1 },
  async run(args, ctx) {
    const backend = await activateBackend(readFlags(args, OPTIONS).choice('backend'), ctx.log);
    const dir = args.positionals[0] ?? fromRoot(SHIPPED_TRAIN_STEP_GOLDENS);
    const report = await verifyTrainStep(dir, ctx.log);
    const { checks, ...summary } = report;
    void checks;
    return { data: { ...summary, backendName: backend.name }, text: formatTrainStepReport(report), exitCode: report.pass ? 0 : 1 };
  },
};
