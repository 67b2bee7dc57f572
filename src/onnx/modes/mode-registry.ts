import type { QuantizeModeImpl } from './mode-impl.js';
import { Registry } from '../../core/registry.js';
import { dynamicMode } from './dynamic.js';
import { staticMode } from './static.js';
import { weightOnlyMode } from './weight-only/weight-only.js';

/**
 * The one place modes are registered: a new mode is one import and one line here. quantizeModel
 * uses this registry unless given another.
 */
export function createQuantizeModes(): Registry<string, QuantizeModeImpl> {
  const modes = new Registry<string, QuantizeModeImpl>('quantization mode');
  modes.register(weightOnlyMode.mode, weightOnlyMode);
  modes.register(dynamicMode.mode, dynamicMode);
  modes.register(staticMode.mode, staticMode);
  return modes;
}
