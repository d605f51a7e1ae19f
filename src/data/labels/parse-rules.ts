/**
 * The word lists that drive parseIngredientLine. They are data, kept here so that a reader can judge
 * and extend them without reading the parser. All entries are lower-case and already normalised the
 * way the parser normalises a line (no accents, hyphens between letters turned into spaces).
 */

/** Number words that stand for a quantity ("two eggs", "a dozen", "half an onion"). */
export const NUMBER_WORDS = [
  'a', 'an', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve',
  'fifteen', 'twenty', 'half', 'quarter', 'third', 'dozen', 'couple', 'few', 'several', 'some', 'many', 'each',
];

/** Words that only link or hedge a quantity ("2 and 1/4", "about 3", "1 to 2", "½ cup + 2 tbsp"). */
export const QUANTITY_FILLERS = [
  'of', 'the', 'and', 'or', 'to', 'up', 'plus', '+', 'x', 'about', 'approx', 'approximately', 'around', 'nearly', 'almost',
  'roughly', 'enough', 'more', 'less', 'total', 'little', 'bit', 'amount', 'hint', 'touch', 'tad', 'metric', 'good',
  'heaping', 'heaped', 'overfilled', 'level', 'scant', 'generous',
];

/**
 * Units of measure and containers. A unit is dropped at the start of the name and right after a quantity
 * ("150g", "2 tbsp."), but never when it is the last word left ("1 tsp cloves" stays "clove").
 */
export const UNITS = [
  'cup', 'cups', 'c', 'mug', 'mugs',
  'tablespoon', 'tablespoons', 'tablespoonful', 'tablespoonfuls', 'tbsp', 'tbsps', 'tbs', 'tbl', 'tbls', 'tb', 'table',
  'teaspoon', 'teaspoons', 'teaspoonful', 'teaspoonfuls', 'tsp', 'tsps', 't', 'spoon', 'spoons', 'spoonful', 'spoonfuls',
  'g', 'gr', 'grs', 'gram', 'grams', 'gramme', 'grammes', 'kg', 'kgs', 'kilo', 'kilos', 'kilogram', 'kilograms', 'mg',
  'ml', 'mls', 'milliliter', 'milliliters', 'millilitre', 'millilitres', 'l', 'lt', 'liter', 'liters', 'litre', 'litres',
  'dl', 'cl', 'oz', 'ozs', 'ounce', 'ounces', 'fl', 'lb', 'lbs', 'pound', 'pounds',
  'quart', 'quarts', 'qt', 'pint', 'pints', 'pt', 'gallon', 'gallons', 'inch', 'inches', 'cm', 'mm',
  'pinch', 'pinches', 'dash', 'dashes', 'drop', 'drops', 'splash', 'splashes', 'knob', 'knobs', 'dollop', 'dollops',
  'clove', 'cloves', 'can', 'cans', 'tin', 'tins', 'jar', 'jars', 'bottle', 'bottles', 'glass', 'glasses',
  'package', 'packages', 'pkg', 'pkgs', 'packet', 'packets', 'pack', 'packs', 'box', 'boxes', 'bag', 'bags',
  'carton', 'cartons', 'container', 'containers', 'envelope', 'envelopes', 'sachet', 'sachets',
  'slice', 'slices', 'stick', 'sticks', 'handful', 'handfuls', 'bunch', 'bunches', 'sprig', 'sprigs',
  'stalk', 'stalks', 'head', 'heads', 'piece', 'pieces', 'pc', 'pcs', 'ear', 'ears', 'strip', 'strips',
  'sheet', 'sheets', 'scoop', 'scoops', 'serving', 'servings', 'portion', 'portions', 'part', 'parts', 'shot', 'shots',
  'bowl', 'bowls', 'jigger', 'jiggers', 'handfull', 'loaf', 'loaves', 'bulb', 'bulbs', 'gm', 'gms', 'pcks',
  'twig', 'twigs', 'rasher', 'rashers', 'pod', 'pods', 'branch', 'branches', 'strand', 'strands', 'thumb', 'thumbs',
  'drizzle', 'block', 'blocks', 'pot', 'kettle', 'cupful', 'cupfuls',
];

