// `import 'quantkit'` under Node (the "node" condition of package.json's exports): the library entry
// with the Node host's uninitialized memory for large outputs installed (core/output-array.ts).
import { installUninitializedOutputs } from '../uninitialized-outputs.js';

installUninitializedOutputs();

export * from '../../index.js';
