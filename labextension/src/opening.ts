/**
 * Where run panels, comparisons and TensorBoard open, in JupyterLab and in Notebook 7.
 *
 * JupyterLab's main area is a dock panel: a tab there. Notebook 7's shell keeps a single
 * widget in its main area (`shell.add(w, 'main')` does nothing once a page has one), so:
 * - its file browser page (`/tree`) shows them as tabs beside Files and Running (its main
 *   widget is that tab panel);
 * - its notebook, editor, console and terminal pages open that page in a new browser tab,
 *   with `?aml-run=ID`, `?aml-compare=ID,ID` or `?aml-model=NAME:VERSION` saying what to show
 *   there.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { TabPanel, Widget } from '@lumino/widgets';

/** The query parameters of a Notebook 7 file browser page opened to show a run or a comparison. */
export const RUN_PARAM = 'aml-run';
export const COMPARE_PARAM = 'aml-compare';
export const MODEL_PARAM = 'aml-model';

/** Notebook 7's page ('tree', 'notebooks', 'edit', …), or '' in JupyterLab. */
export function notebookPage(): string {
  return PageConfig.getOption('notebookPage');
}

/** Notebook 7's file browser page: its tab panel, or null elsewhere. */
function treePanel(app: JupyterFrontEnd): TabPanel | null {
  if (notebookPage() !== 'tree') {
    return null;
  }
  for (const widget of app.shell.widgets('main')) {
    if (widget instanceof TabPanel) {
      return widget;
    }
  }
  return null;
}

/** Can this page show AML tabs itself (else `openElsewhere` opens a page that can)?
 * Never false on the page `openElsewhere` opens, so it cannot open tab after tab. */
export function showsTabs(): boolean {
  return notebookPage() === '' || notebookPage() === 'tree';
}

/** Add an AML tab to this page's main area and show it. */
export function addTab(app: JupyterFrontEnd, widget: Widget): void {
  const tree = treePanel(app);
  if (tree) {
    tree.addWidget(widget);
    tree.currentWidget = widget;
    return;
  }
  app.shell.add(widget, 'main');
  app.shell.activateById(widget.id);
}

/** Show an AML tab this page has already. */
export function showTab(app: JupyterFrontEnd, widget: Widget): void {
  const tree = treePanel(app);
  if (tree && tree.widgets.includes(widget)) {
    tree.currentWidget = widget;
    return;
  }
  app.shell.activateById(widget.id);
}

/** Open Notebook 7's file browser page in a new browser tab, showing a run or a comparison. */
export function openElsewhere(param: string, value: string): void {
  const url = URLExt.join(PageConfig.getBaseUrl(), 'tree');
  const query = new URLSearchParams({ [param]: value });
  window.open(`${url}?${query.toString()}`, '_blank', 'noopener');
}

/** What this page's address asks to show (`?aml-run=…`, `?aml-compare=…`), if anything. */
export function requested(): { run: string | null; compare: string[]; model: string | null } {
  const query = new URLSearchParams(window.location.search);
  const ids = (query.get(COMPARE_PARAM) ?? '').split(',').filter(Boolean);
  return { run: query.get(RUN_PARAM), compare: ids, model: query.get(MODEL_PARAM) };
}
