import type { Vocabulary } from '../../data/text/vocabulary.js';
import { modelParamSpecs } from '../../model/param-spec.js';
import { ParamStore } from '../../model/param-store.js';
import { loadModelFolder } from '../../train/model-folder.js';
import { TfjsRetrievalModel } from '../../train/retrieval-model.js';
import type { RetrievalModel } from '../embed-pairs.js';
import type { RunAbout } from '../report.js';

/**
 * A TF.js checkpoint opened for evaluation from cached features. An ONNX export is evaluated from
 * photos through its own graphs instead (evaluateExport), so it never becomes a ModelSource.
 */
export interface ModelSource {
  model: RetrievalModel;
  vocab: Vocabulary;
  about: RunAbout;
  /** Hash of the backbone weights the model was trained on (features must match). */
  backboneHash?: string;
  dispose(): void;
}

/**
 * Open a model folder (runs/<name>, models/demo-run, or a checkpoint folder inside one). With
 * `randomInitSeed`, the trained weights are swapped for a fresh initialisation of the same sizes:
 * an untrained model, i.e. measured chance level with the same data path.
 */
export async function openModelSource(dir: string, opts: { randomInitSeed?: number } = {}): Promise<ModelSource> {
  const loaded = await loadModelFolder(dir);
  let params = loaded.params;
  if (opts.randomInitSeed !== undefined) {
    params = ParamStore.initialise(modelParamSpecs(loaded.config, { debias: loaded.params.has('Wv.weight') }), opts.randomInitSeed);
    loaded.params.dispose();
  }
  return {
    model: new TfjsRetrievalModel(params, loaded.config, loaded.dictionary),
    vocab: loaded.vocab,
    about: {
      dir: loaded.dir,
      format: 'tfjs-checkpoint',
      checkpoint: loaded.checkpointDir,
      stage: loaded.meta.stage,
      epoch: loaded.meta.epoch,
      randomInit: opts.randomInitSeed !== undefined,
    },
    backboneHash: loaded.meta.backboneHash,
    dispose() {
      params.dispose();
      loaded.dictionary?.dispose();
    },
  };
}
