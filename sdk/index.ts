/**
 * jetface SDK: face detection + recognition in one pass, for Jetson-class edge devices.
 *
 * @example
 * ```ts
 * import { FaceEngine, loadImageFrame } from 'jetface';
 * const engine = await FaceEngine.create('models/jetface-s');
 * const faces = await engine.detect(await loadImageFrame('photo.jpg'));
 * ```
 */
export * from './errors';
export * from './types';
export { FaceEngine, type FaceEngineOptions, type EngineInfo, type DetectResult } from './engine/face-engine';
export { placeFrame, type InputSizePolicy, type InputPlacement } from './engine/input-size';
export { DEFAULT_PROVIDER_ORDER, EXECUTION_PROVIDERS, type ExecutionProviderName, type ProviderAttempt } from './engine/providers';
export { loadBundle, sha256File, MANIFEST_FILE, type ModelBundle, type BundleModelFile } from './bundle/load-bundle';
export { parseManifest, MANIFEST_FORMAT_VERSION, type BundleManifest, type BundleManifestInput, type CascadeManifest, type JointManifest, type TensorInputSpec } from './bundle/manifest';
export { loadImageFrame, type LoadImageOptions } from './image/decode';
export { assertValidFrame } from './image/frame';
export { ARCFACE_112_TEMPLATE, estimateSimilarity } from './engine/align';
export { boxIou, nonMaxSuppression } from './engine/nms';
// Events over MQTT (issue 5): event types and schema, publisher with durable outbox, subscriber, embedded broker.
export {
  EVENT_SCHEMA_VERSION,
  EVENT_TYPES,
  type EventType,
  type EventBase,
  type EventDraft,
  type EventOfType,
  type JetfaceEventMap,
  type JetfaceEvent,
  type RecognitionEvent,
  type RecognitionUpdateEvent,
  type TrackEndedEvent,
  type CameraOnlineEvent,
  type CameraOfflineEvent,
  type DeviceErrorEvent,
  type Identity,
  type FaceObservation,
  type FaceQuality,
  type FaceImage,
} from './events/types';
export { EVENT_JSON_SCHEMA, validateEvent, assertValidEvent, type EventValidation } from './events/validate';
export { createEvent } from './events/create-event';
export { newEventId, eventIdTime } from './events/event-id';
export { DEFAULT_TOPIC_PREFIX, eventTopic, statusTopic, eventTopicFilters, parseEventTopic, type EventFilter, type EventTopicParts } from './events/topics';
export { callbackSink, type EventSink } from './events/sink';
export { EventPublisher, type EventPublisherOptions, type PublisherStats, type PublisherEvents } from './mqtt/publisher';
export {
  JetfaceSubscriber,
  eventListenerName,
  type JetfaceSubscriberOptions,
  type SubscriberStats,
  type SubscriberEvents,
  type EventListenerName,
  type InvalidMessage,
  type DeviceStatus,
} from './mqtt/subscriber';
export { EventOutbox, DEFAULT_OUTBOX_MAX_EVENTS, DEFAULT_OUTBOX_MAX_BYTES, type OutboxOptions, type OutboxStats, type OutboxEntry } from './mqtt/outbox';
export { DEFAULT_MQTT_URL, type MqttConnectionOptions, type MqttTlsOptions } from './mqtt/options';
export type { BackoffOptions } from './mqtt/backoff';
export { startEmbeddedBroker, type EmbeddedBrokerOptions, type EmbeddedBroker } from './mqtt/embedded-broker';
// Capture (issue 5): frame sources over FFmpeg / GStreamer subprocesses, image folders, OpenCV (optional).
export type {
  FrameSource,
  FrameSourceSpec,
  FrameSourceState,
  FrameSourceStats,
  FrameSourceEvents,
  FfmpegSourceSpec,
  GstreamerSourceSpec,
  ImageFolderSourceSpec,
  OpenCvSourceSpec,
  CommonSourceOptions,
  CaptureBackend,
  BackpressureMode,
  ReconnectOptions,
  SourceOnlineEvent,
  SourceOfflineEvent,
  SourceReconnectingEvent,
  SourceEndEvent,
} from './capture/types';
export type { WaitOptions } from './capture/typed-emitter';
export { openFrameSource, resolveSourceUri, type UriSourceOptions } from './capture/open-frame-source';
export { validateSourceSpec } from './capture/validate-spec';
export { ffmpegArgs } from './capture/ffmpeg';
export { gstCsiPipeline, gstUsbPipeline, gstRtspPipeline, gstFilePipeline, gstLaunchDescription, isJetson, type GstDecode, type GstCsiOptions, type GstUsbOptions, type GstRtspOptions, type GstFileOptions } from './capture/gstreamer';
export { listImages } from './capture/image-folder';
export { redactUrls } from './capture/subprocess';
// Tracking (issue 5): faces across frames, per-track identity vote and event policy, in-memory gallery.
export { FaceTracker } from './tracking/tracker';
export { InMemoryGallery } from './tracking/memory-gallery';
export { solveAssignment } from './tracking/hungarian';
export type {
  GalleryMatcher,
  GalleryMatch,
  TrackerOptions,
  VoteOptions,
  TrackState,
  TrackIdentity,
  TrackSnapshot,
  TrackerEvent,
  TrackerRecognitionEvent,
  TrackerRecognitionUpdateEvent,
  TrackerTrackEndedEvent,
} from './tracking/types';
export {
  tensorrtOptions,
  defaultEngineCacheRoot,
  findCalibrationTable,
  profileShape,
  TENSORRT_TABLE_FILE,
  type TensorRtChoice,
  type TensorRtSetup,
  type TensorRtSetupInput,
  type TensorRtProviderOptions,
  type CalibrationTable,
} from './engine/tensorrt-options';
// Pipeline (issue 5): cameras → engine → tracker → events → sinks; enrollment from photos.
export {
  Pipeline,
  PIPELINE_ERROR_CODE,
  type PipelineOptions,
  type PipelineCamera,
  type PipelineCameraState,
  type PipelineCameraStats,
  type PipelineSinkError,
  type PipelineEvents,
} from './pipeline/pipeline';
export { enrollFromImages, type EnrollEntry, type EnrollOutcome } from './pipeline/enroll';
// Remote commands over MQTT (issue 6 item 5, issue 5 "malformed command payload"): signed, authorized, answered.
export {
  CommandChannel,
  type CommandChannelOptions,
  type CommandChannelEvents,
  type CommandContext,
  type CommandHandler,
  type CommandResponse,
  type CommandResponseBody,
  type CommandStats,
} from './mqtt/commands';
export { signCommand, canonicalJson, commandHmac, verifyCommandHmac, validateCommandShape, COMMAND_JSON_SCHEMA, type SignedCommand, type UnsignedCommand } from './mqtt/command-auth';
export { CommandKeyring, type CommandKeyOptions, type CommandKey } from './mqtt/command-keys';
export { CommandClient, type CommandClientOptions } from './mqtt/command-client';
export { DeviceReporter, reportTopic, parseDeviceReport, type DeviceReport, type DeviceReportCamera, type DeviceReporterOptions } from './mqtt/device-report';
// Observability (issue 7): Prometheus metrics, structured logs, Home Assistant discovery, `jetface doctor`.
export { createMetrics, METRIC_NAMES, type DeviceMetrics, type ObservedParts, type MetricsServeOptions, type MetricsServer } from './observability/metrics';
export { createLogger, formatPretty, LOG_LEVELS, type Logger, type LoggerSettings, type LogLevel, type LogFormat } from './observability/logger';
export { attachLogging, type LoggedParts, type AttachLoggingOptions } from './observability/attach-logging';
export { HomeAssistantDiscovery, homeAssistantConfigTopic, lastPersonTopic, type HomeAssistantOptions, type HomeAssistantSensorConfig, type LastPersonState } from './mqtt/home-assistant';
export { runDoctor, type DoctorOptions, type DoctorReport, type DoctorCheck, type CheckStatus } from './doctor/doctor';
// Enrollment (issue 6): quality gates, enrollment from photos, folders and cameras, remote enrollment commands.
export {
  DEFAULT_QUALITY_LIMITS,
  SHARPNESS_CROP,
  checkFaceQuality,
  estimatePose,
  faceSharpness,
  resolveQualityLimits,
  type QualityLimits,
  type QualityRefusal,
  type QualityRefusalCode,
  type QualityVerdict,
  type FacePose,
  type FaceQualityMeasures,
} from './gallery/quality';
export {
  enrollPerson,
  enrollFolder,
  readPeopleFolder,
  type EnrollmentEngine,
  type EnrollmentImage,
  type EnrollmentOptions,
  type EnrollmentOutcome,
  type EnrollmentProgress,
  type EnrollmentRefusalCode,
  type EnrollmentWarning,
  type FolderEnrollment,
  type FolderPerson,
  type PersonEnrollment,
} from './gallery/enroll';
export { enrollFromCamera, type CameraEnrollmentOptions, type CameraEnrollment } from './gallery/enroll-camera';
export { decodeImageBytes, padFrame, faceCropJpeg } from './gallery/enroll-input';
export { galleryCommandHandlers, type GalleryCommandOptions, type EnrollCommandArgs, type EnrollCommandResult } from './gallery/commands';
// Device app (issue 7): the configuration schema and loader, the device runtime behind `jetface run`, the demo.
export { deviceConfigSchema, type DeviceConfig, type DeviceConfigInput, type CameraConfig, type CameraSourceConfig } from './config/schema';
export { loadDeviceConfig, parseDeviceConfig, resolvePaths, defaultBundleDir } from './config/load';
export { configReferenceMarkdown } from './config/docs';
export { startDevice, type StartDeviceOptions, type DeviceHandle, type DeviceStats } from './app/start-device';
export { cameraSourceSpec } from './app/camera-source';
export { runDemo, type DemoOptions, type DemoResult } from './app/demo/run-demo';
// Gallery (issue 6): the persistent SQLite gallery, fast 1:N search, export / import, model-change policy.
export { SqliteGallery, ORT_MIN_ROWS, type SqliteGalleryOptions, type SearchKernel } from './gallery/sqlite-gallery';
export { embeddingSpaceId } from './gallery/model-id';
export { GALLERY_EXPORT_FORMAT, GALLERY_EXPORT_VERSION, type GalleryExport, type ImportMode, type ImportSummary } from './gallery/export';
export { GALLERY_APPLICATION_ID, SCHEMA_VERSION as GALLERY_SCHEMA_VERSION } from './gallery/schema';
export type { StalePerson } from './gallery/people-table';
export type { Gallery, PersonRecord, PersonInput, EmbeddingInput, SearchOptions, SearchResult, SearchCandidate } from './gallery/types';
// Device console (issue 15): the web pages of a device (live view, events, unknown faces, people, status).
export { ConsoleServer, type ConsoleServerOptions, type ConsoleRoute } from './console/server';
export { startDeviceConsole, type ConsoleOverrides, type DeviceConsole } from './console/start-console';
export { LocalConsoleBackend, type LocalDeviceParts } from './console/local-backend';
export { FleetConsoleBackend, type FleetBackendOptions, type FleetDevice } from './console/fleet-backend';
export { startFleetConsole, type FleetConsoleOptions, type FleetConsole } from './console/start-fleet';
export type { ConsoleBackend, CameraView, PersonView, StatusView, ConsolePersonInput } from './console/backend';
export { hashPassword, parsePasswordHash, verifyPassword, type PasswordHash } from './console/password';
export type { ConsoleConfig } from './config/schema';
export type { PipelineFrame } from './pipeline/pipeline';
