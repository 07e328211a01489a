/**
 * The offsets consumer groups commit: group → topic → partition. Kept while a group is empty, as
 * Kafka keeps them (until its retention, which this in-memory broker does not apply). Whether a
 * member may commit is the coordinator's call (groups.ts); this only stores.
 */
export interface CommittedOffset {
  offset: number;
  metadata: string | null;
}

export interface TopicPartitions {
  topic: string;
  partitions: number[];
}

export class OffsetStore {
  private readonly groups = new Map<string, Map<string, Map<number, CommittedOffset>>>();

  store(groupId: string, topic: string, partition: number, offset: CommittedOffset): void {
    let topics = this.groups.get(groupId);
    if (!topics) this.groups.set(groupId, (topics = new Map()));
    let partitions = topics.get(topic);
    if (!partitions) topics.set(topic, (partitions = new Map()));
    partitions.set(partition, offset);
  }

  /** `wanted` null means every topic the group has offsets for. */
  committed(
    groupId: string,
    wanted: TopicPartitions[] | null,
  ): { topic: string; partitions: { partition: number; committed?: CommittedOffset }[] }[] {
    const topics = this.groups.get(groupId);
    const requested =
      wanted ??
      [...(topics?.entries() ?? [])].map(([topic, partitions]) => ({
        topic,
        partitions: [...partitions.keys()],
      }));
    return requested.map(({ topic, partitions }) => ({
      topic,
      partitions: partitions.map((partition) => ({
        partition,
        committed: topics?.get(topic)?.get(partition),
      })),
    }));
  }

  groupIds(): string[] {
    return [...this.groups.keys()];
  }

  hasGroup(groupId: string): boolean {
    return this.groups.has(groupId);
  }

  /** A deleted topic's offsets go with it. */
  forgetTopic(topic: string): void {
    for (const topics of this.groups.values()) topics.delete(topic);
  }
}
