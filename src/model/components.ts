/** The three recipe components, in the seed's order (the merger concatenates them in this order). */
export const COMPONENTS = ['title', 'ingredients', 'instructions'] as const;
export type ComponentName = (typeof COMPONENTS)[number];

/** The components whose input is a list of lines (two-level encoding). */
export const LINE_COMPONENTS = ['ingredients', 'instructions'] as const;
export type LineComponentName = (typeof LINE_COMPONENTS)[number];

/** `from->to`: projection P[from->to] maps f_from into the space of f_to (seed: projector_recipes.from.to). */
export type ProjectionKey =
  | 'title->ingredients' | 'title->instructions'
  | 'ingredients->title' | 'ingredients->instructions'
  | 'instructions->title' | 'instructions->ingredients';

/** The six ordered pairs, in the seed's state-dict order. */
export const PROJECTION_PAIRS: ReadonlyArray<readonly [ComponentName, ComponentName]> = COMPONENTS.flatMap(
  (from) => COMPONENTS.filter((to) => to !== from).map((to) => [from, to] as const),
);

export function projectionKey(from: ComponentName, to: ComponentName): ProjectionKey {
  return `${from}->${to}` as ProjectionKey;
}
