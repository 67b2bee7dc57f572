/** What the committed VAD evaluation batch says, and espeak-ng's arguments for it. */
export const VAD_EVALUATION_SPEECH: { readonly text: string; readonly args: readonly string[] };

/** The calibration and validation sets of VAD speech: espeak-ng voices, sentences and a seed each. */
export const VAD_SPEECH_SETS: Readonly<Record<'calibration' | 'validation', { readonly seed: number; readonly voices: readonly string[]; readonly sentences: readonly string[] }>>;

/** Streams of espeak-ng speech for the VAD as one [streams, n] chunk per step (made once with espeak-ng, then cached). */
export function vadSpeechAudio(set: 'calibration' | 'validation', options?: { streams?: number; chunks?: number; n?: number }): Float32Array[];
