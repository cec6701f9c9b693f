/**
 * A React widget that owns a polling model: the model stands by while the widget (or the
 * browser tab) is hidden, polls at once when the widget is shown again, and is disposed
 * with it. The sidebar, run panels and compare panels are all this shape.
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';

export interface IPolledModel {
  start(): void;
  refresh(): void;
  dispose(): void;
}

export abstract class PolledWidget<M extends IPolledModel> extends ReactWidget {
  /** `createModel` gets the standby test to hand to the model's `Poll`. */
  constructor(createModel: (standby: () => boolean) => M) {
    super();
    this.model = createModel(() => !this.isVisible || document.hidden);
  }

  readonly model: M;

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.dispose();
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.model.refresh();
  }
}