/** Units that are also foods: kept when nothing follows them ("1 tsp cloves", "1 clove (spice)"). */
export const UNITS_THAT_ARE_FOODS = ['clove', 'cloves'];

/**
 * Preparation, size, state and quality words: dropped wherever they appear, because "chopped onion" and
 * "onion" are the same ingredient. Words that change the ingredient ("smoked", "powdered", "dry") are not here.
 */
export const DESCRIPTORS = [
  // size
  'small', 'medium', 'large', 'big', 'jumbo', 'extra', 'sized', 'very',
  // cutting and preparing
  'chopped', 'minced', 'diced', 'sliced', 'cubed', 'grated', 'shredded', 'crushed', 'crumbled', 'mashed', 'pureed',
  'julienned', 'halved', 'quartered', 'peeled', 'unpeeled', 'deveined', 'seeded', 'deseeded', 'cored', 'pitted',
  'trimmed', 'rinsed', 'drained', 'washed', 'cleaned', 'beaten', 'whisked', 'sifted', 'divided', 'separated',
  'melted', 'softened', 'thawed', 'defrosted', 'frozen', 'cooked', 'uncooked', 'precooked', 'boiled', 'blanched',
  'steamed', 'toasted', 'roasted', 'cut', 'torn', 'packed', 'ground', 'grounded', 'cubes', 'cube', 'chunks', 'chunk',
  // manner
  'finely', 'thinly', 'thickly', 'roughly', 'coarsely', 'freshly', 'lightly', 'loosely', 'firmly', 'well', 'slightly',
  // state and quality
  'fresh', 'dried', 'raw', 'ripe', 'cold', 'chilled', 'warm', 'lukewarm', 'boiling', 'room', 'temperature',
  'fine', 'coarse', 'plain', 'natural', 'thin', 'thick', 'luke', 'organic', 'homemade', 'leftover', 'good', 'quality', 'regular',
  'firm', 'unsalted', 'salted', 'boneless', 'skinless', 'lean', 'canned', 'tinned', 'jarred', 'whole', 'virgin',
  'unflavored', 'unsweetened', 'condensed', 'med', 'shelled', 'preshelled', 'mixed', 'optional', 'optionally', 'preferably', 'approximately',
];

/**
 * Two-word names whose first word is also a descriptor: kept whole ("ground beef" is not "beef",
 * "hot sauce" is not "sauce"). Matched on the words as written, before singularising.
 */
export const PROTECTED_PHRASES = [
  'ground beef', 'ground pork', 'ground turkey', 'ground lamb', 'ground chicken', 'ground meat', 'ground veal',
  'ground ginger', 'condensed milk', 'boiled egg', 'boiled eggs', 'whole wheat', 'whole grain', 'crushed red', 'dried fruit', 'dried fruits', 'frozen yogurt',
];

/**
 * Phrases that end the name: what follows is advice, a purpose or a serving note ("... to taste",
 * "... for frying", "... as a garnish"). Matched against the line with a space added at both ends.
 */
export const TAIL_CUES: RegExp[] = [
  / to (?=[a-z])/, / for /, / as needed/, / as required/, / if /, / such as /, / as /, / weighing /, / plus /,
  / cut into /, / into /, / used /, / instead /, / that /, / which /, / in /, / with /, / from /, / according /, / per /, / or more /, / or less /,
  / or so /, / e\.?g\.? /, / i\.?e\.? /, / preferably /, / of your /, / of choice/, / at /, / on /, / of some kind/, / of any /, / q\.?b\.?/, / if desired/,
];

/**
 * First words of an "A or B C" alternative that describe B's last word rather than name an ingredient:
 * "black or pinto beans" is "black bean", but "onion or garlic" is "onion".
 */
