/**
 * aml-jupyter: the AML sidebar (experiments and runs, live), run panels and
 * run comparisons, reading the aml_jupyter server extension's REST API.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  IFrame,
  IThemeManager,
  MainAreaWidget,
  WidgetTracker
} from '@jupyterlab/apputils';
import { LabIcon } from '@jupyterlab/ui-components';

import { serverUrl } from './api';
import { themeChanged } from './chart';
import { ComparePanel } from './compare';
import { getLatestVersion } from './api';
import { ModelPanel } from './modelpanel';
import {
  addTab,
  COMPARE_PARAM,
  MODEL_PARAM,
  openElsewhere,
  requested,
  RUN_PARAM,
  showsTabs,
  showTab
} from './opening';
import { RestoredTabs } from './restoring';
import { RunPanel } from './runpanel';
import { AmlSidebar } from './sidebar';

const PLUGIN_ID = 'aml-jupyter:plugin';

/** The sidebar tab's id (`.lm-TabBar-tab[data-id="aml-sidebar"]`). */
export const SIDEBAR_ID = 'aml-sidebar';

namespace CommandIDs {
  export const showSidebar = 'aml:show-sidebar';
  export const openRun = 'aml:open-run';
  export const compare = 'aml:compare';
  export const tensorboard = 'aml:open-tensorboard';
}

/** The model page's command (a block of its own: see "model pages" below). */
const OPEN_MODEL = 'aml:open-model';

const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M8 2h8v2h-1v5.1l5.3 9.2A2.5 2.5 0 0 1 18.1 22H5.9a2.5 2.5 0 0 1-2.2-3.7L9 9.1V4H8zm3 2v5.6l-2.3 4h6.6L13 9.6V4z"/>
  </g>
