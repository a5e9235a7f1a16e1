/**
 * Typed errors with stable codes. Every error jetface throws is a {@link JetfaceError}; callers
 * branch on `code`, which never changes between releases, never on the message.
 *
 * @example
 * ```ts
 * try { await FaceEngine.create('models/missing'); }
 * catch (e) { if (e instanceof JetfaceError && e.code === 'E_BUNDLE_NOT_FOUND') console.error(e.message); }
 * ```
 */
export type JetfaceErrorCode =
  | 'E_BUNDLE_NOT_FOUND'
  | 'E_MANIFEST_INVALID'
  | 'E_MODEL_CHECKSUM'
  | 'E_MODEL_LOAD'
  | 'E_CONTRACT'
  | 'E_PROVIDER_UNAVAILABLE'
  | 'E_INVALID_ARGUMENT'
  | 'E_FRAME_INVALID'
  | 'E_IMAGE_DECODE'
  | 'E_ENGINE_CLOSED'
  | 'E_WORKER'
  | 'E_INPUT_FILE'
  | 'E_EVENT_INVALID'
  | 'E_MQTT_AUTH'
  | 'E_MQTT_CONNECT'
  | 'E_OUTBOX'
  | 'E_OUTBOX_LOCKED'
  | 'E_CLOSED'
  | 'E_CAMERA_OPEN'
  | 'E_CAMERA_STREAM'
  | 'E_CAPTURE_BACKEND_UNAVAILABLE'
  | 'E_WAIT_TIMEOUT'
  | 'E_PIPELINE'
  | 'E_COMMAND_REFUSED'
  | 'E_COMMAND_FAILED'
  | 'E_COMMAND_REMOTE'
  | 'E_GALLERY_CORRUPT'
  | 'E_GALLERY_FOREIGN'
  | 'E_GALLERY_BUSY'
  | 'E_GALLERY_MODEL_MISMATCH'
  | 'E_PERSON_NOT_FOUND'
  | 'E_CONFIG_INVALID'
  | 'E_DOCTOR_FAILED'
  | 'E_NOTHING_ENROLLED'
  | 'E_DEMO_NOTHING_RECOGNIZED'
  | 'E_CAMERAS_FAILED'
  | 'E_CONSOLE';

/** Details a caller may inspect; always JSON-serializable so errors survive the worker hop. */
export type ErrorDetails = Record<string, unknown>;

export class JetfaceError extends Error {
  readonly code: JetfaceErrorCode;
  readonly details: ErrorDetails;

  constructor(code: JetfaceErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }

  /** Plain object form for postMessage / JSON output. */
  toJSON(): { name: string; code: JetfaceErrorCode; message: string; details: ErrorDetails } {
    return { name: this.name, code: this.code, message: this.message, details: this.details };
  }
}

/** The bundle folder or one of its files does not exist. */
export class BundleNotFoundError extends JetfaceError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('E_BUNDLE_NOT_FOUND', message, details);
  }
}

/** One manifest issue: where (a JSON path like `thresholds.nmsIou`), what was expected, what was found. */
export interface ManifestIssue {
  path: string;
  message: string;
}

/** manifest.json is not valid JSON or breaks the schema; `issues` lists every problem found. */
export class ManifestError extends JetfaceError {
  readonly issues: readonly ManifestIssue[];

  constructor(file: string, issues: readonly ManifestIssue[]) {
    const lines = issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n');
    super('E_MANIFEST_INVALID', `invalid bundle manifest ${file}:\n${lines}`, { file, issues });
    this.issues = issues;
  }
}

/** A model file's sha256 differs from the manifest's: the file was changed, truncated or swapped. */
export class ChecksumError extends JetfaceError {
  constructor(file: string, expected: string, actual: string) {
    super('E_MODEL_CHECKSUM', `model file ${file} has sha256 ${actual}, the manifest expects ${expected}`, {
      file,
      expected,
      actual,
    });
  }
}

