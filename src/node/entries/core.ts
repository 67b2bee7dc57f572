// `import 'quantkit/core'` under Node (the "node" condition of package.json's exports): the core
// with the Node host's uninitialized memory for large outputs installed (core/output-array.ts).
import { installUninitializedOutputs } from '../uninitialized-outputs.js';

installUninitializedOutputs();

export * from '../../core/index.js';
