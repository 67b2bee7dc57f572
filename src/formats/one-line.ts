/**
 * Text from a file (a tensor name, a key, a parser's excerpt) with line breaks and other control
 * characters escaped as \uXXXX, so a message quoting it stays the one line the CLI prints and the
 * service answers. Example: oneLine('a\nb') → 'a\\u000ab'.
 */
export function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