/** onnxruntime could not load a model file (corrupt, truncated, unsupported opset). */
export class ModelLoadError extends JetfaceError {
  constructor(message: string, details: ErrorDetails = {}, cause?: unknown) {
    super('E_MODEL_LOAD', message, details, { cause });
  }
}

/** A model's inputs/outputs do not match what the manifest promises. */
export class ContractError extends JetfaceError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('E_CONTRACT', message, details);
  }
}

/** No execution provider that was asked for could be loaded; `attempts` says why for each one. */
export class ProviderUnavailableError extends JetfaceError {
  constructor(attempts: readonly { provider: string; reason: string }[]) {
    const lines = attempts.map((a) => `  - ${a.provider}: ${a.reason}`).join('\n');
    super('E_PROVIDER_UNAVAILABLE', `no execution provider could be loaded:\n${lines}`, { attempts });
  }
}

/** A function argument or option is out of its range; names the parameter, expected and actual values. */
export class InvalidArgumentError extends JetfaceError {
  constructor(name: string, expected: string, actual: unknown) {
    super('E_INVALID_ARGUMENT', `expected ${name} to be ${expected} but received ${describe(actual)}`, {
      name,
      expected,
      actual: describe(actual),
    });
  }
}

/** A frame whose buffer does not match its declared size or format. */
export class FrameError extends JetfaceError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('E_FRAME_INVALID', message, details);
  }
}

/** An image file could not be decoded. */
export class ImageDecodeError extends JetfaceError {
  constructor(file: string, cause: unknown) {
    super('E_IMAGE_DECODE', `cannot decode image ${file}: ${errorMessage(cause)}`, { file }, { cause });
  }
}

/** A data file given to a command (pairs list, ground truth) is missing or malformed. */
export class InputFileError extends JetfaceError {
  constructor(file: string, message: string, details: ErrorDetails = {}) {
    super('E_INPUT_FILE', `${file}: ${message}`, { file, ...details });
  }
}

/** The engine was used after close(). */
export class EngineClosedError extends JetfaceError {
  constructor() {
    super('E_ENGINE_CLOSED', 'the engine is closed');
  }
}

/** The inference worker died or failed outside a request. */
export class WorkerError extends JetfaceError {
  constructor(message: string, details: ErrorDetails = {}, cause?: unknown) {
    super('E_WORKER', message, details, { cause });
  }
}

/** One schema violation in an event: a JSON pointer into the event and what is wrong there. */
export interface EventIssue {
  path: string;
  message: string;
}

/** An event breaks the event JSON Schema; `issues` lists every violation found. */
export class EventValidationError extends JetfaceError {
  readonly issues: readonly EventIssue[];

  constructor(issues: readonly EventIssue[], details: ErrorDetails = {}) {
    const lines = issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n');
    super('E_EVENT_INVALID', `invalid jetface event:\n${lines}`, { issues, ...details });
    this.issues = issues;
  }
}

/** The MQTT broker refused the credentials (CONNACK "bad user name or password" / "not authorized"). */
export class BrokerAuthError extends JetfaceError {
  constructor(url: string, reasonCode: number, message: string) {
    super('E_MQTT_AUTH', `the MQTT broker at ${url} refused the connection: ${message} (reason code ${reasonCode}); check the username/password or client certificate`, {
      url,
      reasonCode,
    });
  }
}

/** The MQTT broker could not be reached or the connection failed for another reason than credentials. */
export class BrokerConnectionError extends JetfaceError {
  constructor(url: string, message: string, details: ErrorDetails = {}, cause?: unknown) {
    super('E_MQTT_CONNECT', `cannot connect to the MQTT broker at ${url}: ${message}`, { url, ...details }, { cause });
  }
}

/** The durable event outbox could not be read or written. */
export class OutboxError extends JetfaceError {
  constructor(file: string, message: string, cause?: unknown) {
    super('E_OUTBOX', `event outbox ${file}: ${message}`, { file }, { cause });
  }
}

