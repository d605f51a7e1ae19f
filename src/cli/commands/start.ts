import { DEMO_DATA_DIR } from '../../setup/paths.js';
import { runSetup } from '../../setup/run-setup.js';
import type { Command } from '../command.js';
import { readFlags } from '../flags.js';
import { defineOptions } from '../options.js';
import { serveCommand, SERVE_OPTIONS } from './serve.js';
import { describeSetup } from './setup.js';

const { model: _model, index: _index, ...serveOptions } = SERVE_OPTIONS;

const OPTIONS = defineOptions({
  'model-out': { type: 'string', value: 'DIR', description: 'where setup puts the demo\'s ONNX export, served from there (default models/demo)' },
  'index-out': { type: 'string', value: 'DIR', description: 'where setup puts the demo\'s index (default index-data/demo-index)' },
  ...serveOptions,
  'data-dir': { ...serveOptions['data-dir'], description: 'folder whose datasets POST /v1/evaluations may name (default index-data)' },
});

export const startCommand: Command = {
  name: 'start',
  summary: 'set up the embedded demo and serve it, in one process (what `npm start` runs)',
  help: `Usage: recipe-retrieval start [--model-out DIR] [--index-out DIR] [serve options]

Runs setup (idempotent: it verifies models/demo and index-data/demo-index by sha256 and builds only
what is missing, stale or corrupt), then serves them as
  recipe-retrieval serve --model models/demo --index index-data/demo-index --data-dir index-data
does, in this one process: a signal to it (Ctrl-C, or SIGTERM to \`npm start\`) stops the server
gracefully. Setup's lines go to stderr; the server's JSON log lines to stdout, "ready" among them
once the model and index are loaded.

Takes every option of serve except --model and --index (see recipe-retrieval serve --help), with
the same environment variables; --data-dir (DATA_DIR) defaults to index-data.`,
  options: OPTIONS,
  positionals: { min: 0, max: 0 },
  async run(args, ctx) {
    const flags = readFlags(args, OPTIONS);
    const summary = await runSetup({ modelOut: flags.string('model-out'), indexOut: flags.string('index-out'), log: ctx.log });
    for (const line of describeSetup(summary).split('\n')) ctx.log(line);
    const dataDir = flags.string('data-dir') ?? DEMO_DATA_DIR;
    const { 'model-out': _modelOut, 'index-out': _indexOut, ...serveValues } = args.values;
    return serveCommand.run({ values: { ...serveValues, model: summary.model.dir, index: summary.index.dir, 'data-dir': dataDir }, positionals: [] }, ctx);
  },
};
