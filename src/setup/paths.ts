import { fromRoot } from '../util/paths.js';

/** The committed sources the demo is prepared from. */
export const DEMO_RUN = fromRoot('models', 'demo-run');
export const DEMO_DATASET = fromRoot('index-data', 'demo');

/** Where `setup` writes by default; both folders are git-ignored (generated, ~110 MB). */
export const DEFAULT_MODEL_OUT = fromRoot('models', 'demo');
export const DEFAULT_INDEX_OUT = fromRoot('index-data', 'demo-index');

/** Model id of the demo export, whatever its folder is called (the index records it). */
export const DEMO_MODEL_ID = 'demo';

/** What setup records in the index folder, written last: a folder without it is not finished. */
export const SETUP_RECORD_FILE = 'setup.json';
