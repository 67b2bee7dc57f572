/** Four 16 kHz chunks of n samples for the silero VAD ([4, n]): silence, faint noise, a 440 Hz tone, a vowel-like buzz. */
export function synthesizedVadAudio(n?: number): Float32Array;
