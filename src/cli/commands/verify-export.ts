import { PARITY_TOLERANCE } from '../../export/parity.js';
import { formatVerifyReport, verifyExport } from '../../export/verify.js';
import { BACKEND_REQUESTS } from '../../tf/backend.js';
import { UserError } from '../../util/errors.js';
import { backendFlag, FlagError, stringFlag, type Command } from '../command.js';

function parseBatchSizes(raw: string): number[] {
  const sizes = raw.split(',').map((s) => s.trim());
  if (sizes.some((s) => !/^\d+$/.test(s) || Number(s) < 1 || Number(s) > 1024)) throw new FlagError(`--batches must be a comma-separated list of sizes 1..1024, got "${raw}"`);
  return sizes.map(Number);
}

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
Exits non-zero when any error is above the tolerance or any exact check fails.

  --run DIR        the training run the model was exported from (required)
  --data DIR       dataset root in the Recipe1M layout (default index-data/demo)
  --split S        split of the real inputs (default test)
  --batches LIST   batch sizes (default 1,64)
  --tolerance X    relative error allowed (default ${PARITY_TOLERANCE})
  --backend B      TF.js backend: ${BACKEND_REQUESTS.join(' | ')} (default wasm)`,
  options: {
    run: { type: 'string' },
    data: { type: 'string' },
    split: { type: 'string' },
    batches: { type: 'string' },
    tolerance: { type: 'string' },
    backend: { type: 'string' },
  },
  positionals: { min: 1, max: 1 },
  async run(args, ctx) {
    const runDir = stringFlag(args, 'run');
    if (!runDir) throw new FlagError('--run is required (the training run folder the model was exported from)');
    const backend = backendFlag(args, 'wasm');
    const toleranceRaw = stringFlag(args, 'tolerance');
    const tolerance = toleranceRaw === undefined ? PARITY_TOLERANCE : Number(toleranceRaw);
    if (!(tolerance > 0)) throw new FlagError(`--tolerance must be a positive number, got "${toleranceRaw}"`);
    const report = await verifyExport({
      modelDir: args.positionals[0],
      runDir,
      datasetRoot: stringFlag(args, 'data'),
      split: stringFlag(args, 'split'),
      batchSizes: parseBatchSizes(stringFlag(args, 'batches') ?? '1,64'),
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
