// quantkit's library entry: the pure core, the file formats and the stateful Quantizer engine.
// Node-only adapters (files, workers, the service) live under quantkit/node and the CLI.
export * from './core/index.js';
export * from './formats/index.js';
export * from './engine/index.js';
