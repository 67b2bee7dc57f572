export const ISNET_SIZE: number;
export const CALIBRATION_PHOTOS: string[];
export const EVALUATION_PHOTOS: string[];

/** imgly's bilinear resize of RGB bytes [height, width, 3] to [size, size, 3]. */
export function resizeBilinear(rgb: Uint8Array, width: number, height: number, size?: number): Uint8Array;

/** Resized RGB bytes → the model input planes, (v − 128) / 256. */
export function toInput(resized: Uint8Array, size?: number): Float32Array;

/** Mean over images of the IoU of mask > 0.5 with the reference's. */
export function meanMaskIou(probabilities: ArrayLike<number>, reference: ArrayLike<number>, plane: number): number;
