/** The media type of NumPy's .npy format (requests and answers). */
export const NPY_MEDIA_TYPE = 'application/x-npy';
