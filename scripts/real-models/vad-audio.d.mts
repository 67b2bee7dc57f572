/** Four 16 kHz chunks of n samples for the silero VAD ([4, n]): silence, faint noise, a 440 Hz tone, a vowel-like buzz. */
export function synthesizedVadAudio(n?: number): Float32Array;

/** Calibration audio for the silero VAD (never the evaluation audio): one [streams, n] chunk per step of `streams` streams. */
export function vadCalibrationAudio(options?: { seed?: number; streams?: number; chunks?: number; n?: number }): Float32Array[];
