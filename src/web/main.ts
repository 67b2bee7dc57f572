import { ApiClient } from './api-client.js';
import { h } from './dom.js';
import { calibrationView } from './views/calibration-view.js';
import { instancesView } from './views/instances-view.js';
import { onnxReportView } from './views/onnx-report-view.js';
import { tryItView } from './views/try-it-view.js';
import type { View, ViewContext } from './views/view.js';

const ROUTES: Record<string, { title: string; make: (ctx: ViewContext) => View }> = {
  instances: { title: 'Instances', make: instancesView },
  calibration: { title: 'Calibration', make: calibrationView },
  try: { title: 'Try it', make: tryItView },
  onnx: { title: 'ONNX reports', make: onnxReportView },
};

/** Asks for the API key in a modal dialog (a labelled password field); resolves null on cancel. */
function askKey(reason: string): Promise<string | null> {
  return new Promise((resolve) => {
    const input = h('input', { id: 'api-key', type: 'password', autocomplete: 'off', required: true });
    const dialog = h(
      'dialog',
      { 'aria-labelledby': 'api-key-title', class: 'key-dialog' },
      h(
        'form',
        { method: 'dialog' },
        h('h2', { id: 'api-key-title' }, 'API key'),
        h('p', {}, reason, ' It is kept in this tab’s session storage only.'),
        h('div', { class: 'field' }, h('label', { for: 'api-key' }, 'API key'), input),
        h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'primary', value: 'ok' }, 'Use key'), h('button', { type: 'submit', value: 'cancel', formnovalidate: true }, 'Cancel')),
      ),
    );
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'ok' ? input.value : null);
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}

/** One shared prompt: concurrent requests that meet a 401 wait for the same answer. */
let pendingKey: Promise<string | null> | null = null;
const api = new ApiClient((reason) => (pendingKey ??= askKey(reason).finally(() => (pendingKey = null))));

const main = document.getElementById('main')!;
let current: View | null = null;

function route(): void {
  const asked = location.hash.replace(/^#\/?/, '');
  const name = ROUTES[asked] ? asked : 'instances';
  const r = ROUTES[name];
  current?.dispose();
  current = r.make({ api });
  main.replaceChildren(current.element);
  document.title = `${r.title} · quantkit dashboard`;
  for (const a of Array.from(document.querySelectorAll<HTMLAnchorElement>('nav a'))) {
    if (a.hash === `#/${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

window.addEventListener('hashchange', () => {
  route();
  main.focus();
});
route();
