/**
 * The fleet console (`jetface console --mqtt URL`) against a real mosquitto and a real device
 * process: it lists the device and its camera from the retained report, sees its events, enrolls
 * a person through the signed command channel (signed with the console's own key), renames and
 * deletes them, and the device's gallery follows; its routes are as guarded as a device's.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { startDevice, type DeviceHandle } from '../sdk/app/start-device';
import { parseDeviceConfig } from '../sdk/config/load';
import { startFleetConsole, type FleetConsole } from '../sdk/console/start-fleet';
import { createLogger } from '../sdk/observability/logger';
import { makeCascadeBundle } from './support/cascade-bundle';
import { dataPath, describeWithData, tempDir } from './support/data';
import { until } from './support/events';
import { describeWithMosquitto, startMosquitto, type MosquittoBroker } from './support/mosquitto';

const CONSOLE_KEY = 'the-fleet-console-key-0123456789';

describeWithData('fleet console', () => {
  describeWithMosquitto('over mosquitto, with a device process', () => {
    let broker: MosquittoBroker;
    let fleet: FleetConsole;
    let device: DeviceHandle;
    let base: string;
    let cookie = '';
    let csrf = '';

    beforeAll(async () => {
      broker = await startMosquitto();
      const work = tempDir('jetface-fleet-');
      const keyFile = join(work, 'console.key');
      writeFileSync(keyFile, `${CONSOLE_KEY}\n`, { mode: 0o600 });
      const passwordFile = join(work, 'mqtt-password');
      writeFileSync(passwordFile, broker.password);
      const images = join(work, 'images');
      mkdirSync(images);
      copyFileSync(dataPath('scenes', 'two_people.jpg'), join(images, '1.jpg'));
      const mqtt = { url: broker.url, username: broker.username, password: broker.password, backoff: { initialMs: 50, maxMs: 300 } };
      // The console first: events are not retained, so it must be listening when the device starts.
      fleet = await startFleetConsole({ ...mqtt, clientId: 'console', key: CONSOLE_KEY, port: 0, passwordHash: null, log: createLogger({ level: 'silent' }) });
      const config = parseDeviceConfig(
        {
          device: { id: 'lobby-1' },
          cameras: [{ id: 'door', source: { kind: 'images', dir: images, loop: true }, fps: 2 }],
          model: { bundle: await makeCascadeBundle(), providers: ['cpu'] },
          gallery: { path: join(work, 'gallery.db') },
          mqtt: { url: broker.url, username: broker.username, passwordFile, reportSeconds: 1 },
          outbox: { dir: work },
          commands: { enabled: true, clients: { console: { secretFile: keyFile } }, revoked: ['old-laptop'] },
        },
        'test',
      );
      device = await startDevice(config, { log: createLogger({ level: 'silent' }) });
      base = fleet.server.url;
      // A one-time login link, then the session's CSRF token, as the page gets them.
      const login = await fetch(fleet.server.loginUrl(), { redirect: 'manual' });
      expect(login.status).toBe(303);
      cookie = login.headers.getSetCookie().find((c) => c.startsWith('jetface_session='))!.split(';')[0]!;
      const session = await fetch(`${base}/api/session`, { headers: { cookie } });
      const csrfCookie = session.headers.getSetCookie().find((c) => c.startsWith('_csrf='));
      if (csrfCookie) cookie += `; ${csrfCookie.split(';')[0]}`;
      const body = (await session.json()) as { csrfToken: string; fleet: boolean; device: string };
      expect(body).toMatchObject({ fleet: true, device: 'fleet' });
      csrf = body.csrfToken;
    });

    afterAll(async () => {
      await device?.stop();
      await fleet?.close();
      await broker?.close();
    });

    const api = async <T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> => {
      const res = await fetch(`${base}${path}`, { ...init, headers: { cookie, 'x-csrf-token': csrf, ...(init.headers as Record<string, string>) } });
      return { status: res.status, body: (await res.json()) as T };
    };

    test('lists the device and its camera from the retained report, and sees its events', async () => {
      type Cameras = { fleet: boolean; cameras: { id: string; device: string; online: boolean; state: string; fps: number; lastEvent: { type: string } | null }[] };
      let cameras: Cameras | undefined;
      await until(() => fleet.backend.cameras().some((c) => c.device === 'lobby-1' && c.lastEvent), 30_000, 'the device camera and an event');
      cameras = (await api<Cameras>('/api/cameras')).body;
      expect(cameras.fleet).toBe(true);
      expect(cameras.cameras).toEqual([expect.objectContaining({ id: 'door', device: 'lobby-1', online: true, state: 'running', lastEvent: expect.objectContaining({ type: expect.any(String) }) })]);
      const { body } = await api<{ events: { device: string; camera: string; type: string }[] }>('/api/events?device=lobby-1');
      expect(body.events.length).toBeGreaterThan(0);
      expect(body.events[0]).toMatchObject({ device: 'lobby-1', camera: 'door' });
      const status = (await api<{ checks: { name: string; status: string }[] }>('/api/status')).body;
      expect(status.checks).toContainEqual(expect.objectContaining({ name: 'device:lobby-1', status: 'ok' }));
    });

    test('enrolls, renames and deletes a person on the device through the signed command channel', async () => {
      await until(() => fleet.backend.devices().some((d) => d.report?.commands === true), 10_000, 'the device report');
      const photo = await sharp(dataPath('video', 'enroll', 'lin-manuel-miranda.png')).resize({ width: 400 }).jpeg().toBuffer();
      const form = new FormData();
      form.append('personId', 'lmm');
      form.append('name', 'Lin-Manuel Miranda');
      form.append('photo', new Blob([new Uint8Array(photo)]), 'lmm.jpg');
      const enrolled = await api<{ enrolled: number; outcomes: { source: string; status: string }[] }>('/api/people', { method: 'POST', body: form });
      expect(enrolled.status).toBe(200);
      expect(enrolled.body).toMatchObject({ enrolled: 1, outcomes: [{ source: 'lobby-1: upload:lmm.jpg', status: 'enrolled' }] });
      expect(device.gallery.getPerson('lmm')?.embeddings).toBe(1);
      expect(device.stats().commands).toMatchObject({ succeeded: 1, refused: 0 });

      const people = (await api<{ people: { personId: string; devices: string[] }[] }>('/api/people')).body.people;
      expect(people).toEqual([expect.objectContaining({ personId: 'lmm', devices: ['lobby-1'] })]);

      const renamed = await api<{ person: { name: string } }>('/api/people/lmm/rename', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Lin-Manuel' }) });
      expect(renamed).toMatchObject({ status: 200, body: { person: { name: 'Lin-Manuel' } } });
      expect(device.gallery.getPerson('lmm')?.name).toBe('Lin-Manuel');

      const deleted = await api<{ deleted: boolean }>('/api/people/lmm', { method: 'DELETE' });
      expect(deleted).toMatchObject({ status: 200, body: { deleted: true } });
      expect(device.gallery.getPerson('lmm')).toBeNull();
      expect((await api<{ error: { code: string } }>('/api/people/lmm', { method: 'DELETE' })).status).toBe(404);
    });

    test('is guarded like a device console: no route without a session, no change without the CSRF token', async () => {
      expect(await fleet.server.unauthenticatedRoutes()).toEqual([]);
      expect((await fetch(`${base}/api/people`)).status).toBe(401);
      const forged = await fetch(`${base}/api/people/lmm`, { method: 'DELETE', headers: { cookie } });
      expect(forged.status).toBe(403);
    });
  });
});
