// The demo page: one photo in, ranked recipes out. Plain browser JavaScript, no build step.
const $ = (id) => document.getElementById(id);
const input = $('photo-input');
const zone = $('drop-zone');
const statusLine = $('status');
let currentPhoto = null;

function setStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle('error', isError);
}

function element(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
}

function listOf(tag, items) {
  return element(tag, {}, items.map((text) => element('li', { textContent: text })));
}

function renderIngredients(ingredients) {
  const list = $('ingredients');
  list.replaceChildren(...ingredients.map((ing) => element('li', {
    className: ing.present ? 'present' : '',
    textContent: `${ing.name} ${(100 * ing.probability).toFixed(0)}%`,
    title: ing.present ? 'probability >= 50%: used by the debiasing' : 'below 50%',
  })));
  $('ingredients-panel').hidden = ingredients.length === 0;
}

/**
 * A title as people should read it: the datasets carry stray quotes ("'tahini short bread'",
 * 'cuca "italiana'). Wrapping quotes and an unpaired double quote go; apostrophes inside words stay.
 */
function displayTitle(title) {
  let t = title.trim();
  const wrapped = /^['"‘“]/.test(t);
  if (wrapped) t = t.slice(1);
  if (wrapped ? /['"’”]$/.test(t) : /["”]$/.test(t)) t = t.slice(0, -1);
  if ((t.match(/"/g) || []).length % 2 === 1) t = t.replace(/"/g, '');
  return t.trim() || title;
}

const percent = (x) => `${Math.round(x)}%`;

/** The model's measured quality, and what the score on each result is (and is not). */
function renderQuality(model, indexCount) {
  const quality = $('model-quality');
  const help = $('score-help');
  const e = model.evaluation;
  if (e) {
    quality.textContent = `${model.id} model: ${e.summary}`;
    const photos = e.split === 'test' ? `${e.pairs} test photos it never trained on` : `${e.pairs} ${e.split} photos`;
    help.textContent = `Measured on ${photos}, each ranked against ${e.n} recipes: the share whose own recipe came in the top 10 (R@10; median rank ${e.imageToRecipe.medR}), `
      + `next to what a random ranking gets${indexCount > e.n ? ` (this page searches all ${indexCount} recipes, which is harder)` : ''}. `
      + 'The score on each result is the cosine similarity of photo and recipe embeddings: it orders the results, it is not a confidence.';
  } else {
    quality.textContent = `${model.id} model: quality not measured (its manifest records no evaluation)`;
    help.textContent = 'The score on each result is the cosine similarity of photo and recipe embeddings: it orders the results, it is not a confidence.';
  }
  quality.hidden = false;
  help.hidden = false;
}

function renderRecipes(recipes) {
  $('results').replaceChildren(...recipes.map((r) => {
    const photo = r.images.length
      ? element('img', { src: r.images[0].url, alt: displayTitle(r.title), loading: 'lazy' })
      : element('div', { className: 'no-photo', textContent: 'no photo' });
    const body = element('div', {}, [
      element('h3', { textContent: `${r.rank}. ${displayTitle(r.title)}` }),
      element('div', { className: 'score', textContent: `score ${r.score.toFixed(3)}`, title: 'cosine similarity of photo and recipe: it orders the results, it is not a confidence' }),
      element('details', {}, [element('summary', { textContent: `${r.ingredients.length} ingredients` }), listOf('ul', r.ingredients)]),
      element('details', {}, [element('summary', { textContent: `${r.instructions.length} steps` }), listOf('ol', r.instructions)]),
    ]);
    return element('li', { className: 'recipe' }, [photo, body]);
  }));
}

async function search() {
  if (!currentPhoto) return;
  const debias = $('debias-toggle').checked;
  const k = $('k-select').value;
  const form = new FormData();
  form.append('image', currentPhoto, currentPhoto.name || 'photo');
  setStatus('searching…');
  try {
    const response = await fetch(`/v1/search?k=${encodeURIComponent(k)}&debias=${debias}`, { method: 'POST', body: form });
    const body = await response.json();
    if (!response.ok) {
      setStatus(`${body.error ? body.error.message : response.statusText}`, true);
      $('results').replaceChildren();
      renderIngredients([]);
      return;
    }
    renderIngredients(body.ingredients);
    renderRecipes(body.recipes);
    const t = body.timings;
    setStatus(`${body.recipes.length} recipes, debiasing ${body.debias.applied ? 'on' : 'off'} · decode ${t.decodeMs.toFixed(0)} ms, encode ${t.encodeMs.toFixed(0)} ms, search ${t.searchMs.toFixed(1)} ms`);
  } catch (err) {
    setStatus(`request failed: ${err.message}`, true);
  }
}

function choose(file) {
  if (!file) return;
  currentPhoto = file;
  const preview = $('preview');
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  $('drop-hint').textContent = file.name || 'photo';
  search();
}

input.addEventListener('change', () => choose(input.files[0]));
zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('dragging'); });
zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
zone.addEventListener('drop', (e) => {
  e.preventDefault();
  zone.classList.remove('dragging');
  choose(e.dataTransfer.files[0]);
});
$('debias-toggle').addEventListener('change', search);
$('k-select').addEventListener('change', search);

fetch('/v1/info').then((r) => (r.ok ? r.json() : Promise.reject(new Error(r.statusText)))).then((info) => {
  $('model-info').textContent = `model ${info.model.id} (${info.model.debias.active ? 'with' : 'without'} debiasing) · ${info.index.count} recipes · ${info.provider.image.toUpperCase()}`;
  if (!info.model.debias.active) $('debias-toggle').disabled = true;
  renderQuality(info.model, info.index.count);
}).catch(() => { $('model-info').textContent = 'the server is still loading'; });
