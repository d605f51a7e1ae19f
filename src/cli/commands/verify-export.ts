import { PARITY_TOLERANCE } from '../../export/parity.js';
import { formatVerifyReport, verifyExport } from '../../export/verify.js';
import { UserError } from '../../util/errors.js';
import { FlagError, type Command } from '../command.js';
import { backendOption } from '../common-options.js';
import { readFlags } from '../flags.js';
import { defineOptions } from '../options.js';

function parseBatchSizes(raw: string): number[] {
  const sizes = raw.split(',').map((s) => s.trim());
  if (sizes.some((s) => !/^\d+$/.test(s) || Number(s) < 1 || Number(s) > 1024)) throw new FlagError(`--batches must be a comma-separated list of sizes 1..1024, got "${raw}"`);
  return sizes.map(Number);
}

const OPTIONS = defineOptions({
  run: {
    type: 'string', value: 'DIR', description: 'the training run the model was exported from',
    required: 'the training run folder the model was exported from',
  },
  data: { type: 'string', value: 'DIR', description: 'dataset root in the Recipe1M layout (default index-data/demo)' },
  split: { type: 'string', value: 'S', description: 'split of the real inputs (default test)' },
  batches: { type: 'string', value: 'LIST', description: 'batch sizes', default: '1,64' },
  tolerance: { type: 'string', value: 'X', description: 'relative error allowed', default: PARITY_TOLERANCE },
  backend: backendOption('wasm', 'TF.js backend'),
});

export const verifyExportCommand: Command = {
  name: 'verify-export',
  summary: 'check an exported model against the TF.js model of its run (parity per output)',
  help: `Usage: recipe-retrieval verify-export <model-dir> --run <run-dir> [options]

Runs every ONNX file of the export (onnxruntime-node, CPU) and the TF.js model of the run on the
same inputs: real recipes and photos of a dataset split (the demo test split by default), random
recipes and images, and edge cases (empty lines, recipes without ingredients or instructions,
maximum lengths, a one-token title), at each batch size. Prints, per file and output,
max |onnx - tfjs| / max |tfjs|, and checks that debiased_embedding equals embedding exactly where
no ingredient label reaches p >= 0.5 (also on head variants forcing none / several labels on).
Exits non-zero when any error is above the tolerance or any exact check fails.`,
  options: OPTIONS,
  positionals: { min: 1, max: 1 },
  async run(args, ctx) {
    const flags = readFlags(args, OPTIONS);
    const runDir = flags.string('run');
    const backend = flags.choice('backend');
    const tolerance = flags.number('tolerance');
    const report = await verifyExport({
      modelDir: args.positionals[0],
      runDir,
      datasetRoot: flags.string('data'),
      split: flags.string('split'),
      batchSizes: parseBatchSizes(flags.string('batches')),
      backend,
      tolerance,
      log: ctx.log,
    });
    const text = formatVerifyReport(report);
    if (!report.passed) {
      // The table goes to stderr so the reason for the non-zero exit is visible next to it.
      ctx.log(text);
      const failures = report.rows.filter((r) => !(r.relError <= tolerance)).length + report.exact.filter((e) => !e.passed).length;
      throw new UserError(`${failures} check(s) failed (see above)`);
    }
    return { data: report, text };
  },
};
