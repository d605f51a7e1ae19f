import { fromRoot } from '../util/paths.js';

/** The committed sources the demo is prepared from. */
export const DEMO_RUN = fromRoot('models', 'demo-run');
export const DEMO_DATASET = fromRoot('index-data', 'demo');
/**
 * The demo run's measured quality: the `evaluate --json` report of the trained stage-2 model on the
 * demo's 28 test photos (an entry of the run's evaluation.json), recorded in the export's manifest.
 */
export const DEMO_EVALUATION = { file: 'evaluation.json', entry: 'stage2' } as const;

/** Where `setup` writes by default; both folders are git-ignored (generated, ~110 MB). */
export const DEFAULT_MODEL_OUT = fromRoot('models', 'demo');
export const DEFAULT_INDEX_OUT = fromRoot('index-data', 'demo-index');

/** The data folder the demo server's evaluations may name datasets in: index-data/, whose demo dataset is "demo". */
export const DEMO_DATA_DIR = fromRoot('index-data');

/** Model id of the demo export, whatever its folder is called (the index records it). */
export const DEMO_MODEL_ID = 'demo';

/** What setup records in the index folder, written last: a folder without it is not finished. */
export const SETUP_RECORD_FILE = 'setup.json';
