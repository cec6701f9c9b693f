/**
 * The aml_jupyter REST API (`<base_url>aml/api/...`), typed.
 *
 * Every call goes through `ServerConnection.makeRequest`, so it carries the
 * server's token and XSRF cookie like the rest of JupyterLab.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** Every status a run can have, in lifecycle order. */
export const STATUSES = [
  'NotStarted',
  'Queued',
  'Preparing',
  'Starting',
  'Running',
  'Finalizing',
  'CancelRequested',
  'Completed',
  'Failed',
  'Canceled'
] as const;

export type RunStatus = (typeof STATUSES)[number];

/** Statuses after which a run never changes again. */
export const TERMINAL_STATUSES: ReadonlySet<string> = new Set([
  'Completed',
  'Failed',
  'Canceled'
]);

/** Statuses of a run that has not ended yet. */
export const ACTIVE_STATUSES: readonly string[] = STATUSES.filter(
  s => !TERMINAL_STATUSES.has(s)
);

export function isTerminal(status: string): boolean {
  return TERMINAL_STATUSES.has(status);
}

/** `GET workspace`. */
export interface IWorkspaceInfo {
  workspace: { name: string; folder: string } | null;
  message: string | null;
  fix: string | null;
}

export interface IExperiment {
  name: string;
  run_count: number;
  created_utc: number | null;
  last_run_utc: number | null;
}

/** `GET experiments`. */
export interface IExperimentList {
  experiments: IExperiment[];
}

/** One run as listed (`GET runs`, children of `GET runs/{id}`). */
export interface IRunRow {
  id: string;
  experiment: string;
  number: number;
  display_name: string;
  status: string;
  target: string | null;
  created_utc: number | null;
  started_utc: number | null;
  ended_utc: number | null;
  duration_s: number | null;
  parent_id: string | null;
  script: string | null;
  /** In lists, values are cut to their first 256 characters (see `tags_cut`). */
  tags: Record<string, string | null>;
  /** Tags whose value is cut in this answer; `GET runs/{id}` has them whole. */
  tags_cut?: string[];
  /** The last value of each scalar metric (a non-finite one as a `NonFinite` string). */
  metrics: Record<string, number | string | boolean | null>;
}

/** `GET runs`. */
export interface IRunPage {
  runs: IRunRow[];
  total: number;
  offset: number;
  limit: number;
}

export interface IGitInfo {
  commit: string | null;
  branch: string | null;
  dirty: boolean;
  repository: string | null;
}

/** `GET runs/{id}`. */
export interface IRunDetails extends IRunRow {
  description: string | null;
  arguments: unknown[];
  properties: Record<string, unknown>;
  git: IGitInfo | null;
  error: ({ message: string } & Record<string, unknown>) | null;
  exit_code: number | null;
  has_tensorboard: boolean;
  terminal: boolean;
  children: IRunRow[];
}

/** `GET runs/{id}/log`. */
export interface ILogChunk {
  text: string;
  /** Byte offset of `text` in the log. */
  start: number;
  /** The offset to ask for next. */
  offset: number;
  /** The log's size when it was read. */
  size: number;
  /** True when the run has ended and this chunk reaches the end of its log. */
  terminal: boolean;
}

/** How the API writes a number that is not finite: strict JSON has no NaN or Infinity. */
export type NonFinite = 'NaN' | 'Infinity' | '-Infinity';

export interface IScalarSeries {
  /** A null step means "the point's index in the series" (never in a downsampled one). */
  steps: (number | null)[];
  values: (number | NonFinite)[];
  times: number[];
  /** Values of the series in the answer before any were left out. */
  count?: number;
  /** The server left points out (the first view of a long series): see `count`. */
  downsampled?: boolean;
}

export interface IOtherMetric {
  name: string;
  kind: string;
  value: unknown;
  step: number | null;
  time: number;
}

