/**
 * A device configuration's `mqtt` section → the {@link MqttConnectionOptions} of the publisher,
 * the command channel, the Home Assistant sink and `jetface doctor`'s broker check: one mapping,
 * so that what the doctor tries is what the device connects with.
 */
import type { DeviceConfig } from '../config/schema';
import type { MqttConnectionOptions } from '../mqtt/options';
import { readSecret } from './secrets';

/**
 * The MQTT connection to `url`; only the configuration counts (no `JETFACE_MQTT_*` fallback).
 * `env` is where `mqtt.passwordEnv` is read (default `process.env`); `source` names the
 * configuration in errors.
 *
 * @example
 * ```ts
 * const connection = await mqttConnectionOptions(config, config.mqtt.url!, 'device.yaml');
 * const publisher = await EventPublisher.create({ ...connection, device: config.device.id, outbox: 'outbox.jsonl' });
 * ```
 */
export async function mqttConnectionOptions(config: DeviceConfig, url: string, source: string, env: NodeJS.ProcessEnv = process.env): Promise<MqttConnectionOptions> {
  const m = config.mqtt;
  const password = m.passwordEnv ? await readSecret({ env: m.passwordEnv }, 'mqtt.passwordEnv', source, env) : undefined;
  return {
    url,
    env: {},
    keepaliveSeconds: m.keepaliveSeconds,
    ...(m.username ? { username: m.username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(m.passwordFile ? { passwordFile: m.passwordFile } : {}),
    // The embedded broker listens in plain MQTT (the schema refuses tls with it).
    ...(m.tls && !m.embedded ? { tls: tlsOptions(m.tls) } : {}),
  };
}

function tlsOptions(tls: NonNullable<DeviceConfig['mqtt']['tls']>): NonNullable<MqttConnectionOptions['tls']> {
  return {
    rejectUnauthorized: tls.rejectUnauthorized,
    ...(tls.caFile ? { caFile: tls.caFile } : {}),
    ...(tls.certFile ? { certFile: tls.certFile } : {}),
    ...(tls.keyFile ? { keyFile: tls.keyFile } : {}),
  };
}
