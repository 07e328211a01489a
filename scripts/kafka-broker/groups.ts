/**
 * The group coordinator: Kafka's consumer-group state machine. Committed offsets are kept apart
 * (offsets.ts); whether a member may commit is decided here.
 *
 *   Empty ──join──▶ PreparingRebalance ──all members rejoined, or rebalance timeout──▶
 *   CompletingRebalance ──leader's SyncGroup──▶ Stable ──join / leave / expiry──▶ PreparingRebalance
 *
 * The rules (which error a heartbeat, sync or commit gets in which state) follow Kafka 2.x's
 * GroupCoordinator, because kafkajs's consumer reacts to exactly those codes: REBALANCE_IN_PROGRESS
 * and ILLEGAL_GENERATION make it rejoin, UNKNOWN_MEMBER_ID makes it join afresh. Not supported:
 * static membership (group.instance.id is ignored) and the initial rebalance delay (it is 0).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../lib/platform/logger.js';
import { ErrorCode } from './protocol.js';

export type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable';

export interface GroupProtocol {
  name: string;
  metadata: Buffer;
}

export interface JoinRequest {
  groupId: string;
  /** Empty on a member's first join: the coordinator names it. */
  memberId: string;
  clientId: string;
  clientHost: string;
  sessionTimeout: number;
  rebalanceTimeout: number;
  protocolType: string;
  protocols: GroupProtocol[];
}

export interface JoinResult {
  errorCode: number;
  generationId: number;
  protocol: string;
  leaderId: string;
  memberId: string;
  /** Only the leader gets the members, to compute the assignment. */
  members: { memberId: string; metadata: Buffer }[];
}

export interface SyncRequest {
  groupId: string;
  generationId: number;
  memberId: string;
  /** Sent by the leader only. */
  assignments: { memberId: string; assignment: Buffer }[];
}

export interface SyncResult {
  errorCode: number;
  assignment: Buffer;
}

export interface GroupDescription {
  groupId: string;
  /** Kafka's names, plus "Dead" for a group the coordinator does not know. */
  state: GroupState | 'Dead';
  protocolType: string;
  protocol: string;
  members: {
    memberId: string;
    clientId: string;
    clientHost: string;
    metadata: Buffer;
    assignment: Buffer;
  }[];
}

export interface GroupCoordinatorOptions {
  logger: Logger;
  /** Kafka's group.min.session.timeout.ms and group.max.session.timeout.ms. */
  minSessionTimeoutMs: number;
  maxSessionTimeoutMs: number;
}

interface Member {
  readonly memberId: string;
  readonly clientId: string;
  readonly clientHost: string;
  sessionTimeout: number;
  rebalanceTimeout: number;
  protocols: GroupProtocol[];
  assignment: Buffer;
  /** Set while the member's JoinGroup waits for the rebalance to complete. */
  awaitingJoin?: (result: JoinResult) => void;
  /** Set while the member's SyncGroup waits for the leader's assignment. */
  awaitingSync?: (result: SyncResult) => void;
  sessionTimer?: NodeJS.Timeout;
}

class Group {
  state: GroupState = 'Empty';
  generationId = 0;
  protocolType: string | null = null;
  protocol: string | null = null;
  leaderId: string | null = null;
  rebalanceTimer?: NodeJS.Timeout;
  readonly members = new Map<string, Member>();

  constructor(readonly groupId: string) {}
}

const NO_BYTES = Buffer.alloc(0);

function sameProtocols(a: GroupProtocol[], b: GroupProtocol[]): boolean {
  return (
    a.length === b.length &&
    a.every((p, i) => p.name === b[i]!.name && p.metadata.equals(b[i]!.metadata))
  );
}

export class GroupCoordinator {
  private readonly groups = new Map<string, Group>();
  private readonly logger: Logger;

  constructor(private readonly options: GroupCoordinatorOptions) {
    this.logger = options.logger.child({ component: 'group-coordinator' });
  }