/** `GET runs/{id}/metrics`: the points logged since `cursor`. */
export interface IMetricPoints {
  scalars: Record<string, IScalarSeries>;
  others: IOtherMetric[];
  cursor: string;
  terminal: boolean;
}

export interface IRunFile {
  name: string;
  size: number;
  live: boolean;
}

/** `GET runs/{id}/files`. */
export interface IFileList {
  files: IRunFile[];
}

/** `GET compute`. */
/** One registered model version (Model.serialize()). */
export interface IModel {
  id: string;
  name: string;
  version: number;
  framework: string | null;
  runId: string | null;
  experimentName: string | null;
  createdTime: string;
  path: string;
  size: number;
  tags: Record<string, string | null>;
}

export interface IModelList {
  models: IModel[];
}

/** `GET datasets`: the latest version of one registered dataset. */
export interface IDataset {
  name: string;
  version: number;
  id: string;
  kind: 'file' | 'tabular';
  /** How many files it was registered with, and their bytes. */
  files: number;
  size: number;
  registered: string;
  description: string | null;
  tags: Record<string, string | null>;
  /** How many runs read or wrote this version. */
  runs: number;
}

export interface IDatasetList {
  datasets: IDataset[];
}

export interface IComputeList {
  targets: { name: string; type: string; status: string }[];
}

/** The filters of a run listing (`GET runs`). */
export interface IRunQuery {
  experiment?: string | null;
  status?: readonly string[];
  tags?: readonly string[];
  q?: string;
  sort?: 'created' | 'started' | 'number';
  order?: 'desc' | 'asc';
  offset?: number;
  limit?: number;
  parent?: string | null;
}

/** What went wrong with a request, sorted for the UI. */
export type ApiErrorKind =
  /** The server extension is not there (404 or an answer that is not JSON). */
  | 'no-server-extension'
  /** The server has no workspace to show. */
  | 'no-workspace'
  /** The server could not be reached. */
  | 'network'
  /** Any other error answer from the API. */
  | 'http';

export const NO_SERVER_EXTENSION_MESSAGE =
  'The aml_jupyter server extension is not running.';
export const NO_SERVER_EXTENSION_FIX =
  'pip install aml-jupyter and restart JupyterLab (check with `jupyter server extension list`).';

/** An error answer of the API, with its message and the fix the server suggests. */
export class AmlApiError extends Error {
  constructor(
    readonly kind: ApiErrorKind,
    message: string,
    readonly fix: string | null = null,
    readonly status: number = 0,
    readonly reason: string = ''
  ) {
    super(message);
    this.name = 'AmlApiError';
  }
}

/** The largest page `GET runs` serves. */
export const MAX_PAGE = 500;

function settings(): ServerConnection.ISettings {
  return ServerConnection.makeSettings();
}

/** The URL of `aml/api/<parts>` (each part is URL-encoded). */
export function apiUrl(...parts: string[]): string {
  return URLExt.join(
    settings().baseUrl,
    'aml/api',
    ...parts.map(p => encodeURIComponent(p))
  );
}

/** The URL of one of a run's files; `download` asks for an attachment. */
export function fileUrl(runId: string, name: string, download = false): string {
  const encoded = name
    .split('/')
    .map(p => encodeURIComponent(p))
    .join('/');
  const url = URLExt.join(
    settings().baseUrl,
    'aml/api/runs',
    encodeURIComponent(runId),
    'files',
    encoded
  );
  return download ? `${url}?download=1` : url;
}

/** A URL the server returned (a path under it, or absolute) made absolute. */
export function serverUrl(path: string): string {
  if (/^https?:\/\//.test(path)) {
    return path;
  }
  const base = settings().baseUrl;
  if (path.startsWith('/')) {
    return new URL(path, base).href;
  }
  return URLExt.join(base, path);
}

type Query = Record<string, string | number | readonly string[] | undefined>;

