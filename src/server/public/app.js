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

function renderRecipes(recipes) {
  $('results').replaceChildren(...recipes.map((r) => {
    const photo = r.images.length
      ? element('img', { src: r.images[0].url, alt: r.title, loading: 'lazy' })
      : element('div', { className: 'no-photo', textContent: 'no photo' });
    const body = element('div', {}, [
      element('h3', { textContent: `${r.rank}. ${r.title}` }),
      element('div', { className: 'score', textContent: `score ${r.score.toFixed(3)}` }),
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
}).catch(() => { $('model-info').textContent = 'the server is still loading'; });