</svg>`;

export const amlIcon = new LabIcon({ name: 'aml-jupyter:aml', svgstr: ICON_SVG });

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'The AML sidebar: experiments and runs of the workspace, live.',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette, IThemeManager],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    themes: IThemeManager | null
  ) => {
    const { commands, shell } = app;
    // Charts draw on canvas with the theme's colours: they redraw when it changes.
    themes?.themeChanged.connect(() => themeChanged());

    const runs = new WidgetTracker<MainAreaWidget<RunPanel>>({ namespace: 'aml-run' });
    const comparisons = new WidgetTracker<MainAreaWidget<ComparePanel>>({
      namespace: 'aml-compare'
    });
    const boards = new Map<string, MainAreaWidget<IFrame>>();
    // Tabs JupyterLab restores for runs this workspace does not have are closed, and said so.
    const restored = new RestoredTabs(app);

    const openRun = (id: string) => void commands.execute(CommandIDs.openRun, { id });
    const compare = (ids: string[]) => void commands.execute(CommandIDs.compare, { ids });

    const sidebar = new AmlSidebar({ openRun, compare });
    sidebar.id = SIDEBAR_ID;
    sidebar.title.icon = amlIcon;
    sidebar.title.caption = 'AML: experiments and runs';
    shell.add(sidebar, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(sidebar, SIDEBAR_ID);
    }

    commands.addCommand(CommandIDs.showSidebar, {
      label: 'Show the AML sidebar',
      execute: () => shell.activateById(SIDEBAR_ID)
    });

    commands.addCommand(CommandIDs.openRun, {
      label: args => (args.id ? `Open AML run ${args.id}` : 'Open AML run'),
      execute: async args => {
        const id = String(args.id ?? '');
        if (!id) {
          return;
        }
        if (!showsTabs()) {
          openElsewhere(RUN_PARAM, id); // a Notebook 7 notebook or editor page
          return;
        }
        const open = runs.find(w => w.content.runId === id);
        if (open) {
          showTab(app, open);
          return open;
        }
        if (restored.restoring && !(await restored.keep([id], 'run')).length) {
          throw new Error(`AML run ${id} is not in this workspace`); // JupyterLab forgets the tab
        }
        const content = new RunPanel(id, {
          openRun,
          openTensorboard: (runId, url) =>
            void commands.execute(CommandIDs.tensorboard, { id: runId, url })
        });
        const widget = new MainAreaWidget({ content });
        widget.id = `aml-run-${id}`;
        widget.title.label = id;
        widget.title.icon = amlIcon;
        widget.title.closable = true;
        void runs.add(widget);
        addTab(app, widget);
        return widget;
      }
    });

    commands.addCommand(CommandIDs.compare, {
      label: 'Compare AML runs',
      execute: async args => {
        let ids = Array.isArray(args.ids) ? args.ids.map(String) : [];
        if (!ids.length) {
          return;
        }
        if (!showsTabs()) {
          openElsewhere(COMPARE_PARAM, ids.join(','));
          return;
        }
        const key = ids.join(',');
        const open = comparisons.find(w => w.content.model.ids.join(',') === key);
        if (open) {
          showTab(app, open);
          return open;
        }
        if (restored.restoring) {
          // Restored: only the runs still here; none left, and JupyterLab forgets the tab.
          ids = await restored.keep(ids, 'compare');
          if (!ids.length) {
            throw new Error('The compared AML runs are not in this workspace');
          }
        }
        const content = new ComparePanel(ids, openRun);
        const widget = new MainAreaWidget({ content });
        widget.id = `aml-compare-${Date.now().toString(36)}`;
        widget.title.icon = amlIcon;
        widget.title.closable = true;
        void comparisons.add(widget);
        addTab(app, widget);
        return widget;
      }
    });

    commands.addCommand(CommandIDs.tensorboard, {
      label: 'Open TensorBoard for an AML run',
      execute: args => {
        const id = String(args.id ?? '');
        const url = String(args.url ?? '');
        if (!url) {
          return;
        }
        if (!showsTabs()) {
          // Its route sandboxes every answer (CSP), in a browser tab as in a frame.
          window.open(serverUrl(url), '_blank', 'noopener');
          return;
        }
        const open = boards.get(id);
        if (open && !open.isDisposed) {
          showTab(app, open);
          return;
        }
        // Never allow-same-origin: TensorBoard's pages get an opaque origin of their own, so
        // a script in them cannot reach Jupyter (the server adds the same sandbox as a CSP).
        const frame = new IFrame({
          sandbox: ['allow-scripts', 'allow-downloads', 'allow-popups'],
          referrerPolicy: 'no-referrer'
        });
        frame.url = serverUrl(url);
        const widget = new MainAreaWidget({ content: frame });
        widget.id = `aml-tensorboard-${id}`;
        widget.title.label = `TensorBoard ${id}`;
        widget.title.icon = amlIcon;
        widget.title.closable = true;
        widget.node.dataset.testid = 'aml-tensorboard';
        boards.set(id, widget);
        widget.disposed.connect(() => boards.delete(id));
        addTab(app, widget);
      }
    });

    // ---- model pages: one tab per model name, its versions switch inside it ----
    const modelPages = new WidgetTracker<MainAreaWidget<ModelPanel>>({
      namespace: 'aml-model'
    });
    commands.addCommand(OPEN_MODEL, {
      label: args => (args.name ? `Open AML model ${args.name}` : 'Open AML model'),
      execute: async args => {
        const name = String(args.name ?? '');
        if (!name) {
          return;
        }
        if (!showsTabs()) {
          // a Notebook 7 notebook or editor page
          openElsewhere(MODEL_PARAM, args.version === undefined ? name : `${name}:${args.version}`);
          return;
        }
        // No version: the latest (a link or a call that names only the model).
        const version =
          args.version === undefined ? await getLatestVersion(name) : Number(args.version);
        if (version === null || !Number.isInteger(version) || version < 1) {
          return;
        }
        const open = modelPages.find(w => w.content.modelName === name);
        if (open) {
          open.content.model.setVersion(version);
          showTab(app, open);
          return open;
        }
        const content = new ModelPanel(name, version, { openRun });
        const widget = new MainAreaWidget({ content });
        widget.id = `aml-model-${name}`;
        widget.title.label = `${name}:${version}`;
        widget.title.icon = amlIcon;
        widget.title.closable = true;
        // The restorer remembers the version shown last.
        let saved = version;
        content.model.changed.connect(() => {
          if (content.version !== saved && !widget.isDisposed) {
            saved = content.version;
            void modelPages.save(widget);
          }
        });
        void modelPages.add(widget);
        addTab(app, widget);
        return widget;
      }
    });
    sidebar.openModel = (name, version) => void commands.execute(OPEN_MODEL, { name, version });
    // ---- end of model pages ----

    if (palette) {
      palette.addItem({ command: CommandIDs.showSidebar, category: 'AML' });
    }

    if (restorer) {
      void restorer.restore(runs, {
        command: CommandIDs.openRun,
        args: w => ({ id: w.content.runId }),
        name: w => w.content.runId
      });
      void restorer.restore(comparisons, {
        command: CommandIDs.compare,
        args: w => ({ ids: w.content.model.ids }),
        name: w => w.content.model.ids.join(',')
      });
      // model pages
      void restorer.restore(modelPages, {
        command: OPEN_MODEL,
        args: w => ({ name: w.content.modelName, version: w.content.version }),
        name: w => w.content.modelName
      });
    }

    // A Notebook 7 page opened by `openElsewhere` shows what its address asks for.
    void app.restored.then(() => {
      const asked = requested();
      if (asked.run) {
        void commands.execute(CommandIDs.openRun, { id: asked.run });
      }
      if (asked.compare.length) {
        void commands.execute(CommandIDs.compare, { ids: asked.compare });
      }
      if (asked.model) {
        const [name, version] = asked.model.split(':');
        void commands.execute(OPEN_MODEL, version ? { name, version: Number(version) } : { name });
      }
    });
  }
};

export default plugin;