export const ALTERNATIVE_MODIFIERS = [
  'black', 'white', 'red', 'green', 'yellow', 'brown', 'pinto', 'kidney', 'navy', 'cannellini', 'beef', 'chicken',
  'vegetable', 'canola', 'olive', 'sunflower', 'peanut', 'sesame', 'corn', 'coconut', 'almond', 'soy', 'rice', 'wine',
  'cider', 'balsamic', 'sweet', 'hot', 'mild', 'dark', 'light', 'pecorino', 'parmesan', 'cheddar', 'mozzarella',
  'goat', 'sour', 'wheat', 'rye', 'spelt', 'mushroom',
];

/** Two-word descriptions dropped before the words are looked at ("low fat yogurt" is "yogurt"). */
export const DESCRIPTOR_PHRASES = [
  'low fat', 'high fat', 'reduced fat', 'non fat', 'fat free', 'sugar free', 'low sodium', 'reduced sodium',
  'gluten free', 'free range', 'store bought', 'room temperature', 'bite sized', 'good quality', 'high quality',
];

/**
 * Names with "of" that are one ingredient. In any other "A of B" the A is a measure or a part
 * ("rashers of bacon", "peels of five onions") and B is the ingredient.
 */
export const NAMES_WITH_OF = ['cream of tartar', 'cream of mushroom', 'cream of chicken', 'cream of celery', 'cream of wheat', 'bicarbonate of soda'];

/** Names that contain "and"/"or" but are one ingredient: not split. */
export const COMPOUND_NAMES = ['salt and pepper', 'half and half', 'sweet and sour sauce', 'mac and cheese', 'salt and black pepper'];

/**
 * Section headings and non-ingredients: a line whose name is one of these gets no name.
 * (Lines that end with ":" are headings too.)
 */
export const NOT_INGREDIENTS = ['recipe', 'ingredient', 'topping', 'garnish', 'filling', 'sauce ingredient', 'tin foil', 'foil', 'wood chip'];

/** Plural words that stay as they are (their final "s" is not a plural ending). */
export const SINGULAR_EXCEPTIONS = [
  'molasses', 'couscous', 'hummus', 'asparagus', 'swiss', 'grass', 'lemongrass', 'bass', 'citrus', 'octopus',
  'grits', 'brussels', 'schnapps', 'bitters', 'series', 'species', 'hummous', 'tapas', 'oats', 'herbes', 'fries',
  'greens', 'gas', 'bus', 'news', 'lees', 'dregs',
];

/** Irregular singulars (checked before the suffix rules). */
export const IRREGULAR_SINGULARS: Record<string, string> = {
  leaves: 'leaf', bayleaves: 'bayleaf', loaves: 'loaf', halves: 'half', calves: 'calf', knives: 'knife',
  chilies: 'chili', chillies: 'chilli', cookies: 'cookie', veggies: 'veggie', brownies: 'brownie', pies: 'pie',
  smoothies: 'smoothie', pierogies: 'pierogi', mice: 'mouse', geese: 'goose', feet: 'foot', teeth: 'tooth',
};

/**
 * Synonyms: a name on the left is counted as the name on the right. Applied to the whole name after
 * singularising, so entries use singular forms.
 */
