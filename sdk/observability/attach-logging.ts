/**
 * Logs what a device's parts report through their typed events: cameras going online, offline
 * and reconnecting, the broker connection, dropped events, refused commands, pipeline failures.
 * Each line has a `component` (`camera`, `pipeline`, `publisher`, `commands`) and, where there is
 * one, a `camera`.
 */
import type { FrameSource, SourceEndEvent, SourceOfflineEvent, SourceOnlineEvent, SourceReconnectingEvent } from '../capture/types';
import { JetfaceError, type CommandRefusedError } from '../errors';
import type { JetfaceEvent } from '../events/types';
import type { CommandChannel, CommandContext, CommandResponse } from '../mqtt/commands';
import type { EventPublisher } from '../mqtt/publisher';
import type { Pipeline, PipelineEvents, PipelineSinkError } from '../pipeline/pipeline';
import type { Logger } from './logger';

/** The parts {@link attachLogging} listens to; each is optional. */
export interface LoggedParts {
  pipeline?: Pipeline;
  publisher?: EventPublisher;
  commands?: CommandChannel;
  /** Sources to log in detail (reconnect attempts, each error). A pipeline's cameras are logged from its events either way. */
  sources?: readonly FrameSource[];
}

/** Options of {@link attachLogging}. */
export interface AttachLoggingOptions {
  /** Log each recognition at `info` with its person id (default true); names are never logged. */
  recognitions?: boolean;
}

/**
 * Subscribes `logger` to the parts' events; returns a function that unsubscribes.
 *
 * @example
 * ```ts
 * const logger = createLogger({ format: 'json', base: { device: 'jetson-1' } });
 * const detach = attachLogging(logger, { pipeline, publisher });
 * await pipeline.start();
 * // {"level":"warn","time":"...","device":"jetson-1","component":"pipeline","camera":"door","reason":"no frame for 10 s","msg":"camera offline"}
 * detach();
 * ```
 */
export function attachLogging(logger: Logger, parts: LoggedParts, options: AttachLoggingOptions = {}): () => void {
  const undo: (() => void)[] = [];
  if (parts.pipeline) undo.push(logPipeline(logger.child({ component: 'pipeline' }), parts.pipeline, options.recognitions ?? true));
  if (parts.publisher) undo.push(logPublisher(logger.child({ component: 'publisher' }), parts.publisher));
  if (parts.commands) undo.push(logCommands(logger.child({ component: 'commands' }), parts.commands));
  for (const source of parts.sources ?? []) undo.push(logSource(logger.child({ component: 'camera', camera: source.cameraId }), source));
  return () => {
    for (const u of undo.splice(0)) u();
  };
}

/** `{ code, message }` of any error, for the `err` field. */
function errorFields(error: unknown): { code: string; message: string } {
  if (error instanceof JetfaceError) return { code: error.code, message: error.message };
  return { code: 'E_UNKNOWN', message: error instanceof Error ? error.message : String(error) };
}

function logPipeline(log: Logger, pipeline: Pipeline, recognitions: boolean): () => void {
  const onEvent = (e: JetfaceEvent): void => {
    const at = { camera: e.camera, eventId: e.id };
    switch (e.type) {
      case 'camera_online':
        log.info({ ...at, source: e.source }, 'camera online');
        break;
      case 'camera_offline':
        log.warn({ ...at, reason: e.reason }, 'camera offline');
        break;
      case 'error':
        log.error({ ...at, err: e.error }, 'pipeline error');
        break;
      case 'recognition':
        if (recognitions) log.info({ ...at, trackId: e.trackId, personId: e.identity?.personId ?? null, similarity: e.similarity }, e.identity ? 'person recognized' : 'unknown face');
        break;
      case 'recognition_update':
        log.debug({ ...at, trackId: e.trackId, personId: e.identity?.personId ?? null, previousPersonId: e.previousIdentity?.personId ?? null }, 'identity changed');
        break;
      case 'track_ended':
        log.debug({ ...at, trackId: e.trackId, personId: e.identity?.personId ?? null, frames: e.frames }, 'track ended');
        break;
    }
  };
  const onSinkError = (e: PipelineSinkError): void => log.warn({ camera: e.camera, sink: e.sink, eventId: e.event.id, eventType: e.event.type, err: errorFields(e.error) }, 'sink failed an event');
  const onEnd = (e: PipelineEvents['camera_end']): void => {
    const fields = { camera: e.camera, state: e.state, ...(e.error ? { err: errorFields(e.error) } : {}) };
    if (e.state === 'failed') log.error(fields, 'camera loop failed');
    else log.info(fields, 'camera loop ended');
  };
  pipeline.on('event', onEvent).on('sink_error', onSinkError).on('camera_end', onEnd);
  return () => void pipeline.off('event', onEvent).off('sink_error', onSinkError).off('camera_end', onEnd);
}

