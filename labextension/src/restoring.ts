/**
 * Run and Compare tabs restored from a saved layout whose runs this workspace does not have.
 *
 * JupyterLab keeps its layout per browser workspace, not per folder: a lab started in
 * another project restores the tabs of the last one. Such a tab is not reopened (its restore
 * command fails, so JupyterLab forgets it) and one notification says which were closed, and why.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';

import { AmlApiError, getRun, getWorkspace } from './api';

/** Why a run cannot be shown here: not in this workspace, no workspace at all, or null. */
type Absence = 'no-run' | 'no-workspace' | null;

async function absence(id: string): Promise<Absence> {
  try {
    await getRun(id);
    return null;
  } catch (error) {
    if (error instanceof AmlApiError) {
      if (error.reason === 'no-run') {
        return 'no-run';
      }
      if (error.kind === 'no-workspace') {
        return 'no-workspace';
      }
    }
    return null; // another error: the tab opens and says it itself
  }
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

export class RestoredTabs {
  constructor(app: JupyterFrontEnd) {
    void app.restored.then(() => {
      this._restoring = false;
      return this._report();
    });
  }

  /** True while JupyterLab restores its saved layout (its commands are restorations). */
  get restoring(): boolean {
    return this._restoring;
  }

  /** The runs of a restored tab this workspace has; a tab left with none is counted closed. */
  async keep(ids: string[], tab: 'run' | 'compare'): Promise<string[]> {
    const check = Promise.all(ids.map(absence));
    this._checks.push(check);
    const absent = await check;
    const kept = ids.filter((_, i) => absent[i] === null);
    if (!kept.length) {
      if (tab === 'run') {
        this._runs++;
      } else {
        this._comparisons++;
      }
      this._noWorkspace ||= absent.includes('no-workspace');
    }
    return kept;
  }

  private async _report(): Promise<void> {
    await Promise.allSettled(this._checks);
    const tabs = [
      this._runs ? plural(this._runs, 'AML run tab', 'AML run tabs') : '',
      this._comparisons ? plural(this._comparisons, 'AML Compare tab', 'AML Compare tabs') : ''
    ].filter(Boolean);
    if (!tabs.length) {
      return;
    }
    const whose =
      this._runs + this._comparisons > 1
        ? 'their runs are'
        : this._runs
          ? 'its run is'
          : 'its runs are';
    const head = `Closed ${tabs.join(' and ')}: `;
    const why = this._noWorkspace ? 'there is no AML workspace here' : `${whose} not in this workspace`;
    // A toast shows 140 characters: the workspace's folder if it fits, else its name.
    const [folder, name] = await workspace();
    const long = `${head}${why} (${folder}).`;
    const text = !folder ? `${head}${why}.` : long.length <= 140 ? long : `${head}${why} (${name}).`;
    Notification.info(text, { autoClose: 15_000 });
  }

  private _restoring = true;
  private _checks: Promise<unknown>[] = [];
  private _runs = 0;
  private _comparisons = 0;
  private _noWorkspace = false;
}

/** The workspace's folder and name, or empty strings. */
async function workspace(): Promise<[string, string]> {
  try {
    const info = await getWorkspace();
    return info.workspace ? [info.workspace.folder, info.workspace.name] : ['', ''];
  } catch {
    return ['', ''];
  }
}
