/**
 * Recognition events as they travel over MQTT: versioned JSON, one shape per `type`.
 * The JSON Schema in `event.schema.json` describes exactly these types; change both together.
 */
import type { Box } from '../types';

/** The event format's major version; a breaking change bumps it, an added optional field does not. */
export const EVENT_SCHEMA_VERSION = 1 as const;

/** Every event type, in the order the docs list them. */
export const EVENT_TYPES = ['recognition', 'recognition_update', 'track_ended', 'camera_online', 'camera_offline', 'error'] as const;

/** One of {@link EVENT_TYPES}; also the last level of the event's MQTT topic. */
export type EventType = (typeof EVENT_TYPES)[number];

/** An enrolled person a face was matched to. `null` in its place means "unknown". */
export interface Identity {
  personId: string;
  name: string;
}

/** How good the face behind an event was: the detector's confidence and the face's size in pixels. */
export interface FaceQuality {
  /** Detector confidence, 0..1. */
  detectionScore: number;
  /** The shorter side of the face box, in frame pixels. */
  faceSize: number;
}

/** A face crop, only present when the publisher is configured to include face images. */
export interface FaceImage {
  mime: 'image/jpeg' | 'image/png';
  /** The encoded image, base64. */
  data: string;
  width: number;
  height: number;
}

/** Fields every event has. */
export interface EventBase<T extends EventType> {
  schemaVersion: typeof EVENT_SCHEMA_VERSION;
  /** UUID v7: unique (subscribers deduplicate on it) and sortable by creation time. */
  id: string;
  type: T;
  /** When it happened, ISO 8601 UTC with milliseconds (`2025-05-01T12:00:00.000Z`). */
  time: string;
  device: string;
  camera: string;
}

/** What a recognition (or its update) says about one tracked face. */
export interface FaceObservation {
  /** Unique per camera and device run, e.g. `door-17`. */
  trackId: string;
  identity: Identity | null;
  /** Cosine similarity of the best gallery match (-1..1); `null` when the gallery is empty. */
  similarity: number | null;
  /** x1, y1, x2, y2 in the frame's pixels. */
  box: Box;
  frame?: { width: number; height: number };
  quality?: FaceQuality;
  face?: FaceImage;
}

/**
 * A track's identity was decided for the first time: one per person per track.
 *
 * @example
 * ```ts
 * sub.on('recognition', (e: RecognitionEvent) => console.log(e.identity?.name ?? 'unknown', e.similarity));
 * ```
 */
export interface RecognitionEvent extends EventBase<'recognition'>, FaceObservation {}

/** A track's identity firmed up or changed after its recognition event. */
export interface RecognitionUpdateEvent extends EventBase<'recognition_update'>, FaceObservation {
  previousIdentity: Identity | null;
}

/** A track left the view (or was lost); carries its final identity. */
export interface TrackEndedEvent extends EventBase<'track_ended'> {
  trackId: string;
  identity: Identity | null;
  similarity: number | null;
  firstSeen: string;
  lastSeen: string;
  /** Frames in which the track was seen. */
  frames: number;
}

/** A camera started delivering frames (first time or after a reconnect). */
export interface CameraOnlineEvent extends EventBase<'camera_online'> {
  /** What the camera is (e.g. `rtsp`, `v4l2:/dev/video0`); never credentials. */
  source?: string;
}

/** A camera stopped delivering frames. */
export interface CameraOfflineEvent extends EventBase<'camera_offline'> {
  reason: string;
}

/** A failure on the device that a backend should know about (a camera that never opens, a model error). */
export interface DeviceErrorEvent extends EventBase<'error'> {
  /** `code` is a stable jetface error code such as `E_MODEL_LOAD`. */
  error: { code: string; message: string };
}

/**
 * Any jetface event; narrow on `type`.
 *
 * @example
 * ```ts
 * function label(e: JetfaceEvent): string {
 *   return e.type === 'recognition' ? (e.identity?.name ?? 'unknown') : e.type;
 * }
 * ```
 */
export type JetfaceEvent = RecognitionEvent | RecognitionUpdateEvent | TrackEndedEvent | CameraOnlineEvent | CameraOfflineEvent | DeviceErrorEvent;

/** The event type named `T`. */
export type EventOfType<T extends EventType> = Extract<JetfaceEvent, { type: T }>;

/** Event type → event, for typed listeners. */
export type JetfaceEventMap = { [T in EventType]: EventOfType<T> };

type Defaulted = 'schemaVersion' | 'id' | 'time' | 'device';

/**
 * An event before the SDK stamps it: `schemaVersion` is always filled in, `id`, `time` and `device`
 * when absent.
 *
 * @example
 * ```ts
 * const draft: EventDraft = { type: 'camera_offline', camera: 'door', reason: 'rtsp timeout' };
 * ```
 */
export type EventDraft = JetfaceEvent extends infer E
  ? E extends JetfaceEvent
    ? Omit<E, Defaulted> & { schemaVersion?: typeof EVENT_SCHEMA_VERSION; id?: string; time?: string; device?: string }
    : never
  : never;
