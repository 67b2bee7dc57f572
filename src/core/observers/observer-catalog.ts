/**
 * The built-in observers as data: names, the options each needs without a default, old spellings.
 * Lists of names (the CLI's --observer, ONNX calibration, the Quantizer config, parameter files)
 * read this table, which loads no observer code, so a command's --help does not pay for the
 * histogram and entropy modules; builtin-observers.ts registers one factory per name here, and
 * the compiler refuses a name without one.
 */
export const OBSERVER_CATALOG = {
  minmax: {},
  'moving-average': {},
  percentile: {},
  /** PyTorch's HistogramObserver: the range that minimises the quantization MSE over a histogram. */
  mse: {},
  entropy: {},
  outlier: {},
  /**
   * Options without a default: such an observer is offered only where options can be given (the
   * library, the Quantizer config), not by the CLI's --observer or ONNX calibration, which pass a
   * name alone.
   */
  fixed: { requires: 'min and max' },
} as const satisfies Record<string, { readonly requires?: string }>;

export type ObserverName = keyof typeof OBSERVER_CATALOG;

/** Old spellings still accepted: 'histogram' is the name 'mse' had before. */
export const OBSERVER_ALIASES: Readonly<Record<string, ObserverName>> = Object.freeze({ histogram: 'mse' });

/** Every built-in observer name, in catalog order. */
export const OBSERVER_NAMES: readonly ObserverName[] = Object.freeze(Object.keys(OBSERVER_CATALOG) as ObserverName[]);

/** The observers that choose a range from the data and a name alone (every option has a default). */
export const DATA_OBSERVER_NAMES: readonly ObserverName[] = Object.freeze(OBSERVER_NAMES.filter((n) => !('requires' in OBSERVER_CATALOG[n])));

/** What an observer needs that has no default ('min and max' for fixed), or undefined. */
export function observerRequires(name: ObserverName): string | undefined {
  const entry: { readonly requires?: string } = OBSERVER_CATALOG[name];
  return entry.requires;
}
