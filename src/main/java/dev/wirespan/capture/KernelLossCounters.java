package dev.wirespan.capture;

import com.sun.jna.Memory;

/**
 * The kernel side's loss counters (and the count of connections it ignored as the agent's own
 * traffic): the per-CPU "losses" array, summed over CPUs. One native call
 * per counter per read: meant for a metrics scrape, not the event path. Indexes mirror {@code
 * bpf/include/wirespan_losses.h}.
 */
public final class KernelLossCounters {
  /** {@code WS_LOSS_RINGBUF_FULL}: the ring buffer was full, the event was dropped. */
  public static final int RINGBUF_FULL = 0;
  /** {@code WS_LOSS_MAP_FULL}: a connection or syscall could not be tracked. */
  public static final int MAP_FULL = 1;
  /** {@code WS_LOSS_COPY_TRUNCATED}: events whose syscall moved more than was captured. */
  public static final int COPY_TRUNCATED = 2;
  /** {@code WS_LOSS_EVENTS_EMITTED}: events written into the ring buffer. */
  public static final int EVENTS_EMITTED = 3;
  /**
   * {@code WS_LOSS_SELF_CONNS_IGNORED}: connections of other processes left untraced because
   * their peer is the agent itself (e.g. a collector on this node reading the agent's exports).
   */
  public static final int SELF_CONNECTIONS_IGNORED = 4;
  /**
   * {@code WS_LOSS_EXCHANGES_SHED}: exchanges not reported, once per exchange and traced side,
   * because they began while the ring buffer was crowded.
   */
  public static final int EXCHANGES_SHED = 5;
  /** {@code WS_LOSS_COUNT}. */
  public static final int COUNT = 6;

  /** Per-CPU values are copied out 8-byte aligned, one per possible CPU. */
  private static final int PER_CPU_VALUE_BYTES = 8;
  private static final int KEY_BYTES = 4;

  private final int mapFd;
  private final int possibleCpus;
  private final Memory key = new Memory(KEY_BYTES);
  private final Memory values;
  private final long[] lastRead = new long[COUNT];
  private boolean closed;

  KernelLossCounters(int mapFd, int possibleCpus) {
    if (possibleCpus <= 0) {
      throw new IllegalArgumentException("possibleCpus must be > 0: " + possibleCpus);
    }
    this.mapFd = mapFd;
    this.possibleCpus = possibleCpus;
    this.values = new Memory((long) PER_CPU_VALUE_BYTES * possibleCpus);
  }

  public long ringbufFull() {
    return read(RINGBUF_FULL);
  }

  public long mapFull() {
    return read(MAP_FULL);
  }

  public long copyTruncated() {
    return read(COPY_TRUNCATED);
  }

  public long eventsEmitted() {
    return read(EVENTS_EMITTED);
  }

  /** Exchanges not reported because they began while the ring buffer was crowded. */
  public long exchangesShed() {
    return read(EXCHANGES_SHED);
  }

  /** Connections whose peer is the agent's own process, ignored so that exports are not traced. */
  public long selfConnectionsIgnored() {
    return read(SELF_CONNECTIONS_IGNORED);
  }

  /**
   * The counter at {@code index} summed over CPUs; after close (or if the read fails), the last
   * value read.
   */
  public synchronized long read(int index) {
    if (index < 0 || index >= COUNT) {
      throw new IndexOutOfBoundsException("loss counter index " + index);
    }
    if (closed) {
      return lastRead[index];
    }
    key.setInt(0, index);
    if (LibBpf.INSTANCE.bpf_map_lookup_elem(mapFd, key, values) != 0) {
      return lastRead[index];
    }
    long sum = 0;
    for (int cpu = 0; cpu < possibleCpus; cpu++) {
      sum += values.getLong((long) cpu * PER_CPU_VALUE_BYTES);
    }
    lastRead[index] = sum;
    return sum;
  }

  /** Stops reading the map (its fd is about to be closed); values stay at their last reads. */
  synchronized void close() {
    if (!closed) {
      for (int i = 0; i < COUNT; i++) {
        read(i);
      }
      closed = true;
    }
  }
}