function queryString(query: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === '') {
      continue;
    }
    if (Array.isArray(value)) {
      for (const v of value) {
        params.append(key, v);
      }
    } else {
      params.append(key, String(value));
    }
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/**
 * One API call: the parsed JSON answer, or an `AmlApiError` that says what
 * went wrong and how to fix it.
 */
export async function request<T>(
  path: string[],
  query: Query = {},
  init: RequestInit = {}
): Promise<T> {
  const url = apiUrl(...path) + queryString(query);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings());
  } catch (error) {
    throw new AmlApiError(
      'network',
      `The Jupyter server could not be reached: ${String(error)}`,
      'Check that JupyterLab is still running.'
    );
  }
  const text = await response.text();
  let data: any = undefined;
  let isJson = false;
  try {
    data = text ? JSON.parse(text) : null;
    isJson = true;
  } catch {
    isJson = false;
  }
  const isOurJson =
    isJson && data !== null && typeof data === 'object' && !Array.isArray(data);
  if (!response.ok) {
    if (isOurJson && typeof data.message === 'string' && data.reason) {
      const kind: ApiErrorKind =
        data.reason === 'no-workspace' ? 'no-workspace' : 'http';
      throw new AmlApiError(
        kind,
        data.message,
        typeof data.fix === 'string' ? data.fix : null,
        response.status,
        String(data.reason)
      );
    }
    if (response.status === 404) {
      throw new AmlApiError(
        'no-server-extension',
        NO_SERVER_EXTENSION_MESSAGE,
        NO_SERVER_EXTENSION_FIX,
        404
      );
    }
    const message =
      isOurJson && typeof data.message === 'string'
        ? data.message
        : `${response.status} ${response.statusText}`;
    throw new AmlApiError('http', message, null, response.status);
  }
  if (!isOurJson) {
    // Something else (a proxy's page, a login page) answered instead of the API.
    throw new AmlApiError(
      'no-server-extension',
      NO_SERVER_EXTENSION_MESSAGE,
      NO_SERVER_EXTENSION_FIX,
      response.status
    );
  }
  return data as T;
}

function json(method: string, body?: unknown): RequestInit {
  return body === undefined
    ? { method }
    : {
        method,
        body: JSON.stringify(body),
        headers: { 'Content-Type': 'application/json' }
      };
}

export function getWorkspace(): Promise<IWorkspaceInfo> {
  return request<IWorkspaceInfo>(['workspace']);
}

export function getExperiments(): Promise<IExperimentList> {
  return request<IExperimentList>(['experiments']);
}

export function getRuns(query: IRunQuery = {}): Promise<IRunPage> {
  return request<IRunPage>(['runs'], {
    experiment: query.experiment ?? undefined,
    status: query.status && query.status.length ? query.status.join(',') : undefined,
    tag: query.tags,
    q: query.q?.trim() || undefined,
    sort: query.sort,
    order: query.order,
    offset: query.offset,
    limit: query.limit,
    parent: query.parent ?? undefined
  });
}

export function getRun(id: string): Promise<IRunDetails> {
  return request<IRunDetails>(['runs', id]);
}

/** The log from `offset`, or (no offset) its last `tail` bytes. */
export function getLog(
  id: string,
  from: { offset: number } | { tail: number }
): Promise<ILogChunk> {
  return request<ILogChunk>(['runs', id, 'log'], { ...from });
}

/** Points a chart asks for: about two a pixel of a wide chart. */
export const CHART_POINTS = 2000;

/**
 * The points logged since `cursor`; without one, all, with long series downsampled
 * on the server to `CHART_POINTS` (they say `downsampled` and their full `count`).
 */
export function getMetrics(id: string, cursor?: string | null): Promise<IMetricPoints> {
  return request<IMetricPoints>(['runs', id, 'metrics'], {
    cursor: cursor ?? undefined,
    points: cursor ? undefined : CHART_POINTS
  });
}

