import type { Component } from '../component.js';
import { httpJson, httpOk } from '../component.js';
import { findJava } from '../java.js';
import { kafkaBootstrap, settings } from '../settings.js';
import { join } from 'node:path';

const base = `http://${settings.host}:${settings.ports.registry}`;
export const registryUrl = `${base}/apis/ccompat/v7`;
const management = `http://${settings.host}:${settings.ports.registryManagement}`;

export const registry: Component = {
  name: 'registry',
  url: `${registryUrl} (Apicurio ${settings.apicurioHome.split('-').pop()}, Confluent-compatible API)`,
  startTimeoutMs: 120_000,

  async isReady() {
    if (!(await httpOk(`${management}/health/ready`))) return false;
    try {
      return Array.isArray(await httpJson<unknown>(`${registryUrl}/subjects`));
    } catch {
      return false;
    }
  },

  launchSpec() {
    return {
      // Apicurio Registry 3 is built for Java 21; the machine's default java is 17.
      command: findJava(21, true),
      args: ['-Xms128m', '-Xmx512m', '-jar', join(settings.apicurioHome, 'quarkus-run.jar')],
      cwd: settings.apicurioHome,
      env: {
        QUARKUS_HTTP_HOST: settings.host,
        QUARKUS_HTTP_PORT: String(settings.ports.registry),
        QUARKUS_PROFILE: 'prod',
        QUARKUS_MANAGEMENT_HOST: settings.host,
        QUARKUS_MANAGEMENT_PORT: String(settings.ports.registryManagement),
        // One log line per request drowns everything else in the log file.
        QUARKUS_HTTP_ACCESS_LOG_ENABLED: 'false',
        QUARKUS_LOG_CATEGORY__IO_APICURIO_REGISTRY_LOGGING_AUDIT__LEVEL: 'WARN',
        // Schemas must outlive a restart: the messages already in Kafka carry their ids. KafkaSQL keeps
        // the registry's journal in a compacted Kafka topic and replays it on start.
        APICURIO_STORAGE_KIND: 'kafkasql',
        APICURIO_KAFKASQL_BOOTSTRAP_SERVERS: kafkaBootstrap(),
        APICURIO_KAFKASQL_TOPIC: '_apicurio-kafkasql-journal',
        APICURIO_KAFKASQL_SNAPSHOTS_TOPIC: '_apicurio-kafkasql-snapshots',
        APICURIO_KAFKASQL_EVENTS_TOPIC: '_apicurio-registry-events',
      },
    };
  },

  async provision() {
    // BACKWARD as the registry-wide rule: a subject registered for the first time gets it too (Apicurio's
    // Confluent API answers 404 to PUT /config/<subject> for a subject that does not exist yet).
    await httpJson(`${registryUrl}/config`, {
      method: 'PUT',
      body: JSON.stringify({ compatibility: 'BACKWARD' }),
    });
  },
};
