/**
 * A run panel's or Compare tab's state when the workspace has no such run: what that means,
 * where this server looks, and a Close button.
 */
import * as React from 'react';

import { getWorkspace } from './api';
import { IMessage } from './model';
import { MessageBox } from './sidebar';

export function NotFound(props: { message: IMessage; onClose: () => void }): JSX.Element {
  const [folder, setFolder] = React.useState<string | null>(null);
  React.useEffect(() => {
    let live = true;
    getWorkspace()
      .then(info => live && setFolder(info.workspace?.folder ?? null))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, []);
  return (
    <div data-testid="aml-not-found">
      <MessageBox message={props.message}>
        <div className="aml-Message-text">
          {folder ? `This server shows the workspace in ${folder}. ` : ''}
          The run may belong to another workspace (a JupyterLab started in another folder), or
          its workspace was replaced.
        </div>
        <div>
          <button
            className="jp-Button jp-mod-styled jp-mod-reject"
            data-testid="aml-close-tab"
            onClick={props.onClose}
          >
            Close
          </button>
        </div>
      </MessageBox>
    </div>
  );
}