/** One metric's points with x (step, or index) from `from` to `to`: a zoomed chart's. */
export async function getMetricRange(
  id: string,
  metric: string,
  from: number,
  to: number,
  points: number = CHART_POINTS
): Promise<IScalarSeries | null> {
  const answer = await request<IMetricPoints>(['runs', id, 'metrics'], {
    metric,
    from_step: Math.floor(from),
    to_step: Math.ceil(to),
    points
  });
  return answer.scalars[metric] ?? null;
}

/** Creates the workspace this server shows (in its root folder); answers like `getWorkspace`. */
export function createWorkspace(): Promise<IWorkspaceInfo> {
  return request<IWorkspaceInfo>(['workspace'], {}, json('POST'));
}

export function getFiles(id: string): Promise<IFileList> {
  return request<IFileList>(['runs', id, 'files']);
}

export function cancelRun(id: string): Promise<{ status: string }> {
  return request<{ status: string }>(['runs', id, 'cancel'], {}, json('POST'));
}

export function editTags(
  id: string,
  change: { set?: Record<string, string | null>; remove?: string[] }
): Promise<{ tags: Record<string, string | null> }> {
  return request<{ tags: Record<string, string | null> }>(
    ['runs', id, 'tags'],
    {},
    json('PATCH', change)
  );
}

export function startTensorboard(id: string): Promise<{ url: string }> {
  return request<{ url: string }>(['runs', id, 'tensorboard'], {}, json('POST'));
}

export function getCompute(): Promise<IComputeList> {
  return request<IComputeList>(['compute']);
}

/** The latest version of each registered model, newest first. */
export function getModels(): Promise<IModelList> {
  return request<IModelList>(['models'], { latest: '1' });
}

/** The latest version of each registered dataset, by name. */
export function getDatasets(): Promise<IDatasetList> {
  return request<IDatasetList>(['datasets']);
}

// ---- the model page and the Services section ----------------------------------------------

/** One version of a model name, as its page lists them. */
export interface IModelVersion {
  version: number;
  createdTime: string;
  runId: string | null;
}

/** A service that serves a model version. */
export interface IDeployment {
  name: string;
  state: string;
  scoring_uri: string;
}

/** `GET models/{name}/{version}`: one version with what its page shows. */
export interface IModelDetails extends IModel {
  description: string | null;
  frameworkVersion: string | null;
  isFolder: boolean;
  fileCount: number;
  properties: Record<string, string>;
  files: string[];
  /** Every version of the name, newest first. */
  versions: IModelVersion[];
  deployments: IDeployment[];
  /** The datasets it was trained on (none are recorded until datasets exist). */
  datasets: unknown[];
}

/** Requests a service has answered (LocalWebservice.get_stats()). */
export interface IServiceStats {
  requests: number;
  errors: number;
  by_status: Record<string, number>;
  p50_ms: number | null;
  p95_ms: number | null;
  max_ms: number | null;
}

/** One local scoring service (`GET services`). */
export interface IService {
  name: string;
  /** Healthy, Transitioning, Unhealthy or Failed. */
  state: string;
  scoring_uri: string;
  /** The deployed models' ids (`name:version`). */
  models: string[];
  workers: number;
  stats: IServiceStats;
}

export function getModelDetails(name: string, version: number): Promise<IModelDetails> {
  return request<IModelDetails>(['models', name, String(version)]);
}

export function getServices(): Promise<{ services: IService[] }> {
  return request<{ services: IService[] }>(['services']);
}

/** The last `lines` lines of a service's log. */
export function getServiceLogs(name: string, lines = 200): Promise<{ name: string; logs: string }> {
  return request<{ name: string; logs: string }>(['services', name, 'logs'], { lines });
}

/** Stops the service and forgets it. */
export function deleteService(name: string): Promise<{ deleted: string }> {
  return request<{ deleted: string }>(['services', name], {}, json('DELETE'));
}

/** The latest version of one model name, if it is registered. */
export async function getLatestVersion(name: string): Promise<number | null> {
  const { models } = await request<IModelList>(['models'], { name, latest: '1' });
  return models.length ? models[0].version : null;
}