/** Another live process holds the outbox file; two writers would corrupt it. */
export class OutboxLockedError extends JetfaceError {
  constructor(file: string, pid: number) {
    super('E_OUTBOX_LOCKED', `event outbox ${file} is in use by process ${pid}; give each publisher its own outbox file`, { file, pid });
  }
}

/** A publisher or subscriber was used after close(). */
export class ClosedError extends JetfaceError {
  constructor(what: string) {
    super('E_CLOSED', `the ${what} is closed`, { what });
  }
}

/**
 * A camera, stream or video file failed: it never opened (`E_CAMERA_OPEN`) or its stream broke
 * after frames flowed (`E_CAMERA_STREAM`: truncated, garbage, stalled, process died).
 */
export class CameraError extends JetfaceError {
  constructor(code: 'E_CAMERA_OPEN' | 'E_CAMERA_STREAM', message: string, details: ErrorDetails = {}, cause?: unknown) {
    super(code, message, details, { cause });
  }
}

/** The source could not be opened, or gave no frame within its open timeout. */
export class CameraOpenError extends CameraError {
  constructor(message: string, details: ErrorDetails = {}, cause?: unknown) {
    super('E_CAMERA_OPEN', message, details, cause);
  }
}

/** The source opened, then its stream broke (truncated or corrupt data, a stall, the capture process died). */
export class CameraStreamError extends CameraError {
  constructor(message: string, details: ErrorDetails = {}, cause?: unknown) {
    super('E_CAMERA_STREAM', message, details, cause);
  }
}

/** A capture backend (ffmpeg, gst-launch-1.0, @u4/opencv4nodejs) is not installed; the message says how to install it. */
export class CaptureBackendUnavailableError extends JetfaceError {
  constructor(backend: string, reason: string, fix: string) {
    super('E_CAPTURE_BACKEND_UNAVAILABLE', `capture backend ${backend} is unavailable: ${reason}. Fix: ${fix}`, { backend, reason, fix });
  }
}

/** A wait (for an event, a state) ran past its time limit. */
export class WaitTimeoutError extends JetfaceError {
  constructor(what: string, timeoutMs: number) {
    super('E_WAIT_TIMEOUT', `timed out after ${timeoutMs} ms waiting for ${what}`, { what, timeoutMs });
  }
}

/** Why a remote command was refused (never executed); see {@link CommandRefusedError}. */
export type CommandRefusalReason = 'too_large' | 'json' | 'shape' | 'hmac' | 'client' | 'revoked' | 'stale' | 'replay' | 'verb' | 'response_topic';

/** A remote command (MQTT) was refused and not executed: `reason` (also in `details`) says why. */
export class CommandRefusedError extends JetfaceError {
  readonly reason: CommandRefusalReason;

  constructor(reason: CommandRefusalReason, message: string, details: ErrorDetails = {}) {
    super('E_COMMAND_REFUSED', `command refused (${reason}): ${message}`, { reason, ...details });
    this.reason = reason;
  }
}

/** An authorized remote command's handler failed (threw a non-jetface error or returned something not JSON-serializable). */
export class CommandFailedError extends JetfaceError {
  constructor(verb: string, message: string, cause?: unknown) {
    super('E_COMMAND_FAILED', `command ${verb} failed: ${message}`, { verb }, { cause });
  }
}

/**
 * A device answered a command `ok: false` (refused it, or its handler failed), or answered with a
 * signature this client cannot verify. `details.remoteCode` is the device's error code
 * (`E_COMMAND_REFUSED`, `E_PERSON_NOT_FOUND`, ...) and `details.reason` a refusal's reason.
 */
export class RemoteCommandError extends JetfaceError {
  constructor(device: string, verb: string, message: string, details: { remoteCode: string; reason?: string; verified: boolean }) {
    super('E_COMMAND_REMOTE', `device ${device} answered ${verb}: ${message}`, { device, verb, ...details });
  }
}

