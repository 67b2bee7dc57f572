// The HTTP contract of configs, shared by the service and the page: the snake_case names, the
// JSON Schema generated from the engine's zod schema, and validation by those names.
export * from './config-names.js';
export * from './config-json-schema.js';
export * from './check-http-config.js';
