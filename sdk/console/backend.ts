/**
 * What the console's pages need from a device: its cameras, live frames, events, strangers,
 * people and status. The server's routes use only this interface.
 */
import type { DoctorCheck } from '../doctor/checks';
import type { EnrollmentImage, PersonEnrollment } from '../gallery/enroll';
import type { PersonRecord } from '../gallery/types';
import type { EventHub } from './event-hub';
import type { LiveView } from './live-view';
import type { UnknownFaces } from './unknown-faces';

/** A camera as the pages show it. */
export interface CameraView {
  id: string;
  online: boolean;
  state: string;
  fps: number;
  frames: number;
  faces: number;
  /** The device it belongs to (the fleet console; a device's own console leaves it out). */
  device?: string;
  /** The camera's latest event (the fleet console, which has no frames). */
  lastEvent?: { type: string; time: string; name: string | null } | null;
}

/** A person as the People page lists them. */
export interface PersonView extends PersonRecord {
  /** No embedding of the current model: enroll again after a model change. */
  needsReEnrollment: boolean;
  /** Embeddings of other models, by model id. */
  staleEmbeddings: Record<string, number>;
  /** The devices that hold this person (the fleet console). */
  devices?: string[];
}

/** The Status page. */
export interface StatusView {
  device: string;
  versions: Record<string, string>;
  bundle: { path: string; modelId: string; kind: string; precision: string; provider: string };
  /** The Prometheus figures that matter, by metric name. */
  figures: Record<string, number | null>;
  checks: DoctorCheck[];
  cameras: CameraView[];
}

/** The person of an enrollment from the console. */
export interface ConsolePersonInput {
  personId: string;
  name: string;
}

/** The console's view of one device. */
export interface ConsoleBackend {
  /** The device id (shown in the title). */
  readonly device: string;
  /** True for the fleet console: many devices, no live frames (they stay on each device). */
  readonly fleet?: boolean;
  readonly events: EventHub;
  readonly live: LiveView;
  readonly unknown: UnknownFaces;
  cameras(): CameraView[];
  /** The fleet console asks its devices, hence the promise. */
  listPeople(): PersonView[] | Promise<PersonView[]>;
  /** Runs the quality gates on each image; serialized with every other gallery change. */
  enroll(person: ConsolePersonInput, images: EnrollmentImage[]): Promise<PersonEnrollment>;
  /** Enrolls an unknown face's kept faces (quality gates as seen in the camera); null when no such unknown face. Removes it once enrolled. */
  enrollUnknown(id: string, person: ConsolePersonInput): Promise<PersonEnrollment | null>;
  rename(personId: string, name: string): Promise<PersonRecord | null>;
  remove(personId: string): Promise<boolean>;
  status(): Promise<StatusView>;
}