/** The gallery file is not a readable SQLite database (truncated, overwritten, encrypted). The file is left untouched. */
export class GalleryCorruptError extends JetfaceError {
  constructor(path: string, reason: string, cause?: unknown) {
    super('E_GALLERY_CORRUPT', `gallery ${path} is not a readable jetface gallery: ${reason}; the file was left untouched`, { path, reason }, { cause });
  }
}

/** The file is a SQLite database, but not a jetface gallery (or one from a newer jetface). The file is left untouched. */
export class GalleryForeignError extends JetfaceError {
  constructor(path: string, reason: string) {
    super('E_GALLERY_FOREIGN', `gallery ${path} is not a jetface gallery this version can open: ${reason}; the file was left untouched`, { path, reason });
  }
}

/** Embeddings from one model were offered to, or matched against, a gallery enrolled with another: re-enroll instead of mixing embedding spaces. */
export class GalleryModelMismatchError extends JetfaceError {
  constructor(expected: string, actual: string, what: string) {
    super('E_GALLERY_MODEL_MISMATCH', `${what}: the gallery holds embeddings of model ${expected}, not ${actual}; re-enroll with the new model`, { expected, actual });
  }
}

/** No enrolled person has this id. */
export class PersonNotFoundError extends JetfaceError {
  constructor(personId: string) {
    super('E_PERSON_NOT_FOUND', `no enrolled person has id ${JSON.stringify(personId)}`, { personId });
  }
}

/** One problem in a configuration: where, what was expected, what was found. */
export interface ConfigIssue {
  /** Dotted path into the configuration, e.g. `cameras[1].source.url`. */
  path: string;
  expected: string;
  message: string;
}

/** A configuration (file or object) is invalid: `issues` lists every problem with its path. */
export class ConfigError extends JetfaceError {
  readonly issues: ConfigIssue[];

  constructor(source: string, issues: ConfigIssue[]) {
    super('E_CONFIG_INVALID', `invalid configuration ${source}:\n${issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n')}`, { source, issues });
    this.issues = issues;
  }
}

/** `jetface doctor` found required checks failing; `failed` names them (each with its fix in the report). */
export class DoctorFailedError extends JetfaceError {
  readonly failed: string[];

  constructor(failed: string[]) {
    super('E_DOCTOR_FAILED', `${failed.length} required check${failed.length === 1 ? '' : 's'} failed: ${failed.join(', ')}`, { failed });
    this.failed = failed;
  }
}

/** An enrollment job enrolled no embedding: every photo was refused (`refused` lists why). */
export class NothingEnrolledError extends JetfaceError {
  constructor(refused: readonly { source: string; reason: string }[]) {
    super('E_NOTHING_ENROLLED', `nothing was enrolled: ${refused.length} photo${refused.length === 1 ? ' was' : 's were'} refused${refused.length ? ` (${refused.slice(0, 5).map((r) => `${r.source}: ${r.reason}`).join('; ')}${refused.length > 5 ? '; ...' : ''})` : ''}`, { refused: refused.map((r) => ({ ...r })) });
  }
}

/** `jetface demo --headless` recognized nobody; the message says why (no face found, none good enough to enroll, ...). */
export class DemoNothingRecognizedError extends JetfaceError {
  constructor(reason: string, details: ErrorDetails = {}) {
    super('E_DEMO_NOTHING_RECOGNIZED', `the demo recognized nobody: ${reason}`, { reason, ...details });
  }
}

/** `jetface run` ended because cameras failed (never opened, or out of reconnect attempts), not because it was asked to stop. */
export class CamerasFailedError extends JetfaceError {
  readonly cameras: string[];

  constructor(cameras: readonly string[]) {
    super('E_CAMERAS_FAILED', `camera${cameras.length === 1 ? '' : 's'} ${cameras.join(', ')} failed; see the log for why`, { cameras: [...cameras] });
    this.cameras = [...cameras];
  }
}