  join(req: JoinRequest): JoinResult | Promise<JoinResult> {
    const fail = (errorCode: number): JoinResult => ({
      errorCode,
      generationId: -1,
      protocol: '',
      leaderId: '',
      memberId: req.memberId,
      members: [],
    });
    if (!req.groupId) return fail(ErrorCode.INVALID_GROUP_ID);
    const { minSessionTimeoutMs, maxSessionTimeoutMs } = this.options;
    if (req.sessionTimeout < minSessionTimeoutMs || req.sessionTimeout > maxSessionTimeoutMs) {
      return fail(ErrorCode.INVALID_SESSION_TIMEOUT);
    }
    const group = this.group(req.groupId);
    if (!this.acceptsProtocols(group, req)) return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    if (req.memberId === '') return this.addMember(group, req);

    const member = group.members.get(req.memberId);
    if (!member) return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    const unchanged = sameProtocols(member.protocols, req.protocols);
    member.protocols = req.protocols;
    member.sessionTimeout = req.sessionTimeout;
    member.rebalanceTimeout = req.rebalanceTimeout;
    this.touch(group, member);

    if (group.state === 'PreparingRebalance') {
      const pending = this.awaitJoin(member);
      this.maybeCompleteJoin(group);
      return pending;
    }
    // A repeated join whose first answer was lost gets the same answer, no new rebalance. The
    // leader rejoining in Stable means it wants a new assignment (a subscription changed).
    const isLeader = member.memberId === group.leaderId;
    if (unchanged && (group.state === 'CompletingRebalance' || !isLeader)) {
      return this.joinResult(group, member);
    }
    const pending = this.awaitJoin(member);
    this.prepareRebalance(group, unchanged ? 'leader rejoined' : 'member metadata changed');
    return pending;
  }

  sync(req: SyncRequest): SyncResult | Promise<SyncResult> {
    const fail = (errorCode: number): SyncResult => ({ errorCode, assignment: NO_BYTES });
    const group = this.groups.get(req.groupId);
    const member = group?.members.get(req.memberId);
    if (!group || !member) return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    if (req.generationId !== group.generationId) return fail(ErrorCode.ILLEGAL_GENERATION);
    if (group.state === 'PreparingRebalance') return fail(ErrorCode.REBALANCE_IN_PROGRESS);
    this.touch(group, member);
    if (group.state === 'Stable') {
      return { errorCode: ErrorCode.NONE, assignment: member.assignment };
    }

    const pending = new Promise<SyncResult>((resolve) => {
      member.awaitingSync?.(fail(ErrorCode.REBALANCE_IN_PROGRESS));
      member.awaitingSync = resolve;
    });
    if (member.memberId === group.leaderId) {
      const assignments = new Map(req.assignments.map((a) => [a.memberId, a.assignment]));
      for (const m of group.members.values()) {
        m.assignment = assignments.get(m.memberId) ?? NO_BYTES;
      }
      group.state = 'Stable';
      this.logger.info(
        { group_id: group.groupId, generation_id: group.generationId, members: group.members.size },
        'Group stable',
      );
      for (const m of group.members.values()) {
        const resolve = m.awaitingSync;
        m.awaitingSync = undefined;
        resolve?.({ errorCode: ErrorCode.NONE, assignment: m.assignment });
      }
    }
    return pending;
  }

  heartbeat(groupId: string, generationId: number, memberId: string): number {
    const group = this.groups.get(groupId);
    const member = group?.members.get(memberId);
    if (!group || !member) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (generationId !== group.generationId) return ErrorCode.ILLEGAL_GENERATION;
    this.touch(group, member);
    return group.state === 'PreparingRebalance' ? ErrorCode.REBALANCE_IN_PROGRESS : ErrorCode.NONE;
  }

  leave(groupId: string, memberIds: string[]): { memberId: string; errorCode: number }[] {
    const group = this.groups.get(groupId);
    let left = 0;
    const results = memberIds.map((memberId) => {
      const member = group?.members.get(memberId);
      if (!group || !member) return { memberId, errorCode: ErrorCode.UNKNOWN_MEMBER_ID };
      this.logger.info({ group_id: groupId, member_id: memberId }, 'Member left the group');
      this.removeMember(group, member);
      left++;
      return { memberId, errorCode: ErrorCode.NONE };
    });
    if (group && left > 0) this.membershipChanged(group, 'member left');
    return results;
  }

  /** Whether this member may commit offsets now; NONE when it may. */
  checkCommit(groupId: string, generationId: number, memberId: string): number {
    if (!groupId) return ErrorCode.INVALID_GROUP_ID;
    const group = this.groups.get(groupId);
    // Generation -1 on an empty group: a client that uses the group only to store offsets.
    if (generationId < 0 && (!group || group.state === 'Empty')) return ErrorCode.NONE;
    const member = group?.members.get(memberId);
    if (!group || !member) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (generationId !== group.generationId) return ErrorCode.ILLEGAL_GENERATION;
    // Its assignment for this generation is not known yet, so neither is what it may commit.
    if (group.state === 'CompletingRebalance') return ErrorCode.REBALANCE_IN_PROGRESS;
    this.touch(group, member);
    return ErrorCode.NONE;
  }

