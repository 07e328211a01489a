/** Every API the broker serves, by API key. */
import type { ApiHandler, Broker } from '../handler.js';
import { apiVersionsHandler } from './api-versions.js';
import { createTopicsHandler } from './create-topics.js';
import { deleteTopicsHandler } from './delete-topics.js';
import { describeGroupsHandler } from './describe-groups.js';
import { fetchHandler } from './fetch.js';
import { findCoordinatorHandler } from './find-coordinator.js';
import { heartbeatHandler } from './heartbeat.js';
import { initProducerIdHandler } from './init-producer-id.js';
import { joinGroupHandler } from './join-group.js';
import { leaveGroupHandler } from './leave-group.js';
import { listGroupsHandler } from './list-groups.js';
import { listOffsetsHandler } from './list-offsets.js';
import { metadataHandler } from './metadata.js';
import { offsetCommitHandler } from './offset-commit.js';
import { offsetFetchHandler } from './offset-fetch.js';
import { produceHandler } from './produce.js';
import { syncGroupHandler } from './sync-group.js';

export function createHandlers(broker: Broker): Map<number, ApiHandler> {
  const handlers: ApiHandler[] = [
    produceHandler(broker),
    fetchHandler(broker),
    listOffsetsHandler(broker),
    metadataHandler(broker),
    offsetCommitHandler(broker),
    offsetFetchHandler(broker),
    findCoordinatorHandler(broker),
    joinGroupHandler(broker),
    heartbeatHandler(broker),
    leaveGroupHandler(broker),
    syncGroupHandler(broker),
    describeGroupsHandler(broker),
    listGroupsHandler(broker),
    createTopicsHandler(broker),
    deleteTopicsHandler(broker),
    initProducerIdHandler(broker),
  ];
  handlers.push(apiVersionsHandler(() => handlers));
  return new Map(handlers.map((h) => [h.apiKey, h]));
}