/**
 * Another connection (usually another process) holds the gallery file: opening it found it locked,
 * or a deletion committed but the WAL could not be truncated, so old copies of the deleted pages may
 * still be in the -wal file until a later checkpoint (`vacuum()`, `close()`) succeeds.
 */
export class GalleryBusyError extends JetfaceError {
  constructor(path: string, reason: string, cause?: unknown) {
    super('E_GALLERY_BUSY', `gallery ${path} is held by another process or connection: ${reason}`, { path, reason }, { cause });
  }
}

/** The device console could not start (port taken, unreadable TLS files or password hash, missing web assets). */
export class ConsoleError extends JetfaceError {
  constructor(message: string, details: ErrorDetails = {}, cause?: unknown) {
    super('E_CONSOLE', message, details, { cause });
  }
}

const BY_NAME: Record<string, new (...args: never[]) => JetfaceError> = {
  BundleNotFoundError,
  ManifestError,
  ChecksumError,
  ModelLoadError,
  ContractError,
  ProviderUnavailableError,
  InvalidArgumentError,
  FrameError,
  ImageDecodeError,
  InputFileError,
  EngineClosedError,
  WorkerError,
  EventValidationError,
  BrokerAuthError,
  BrokerConnectionError,
  OutboxError,
  OutboxLockedError,
  ClosedError,
  CameraError,
  CameraOpenError,
  CameraStreamError,
  CaptureBackendUnavailableError,
  WaitTimeoutError,
  CommandRefusedError,
  CommandFailedError,
  RemoteCommandError,
  GalleryCorruptError,
  GalleryForeignError,
  GalleryBusyError,
  GalleryModelMismatchError,
  PersonNotFoundError,
  ConfigError,
  DoctorFailedError,
  NothingEnrolledError,
  DemoNothingRecognizedError,
  CamerasFailedError,
  ConsoleError,
};

/** Serialized error, as it crosses the worker boundary. */
export interface SerializedError {
  name: string;
  code?: string;
  message: string;
  details?: ErrorDetails;
  stack?: string;
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof JetfaceError) return { ...error.toJSON(), ...(error.stack ? { stack: error.stack } : {}) };
  if (error instanceof Error) return { name: error.name, message: error.message, ...(error.stack ? { stack: error.stack } : {}) };
  return { name: 'Error', message: String(error) };
}

/**
 * Rebuilds a typed error on the caller's side of a worker hop. The stack is the caller's own
 * (captured where the request was made) followed by the worker's, so a stack trace points at
 * the line of user code that asked.
 */
export function reviveError(serialized: SerializedError, callerStack: string | undefined): JetfaceError {
  const Known = BY_NAME[serialized.name];
  const error: JetfaceError = Object.create((Known ?? WorkerError).prototype);
  Object.assign(error, {
    name: Known ? serialized.name : 'WorkerError',
    message: serialized.message,
    code: (serialized.code as JetfaceErrorCode | undefined) ?? 'E_WORKER',
    details: serialized.details ?? {},
  });
  if (serialized.name === 'ManifestError') Object.assign(error, { issues: serialized.details?.['issues'] ?? [] });
  const callerFrames = callerStack?.split('\n').slice(1).join('\n') ?? '';
  const workerFrames = serialized.stack?.split('\n').slice(1).join('\n') ?? '';
  Object.defineProperty(error, 'stack', {
    value: `${error.name}: ${error.message}\n${callerFrames}${workerFrames ? `\n    --- in the inference worker ---\n${workerFrames}` : ''}`,
    writable: true,
    configurable: true,
  });
  return error;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return 'undefined';
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${value.byteLength} bytes)`;
  try {
    const json = JSON.stringify(value);
    return json === undefined ? String(value) : json.length > 80 ? `${json.slice(0, 77)}...` : json;
  } catch {
    return String(value);
  }
}
