/**
 * Capacity in the DHT: each node publishes a signed record of what it offers under
 * `/plusone-cap/<peerId>` (validated by every peer that stores it; highest sequence wins) and
 * provides the CID of its runtime capability, so submitters find executors without crawling.
 */
export {
  type Capacity,
  CAPACITY_NAMESPACE,
  capacityKey,
  capacitySelector,
  capacityValidator,
  capacityValidatorWithMemory,
  InvalidCapacityRecordError,
  MAX_CAPACITY_RECORD_BYTES,
  MAX_REMEMBERED_PEERS,
  signCapacity,
  verifyCapacity,
} from './record.js'
export {
  CAPACITY_TTL_MS,
  CapacityService,
  type CapacityServiceComponents,
  type CapacityServiceInit,
  capabilityCid,
  type FindOptions,
  type Offer,
  RUNTIME_CAPABILITY,
} from './service.js'