function logPublisher(log: Logger, publisher: EventPublisher): () => void {
  // A broker that stays away fails every retry alike: warn once per outage, the retries at debug.
  let failing = false;
  const onConnect = (): void => {
    failing = false;
    log.info({ outboxDepth: publisher.stats().outboxDepth }, 'connected to the broker');
  };
  const onDisconnect = (): void => log.warn({ outboxDepth: publisher.stats().outboxDepth }, 'disconnected from the broker; events wait in the outbox');
  const onError = (error: JetfaceError): void => {
    (failing ? log.debug.bind(log) : log.warn.bind(log))({ err: errorFields(error), outboxDepth: publisher.stats().outboxDepth }, 'broker connection failed');
    failing = true;
  };
  const onDrop = (event: JetfaceEvent): void => log.warn({ camera: event.camera, eventId: event.id, eventType: event.type }, 'outbox full: oldest event dropped');
  publisher.on('connect', onConnect).on('disconnect', onDisconnect).on('error', onError).on('drop', onDrop);
  return () => void publisher.off('connect', onConnect).off('disconnect', onDisconnect).off('error', onError).off('drop', onDrop);
}

function logCommands(log: Logger, commands: CommandChannel): () => void {
  const onRefused = (error: CommandRefusedError): void => log.warn({ err: errorFields(error), reason: error.reason }, 'command refused');
  const onExecuted = (context: CommandContext, response: CommandResponse): void =>
    (response.ok ? log.info.bind(log) : log.warn.bind(log))({ commandId: context.id, verb: context.verb, clientId: context.clientId, ok: response.ok }, 'command executed');
  const onConnect = (): void => log.info('command channel connected');
  const onDisconnect = (): void => log.warn('command channel disconnected');
  commands.on('refused', onRefused).on('executed', onExecuted).on('connect', onConnect).on('disconnect', onDisconnect);
  return () => void commands.off('refused', onRefused).off('executed', onExecuted).off('connect', onConnect).off('disconnect', onDisconnect);
}

function logSource(log: Logger, source: FrameSource): () => void {
  const onOnline = (e: SourceOnlineEvent): void => log.info({ width: e.width, height: e.height, session: e.session, backend: source.backend }, 'frames flowing');
  const onOffline = (e: SourceOfflineEvent): void => log.warn({ ...(e.error ? { err: errorFields(e.error) } : {}) }, 'no frames');
  const onReconnecting = (e: SourceReconnectingEvent): void => log.warn({ attempt: e.attempt, delayMs: Math.round(e.delayMs), ...(e.error ? { err: errorFields(e.error) } : {}) }, 'reconnecting');
  const onError = (error: JetfaceError): void => log.warn({ err: errorFields(error) }, 'camera error');
  const onEnd = (e: SourceEndEvent): void => (e.reason === 'failed' ? log.error.bind(log) : log.info.bind(log))({ reason: e.reason, ...(e.error ? { err: errorFields(e.error) } : {}) }, 'source ended');
  source.on('online', onOnline).on('offline', onOffline).on('reconnecting', onReconnecting).on('error', onError).on('end', onEnd);
  return () => void source.off('online', onOnline).off('offline', onOffline).off('reconnecting', onReconnecting).off('error', onError).off('end', onEnd);
}
