/**
 * The broker's topics and their partition logs, and who to tell when a partition changes (the
 * Fetch requests waiting for data).
 */
import { PartitionLog } from './log.js';

/** `partition` is -1 when the whole topic changed (deleted). */
export type PartitionListener = (topic: string, partition: number) => void;

const LEGAL_TOPIC_NAME = /^[a-zA-Z0-9._-]+$/;
const MAX_TOPIC_NAME_LENGTH = 249;

/** Kafka's own rule for topic names; a name it would refuse is refused here too. */
export function isValidTopicName(name: string): boolean {
  return (
    name.length > 0 &&
    name.length <= MAX_TOPIC_NAME_LENGTH &&
    name !== '.' &&
    name !== '..' &&
    LEGAL_TOPIC_NAME.test(name)
  );
}

export class TopicStore {
  private readonly topics = new Map<string, PartitionLog[]>();
  private readonly listeners = new Set<PartitionListener>();

  constructor(private readonly retentionBytes: number) {}

  names(): string[] {
    return [...this.topics.keys()];
  }

  partitions(topic: string): PartitionLog[] | undefined {
    return this.topics.get(topic);
  }

  partition(topic: string, partition: number): PartitionLog | undefined {
    return this.topics.get(topic)?.[partition];
  }

  has(topic: string): boolean {
    return this.topics.has(topic);
  }

  create(topic: string, partitionCount: number): void {
    this.topics.set(
      topic,
      Array.from({ length: partitionCount }, () => new PartitionLog(this.retentionBytes)),
    );
  }

  delete(topic: string): boolean {
    const existed = this.topics.delete(topic);
    if (existed) this.changed(topic, -1);
    return existed;
  }

  /** Returns the function that unsubscribes. */
  subscribe(listener: PartitionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  changed(topic: string, partition: number): void {
    for (const listener of [...this.listeners]) listener(topic, partition);
  }
}
