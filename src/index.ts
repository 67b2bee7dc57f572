// quantkit's library entry: the pure core, the file formats, the stateful Quantizer engine and the
// HTTP contract of its config (snake_case names, JSON Schema).
// Node-only adapters (files, workers, the service) live under quantkit/node and the CLI.
export * from './core/index.js';
export * from './formats/index.js';
export * from './engine/index.js';
export * from './contract/index.js';