  describe(groupId: string): GroupDescription {
    const group = this.groups.get(groupId);
    if (!group) return { groupId, state: 'Dead', protocolType: '', protocol: '', members: [] };
    // Like Kafka, member metadata and assignments are shown only once they are settled.
    const settled = group.state === 'Stable';
    return {
      groupId,
      state: group.state,
      protocolType: group.protocolType ?? '',
      protocol: group.protocol ?? '',
      members: [...group.members.values()].map((m) => ({
        memberId: m.memberId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        metadata: settled ? this.metadataFor(m, group.protocol) : NO_BYTES,
        assignment: settled ? m.assignment : NO_BYTES,
      })),
    };
  }

  list(): { groupId: string; protocolType: string }[] {
    return [...this.groups.values()].map((g) => ({
      groupId: g.groupId,
      protocolType: g.protocolType ?? '',
    }));
  }

  /** Stops every timer and answers every waiting request, so the broker can stop cleanly. */
  close(): void {
    for (const group of this.groups.values()) {
      clearTimeout(group.rebalanceTimer);
      for (const member of group.members.values()) {
        clearTimeout(member.sessionTimer);
        this.release(member, ErrorCode.COORDINATOR_NOT_AVAILABLE);
      }
    }
    this.groups.clear();
  }

  private group(groupId: string): Group {
    let group = this.groups.get(groupId);
    if (!group) this.groups.set(groupId, (group = new Group(groupId)));
    return group;
  }

  private acceptsProtocols(group: Group, req: JoinRequest): boolean {
    if (!req.protocolType || req.protocols.length === 0) return false;
    const others = [...group.members.values()].filter((m) => m.memberId !== req.memberId);
    if (others.length === 0) return true;
    if (req.protocolType !== group.protocolType) return false;
    const common = this.commonProtocols(others);
    return req.protocols.some((p) => common.has(p.name));
  }

  private addMember(group: Group, req: JoinRequest): Promise<JoinResult> {
    const member: Member = {
      memberId: `${req.clientId}-${randomUUID()}`,
      clientId: req.clientId,
      clientHost: req.clientHost,
      sessionTimeout: req.sessionTimeout,
      rebalanceTimeout: req.rebalanceTimeout,
      protocols: req.protocols,
      assignment: NO_BYTES,
    };
    if (group.members.size === 0) group.protocolType = req.protocolType;
    group.members.set(member.memberId, member);
    this.logger.info(
      { group_id: group.groupId, member_id: member.memberId, client_id: req.clientId },
      'Member joined the group',
    );
    this.touch(group, member);
    const pending = this.awaitJoin(member);
    this.prepareRebalance(group, 'member joined');
    return pending;
  }

  private awaitJoin(member: Member): Promise<JoinResult> {
    return new Promise((resolve) => {
      // A second join while one waits: the client gave up on the first, answer it anyway.
      member.awaitingJoin?.({
        ...this.rejected(member),
        errorCode: ErrorCode.REBALANCE_IN_PROGRESS,
      });
      member.awaitingJoin = resolve;
    });
  }

  private prepareRebalance(group: Group, reason: string): void {
    if (group.state === 'CompletingRebalance') {
      // The assignment being distributed is void: members waiting for it must rejoin.
      for (const m of group.members.values()) {
        m.assignment = NO_BYTES;
        const resolve = m.awaitingSync;
        m.awaitingSync = undefined;
        resolve?.({ errorCode: ErrorCode.REBALANCE_IN_PROGRESS, assignment: NO_BYTES });
      }
    }
    if (group.state !== 'PreparingRebalance') {
      group.state = 'PreparingRebalance';
      const timeout = Math.max(0, ...[...group.members.values()].map((m) => m.rebalanceTimeout));
      group.rebalanceTimer = setTimeout(() => this.completeJoin(group), timeout);
      this.logger.info(
        { group_id: group.groupId, generation_id: group.generationId, reason },
        'Rebalancing group',
      );
    }
    this.maybeCompleteJoin(group);
  }

  private maybeCompleteJoin(group: Group): void {
    if (group.state !== 'PreparingRebalance') return;
    if ([...group.members.values()].every((m) => m.awaitingJoin)) this.completeJoin(group);
  }

