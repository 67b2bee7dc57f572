type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;
type Child = Node | string | number | null | undefined | false;

/**
 * Creates an element: h('button', { type: 'button', onclick: f }, 'Delete'). `on*` attributes
 * become listeners, booleans toggle the attribute, null/undefined/false are skipped.
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'object' ? c : String(c));
  }
  return el;
}

/** Shows `message` in a live region (role=alert for errors so screen readers announce it). */
export function showMessage(region: HTMLElement, message: string, kind: 'error' | 'ok' | 'info'): void {
  region.textContent = message;
  region.className = `message ${kind}`;
  region.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  region.hidden = message === '';
}

/** A message for anything thrown: QuantError and ApiError messages are written for people already. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