export const SYNONYMS: Record<string, string> = {
  // flour
  'all purpose flour': 'flour', 'ap flour': 'flour', 'plain flour': 'flour', 'white flour': 'flour', 'wheat flour': 'flour',
  'all purpose white flour': 'flour', 'unbleached all purpose flour': 'flour', 'unbleached flour': 'flour',
  // sugar
  'confectioners sugar': 'powdered sugar', 'confectioner sugar': 'powdered sugar', 'icing sugar': 'powdered sugar',
  'granulated sugar': 'sugar', 'white sugar': 'sugar', 'caster sugar': 'sugar', 'castor sugar': 'sugar',
  'white granulated sugar': 'sugar', 'granulated white sugar': 'sugar', 'light brown sugar': 'brown sugar',
  'dark brown sugar': 'brown sugar',
  // onions and herbs
  'scallion': 'green onion', 'spring onion': 'green onion', 'salad onion': 'green onion',
  'coriander leaf': 'cilantro', 'cilantro leaf': 'cilantro', 'basil leaf': 'basil', 'parsley leaf': 'parsley',
  'mint leaf': 'mint', 'bayleaf': 'bay leaf', 'bay laurel leaf': 'bay leaf', 'garlic clove': 'garlic',
  'garlic bulb': 'garlic', 'flat leaf parsley': 'parsley', 'italian parsley': 'parsley',
  // legumes and vegetables
  'garbanzo bean': 'chickpea', 'garbanzo': 'chickpea', 'chick pea': 'chickpea', 'courgette': 'zucchini',
  'aubergine': 'eggplant', 'sweet pepper': 'bell pepper', 'capsicum': 'bell pepper',
  'chilli': 'chili', 'chile': 'chili', 'chili pepper': 'chili', 'chilli pepper': 'chili', 'red chili': 'chili',
  'green chili': 'chili', 'red chilli': 'chili', 'green chilli': 'chili',
  'tomato pure': 'tomato puree', 'tomato passata': 'tomato puree', 'passata': 'tomato puree',
  // oils and fats
  'extra virgin olive oil': 'olive oil', 'evoo': 'olive oil', 'light olive oil': 'olive oil',
  'unsalted butter': 'butter', 'salted butter': 'butter', 'sweet butter': 'butter',
  'canola oil': 'vegetable oil', 'neutral oil': 'vegetable oil', 'cooking oil': 'vegetable oil', 'sunflower oil': 'vegetable oil',
  // salt and pepper
  'kosher salt': 'salt', 'sea salt': 'salt', 'table salt': 'salt', 'fine sea salt': 'salt', 'coarse salt': 'salt',
  'ground black pepper': 'black pepper', 'black peppercorn': 'black pepper', 'cracked black pepper': 'black pepper',
  'salt and black pepper': 'salt and pepper', 'salt pepper': 'salt and pepper',
  'crushed red pepper': 'red pepper flake', 'crushed red pepper flake': 'red pepper flake', 'chili flake': 'red pepper flake',
  // dairy and eggs
  'large egg': 'egg', 'whole egg': 'egg', 'yoghurt': 'yogurt', 'greek yoghurt': 'greek yogurt',
  'plain yogurt': 'yogurt', 'whole milk': 'milk', 'heavy whipping cream': 'heavy cream', 'whipping cream': 'heavy cream',
  'double cream': 'heavy cream', 'parmesan': 'parmesan cheese', 'parmigiano reggiano': 'parmesan cheese',
  'parmigiano reggiano cheese': 'parmesan cheese', 'cheddar': 'cheddar cheese', 'mozzarella': 'mozzarella cheese',
  // baking
  'cornflour': 'cornstarch', 'corn starch': 'cornstarch', 'bicarbonate of soda': 'baking soda', 'bicarbonate soda': 'baking soda',
  'vanilla': 'vanilla extract', 'vanilla essence': 'vanilla extract', 'pure vanilla extract': 'vanilla extract',
  'active dry yeast': 'yeast', 'dry yeast': 'yeast', 'instant yeast': 'yeast', 'instant dry yeast': 'yeast',
  // stock
  'chicken stock': 'chicken broth', 'beef stock': 'beef broth', 'vegetable stock': 'vegetable broth',
  'hot water': 'water', 'tap water': 'water', 'soya sauce': 'soy sauce', 'low sodium soy sauce': 'soy sauce',
};

/** Vulgar fraction characters, spelled out so the quantity rules see "1/2". */
export const VULGAR_FRACTIONS: Record<string, string> = {
  '½': '1/2', '⅓': '1/3', '⅔': '2/3', '¼': '1/4', '¾': '3/4', '⅕': '1/5', '⅖': '2/5', '⅗': '3/5', '⅘': '4/5',
  '⅙': '1/6', '⅚': '5/6', '⅛': '1/8', '⅜': '3/8', '⅝': '5/8', '⅞': '7/8',
};