  /** Ends the join phase: members that did not rejoin in time are dropped, the rest get the new
   * generation, and the leader gets everyone's metadata to compute the assignment. */
  private completeJoin(group: Group): void {
    clearTimeout(group.rebalanceTimer);
    group.rebalanceTimer = undefined;
    if (group.state !== 'PreparingRebalance') return;
    for (const m of [...group.members.values()]) {
      if (m.awaitingJoin) continue;
      this.logger.info(
        { group_id: group.groupId, member_id: m.memberId },
        'Member did not rejoin within the rebalance timeout; removed',
      );
      this.removeMember(group, m);
    }
    group.generationId++;
    if (group.members.size === 0) {
      // Kafka keeps the protocol type of an emptied group (DescribeGroups and ListGroups still
      // say "consumer"); the next first member sets it again (addMember).
      group.state = 'Empty';
      group.protocol = null;
      group.leaderId = null;
      this.logger.info(
        { group_id: group.groupId, generation_id: group.generationId },
        'Group empty',
      );
      return;
    }
    group.protocol = this.selectProtocol(group);
    if (!group.leaderId || !group.members.has(group.leaderId)) {
      group.leaderId = group.members.keys().next().value!;
    }
    group.state = 'CompletingRebalance';
    for (const m of group.members.values()) {
      const resolve = m.awaitingJoin!;
      m.awaitingJoin = undefined;
      this.touch(group, m);
      resolve(this.joinResult(group, m));
    }
  }

  private joinResult(group: Group, member: Member): JoinResult {
    const isLeader = member.memberId === group.leaderId;
    return {
      errorCode: ErrorCode.NONE,
      generationId: group.generationId,
      protocol: group.protocol ?? '',
      leaderId: group.leaderId ?? '',
      memberId: member.memberId,
      members: isLeader
        ? [...group.members.values()].map((m) => ({
            memberId: m.memberId,
            metadata: this.metadataFor(m, group.protocol),
          }))
        : [],
    };
  }

  private rejected(member: Member): JoinResult {
    return {
      errorCode: ErrorCode.UNKNOWN_MEMBER_ID,
      generationId: -1,
      protocol: '',
      leaderId: '',
      memberId: member.memberId,
      members: [],
    };
  }

  private metadataFor(member: Member, protocol: string | null): Buffer {
    return member.protocols.find((p) => p.name === protocol)?.metadata ?? NO_BYTES;
  }

  private commonProtocols(members: Member[]): Set<string> {
    const [first, ...rest] = members;
    const common = new Set(first?.protocols.map((p) => p.name));
    for (const m of rest) {
      const names = new Set(m.protocols.map((p) => p.name));
      for (const name of common) if (!names.has(name)) common.delete(name);
    }
    return common;
  }

  /** Kafka's vote: each member picks its most preferred protocol that all members support. */
  private selectProtocol(group: Group): string {
    const members = [...group.members.values()];
    const common = this.commonProtocols(members);
    const votes = new Map<string, number>();
    for (const m of members) {
      const choice = m.protocols.find((p) => common.has(p.name))?.name;
      if (choice) votes.set(choice, (votes.get(choice) ?? 0) + 1);
    }
    let best = '';
    let bestVotes = -1;
    for (const [name, count] of votes) {
      if (count > bestVotes) [best, bestVotes] = [name, count];
    }
    return best;
  }

  /** Restarts the member's session clock: any request from it proves it alive. */
  private touch(group: Group, member: Member): void {
    clearTimeout(member.sessionTimer);
    member.sessionTimer = setTimeout(() => this.expire(group, member), member.sessionTimeout);
  }

  private expire(group: Group, member: Member): void {
    if (group.members.get(member.memberId) !== member) return;
    // A member parked in JoinGroup or SyncGroup is waiting on the coordinator, not gone.
    if (member.awaitingJoin || member.awaitingSync) {
      this.touch(group, member);
      return;
    }
    this.logger.info(
      {
        group_id: group.groupId,
        member_id: member.memberId,
        session_timeout: member.sessionTimeout,
      },
      'Member session expired; removed from the group',
    );
    this.removeMember(group, member);
    this.membershipChanged(group, 'member session expired');
  }

  private removeMember(group: Group, member: Member): void {
    clearTimeout(member.sessionTimer);
    group.members.delete(member.memberId);
    if (group.leaderId === member.memberId) group.leaderId = null;
    this.release(member, ErrorCode.UNKNOWN_MEMBER_ID);
  }

  /** Answers the member's waiting requests with an error. */
  private release(member: Member, errorCode: number): void {
    const join = member.awaitingJoin;
    const sync = member.awaitingSync;
    member.awaitingJoin = undefined;
    member.awaitingSync = undefined;
    join?.({ ...this.rejected(member), errorCode });
    sync?.({ errorCode, assignment: NO_BYTES });
  }

  private membershipChanged(group: Group, reason: string): void {
    if (group.state === 'Stable' || group.state === 'CompletingRebalance') {
      this.prepareRebalance(group, reason);
    } else {
      this.maybeCompleteJoin(group);
    }
  }
}
