package dev.wirespan.capture;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Reads the kernel's "events" BPF ring buffer in place, without a native call per record: the
 * map is mmap'ed (the consumer position page read-write; the producer position page and the data
 * area, mapped twice back to back so that a record wrapping around the end reads contiguously,
 * read-only), and positions and record headers are read with acquire/release {@link VarHandle}s
 * as the kernel's protocol requires. A native {@code poll} is made only when the ring is empty.
 *
 * <p>Used by a single capture thread; {@link #close()} may be called from any thread (it waits for
 * a running {@link #poll} to return).
 */
public final class RingBufferReader implements AutoCloseable {
  /** A reasonable {@link #poll} timeout: bounds the delay of events below the wake-up threshold. */
  public static final int DEFAULT_POLL_TIMEOUT_MILLIS = 100;

  /** Record header (u32 length, u32 page offset): the record's length word has two flag bits. */
  static final int RECORD_HEADER_BYTES = 8;
  /** {@code BPF_RINGBUF_BUSY_BIT}: reserved, not committed yet. */
  static final int BUSY_BIT = 1 << 31;
  /** {@code BPF_RINGBUF_DISCARD_BIT}: committed as discarded: skip. */
  static final int DISCARD_BIT = 1 << 30;
  private static final int RECORD_ALIGNMENT = 8;
  /**
   * Consumed bytes after which the consumer position is published during a drain (and at its
   * end). Every record's own write would move the position's cache line to this CPU once per
   * event, and the kernel reads that line for every record it reserves: with 4 KiB steps it moves
   * once per 15-30 small events. The kernel sees at most this much less free space than there is,
   * and unread bytes this much higher (its wake-up threshold is checked against that).
   */
  static final int RELEASE_STEP_BYTES = 4096;

  private static final VarHandle LONG =
      MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
  private static final VarHandle INT =
      MethodHandles.byteBufferViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);

  private static final int POLLFD_BYTES = 8;
  private static final int POLLFD_EVENTS_OFFSET = 4;
  private static final int POLLFD_REVENTS_OFFSET = 6;

  private final ByteBuffer consumerPage;
  private final ByteBuffer producerArea;
  private final int dataOffset;
  private final int capacity;
  private final long mask;
  private final Waiter waiter;
  private final Runnable unmapper;
  private final CaptureEvent event = new CaptureEvent();
  private final ReentrantLock lock = new ReentrantLock();

  private boolean closed;
  private volatile long recordsRead;
  private volatile long malformedRecords;

  /** Blocks until the ring may have data or the timeout passes. */
  interface Waiter {
    void await(int timeoutMillis);
  }

  /**
   * A reader over the given views: {@code consumerPage} holds the consumer position at 0,
   * {@code producerArea} the producer position at 0 and the data area, twice, from {@code
   * dataOffset}.
   */
  RingBufferReader(
      ByteBuffer consumerPage,
      ByteBuffer producerArea,
      int dataOffset,
      int capacity,
      Waiter waiter,
      Runnable unmapper) {
    if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
      throw new IllegalStateException("the event layout is little-endian: unsupported platform");
    }
    if (Integer.bitCount(capacity) != 1) {
      throw new IllegalArgumentException("ring buffer capacity must be a power of two: " + capacity);
    }
    this.consumerPage = consumerPage.order(ByteOrder.LITTLE_ENDIAN);
    this.producerArea = producerArea.order(ByteOrder.LITTLE_ENDIAN);
    this.dataOffset = dataOffset;
    this.capacity = capacity;
    this.mask = capacity - 1L;
    this.waiter = Objects.requireNonNull(waiter, "waiter");
    this.unmapper = Objects.requireNonNull(unmapper, "unmapper");
  }

  /** Maps the ring buffer map {@code mapFd} whose data area is {@code capacity} bytes. */
  static RingBufferReader map(int mapFd, int capacity) {
    LibC libc = LibC.INSTANCE;
    long page = libc.getpagesize();
    Pointer consumer =
        libc.mmap(null, page, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED, mapFd, 0);
    if (LibC.isMapFailed(consumer)) {
      throw new CaptureException(
          "cannot mmap the ring buffer's consumer page: errno " + Native.getLastError());
    }
    long producerLength = page + 2L * capacity;
    Pointer producer = libc.mmap(null, producerLength, LibC.PROT_READ, LibC.MAP_SHARED, mapFd, page);
    if (LibC.isMapFailed(producer)) {
      int errno = Native.getLastError();
      libc.munmap(consumer, page);
      throw new CaptureException("cannot mmap the ring buffer's data area: errno " + errno);
    }
    Memory pollfd = new Memory(POLLFD_BYTES);
    Waiter waiter =
        timeoutMillis -> {
          pollfd.setInt(0, mapFd);
          pollfd.setShort(POLLFD_EVENTS_OFFSET, LibC.POLLIN);
          pollfd.setShort(POLLFD_REVENTS_OFFSET, (short) 0);
          // EINTR or a timeout both just end the wait: the caller drains whatever is there.
          libc.poll(pollfd, 1, timeoutMillis);
        };
    Runnable unmapper =
        () -> {
          libc.munmap(producer, producerLength);
          libc.munmap(consumer, page);
        };
    return new RingBufferReader(
        consumer.getByteBuffer(0, page),
        producer.getByteBuffer(0, producerLength),
        (int) page,
        capacity,
        waiter,
        unmapper);
  }

  /**
   * Hands every committed record to {@code sink}, in order; when there is none, first waits up to
   * {@code timeoutMillis} (0 = do not wait) for the kernel's wake-up. Returns the number of events
   * delivered (0 after close). A record's space goes back to the kernel after the sink returned
   * (or threw: the record is not delivered again), in steps of {@link #RELEASE_STEP_BYTES} and
   * at the latest when this call returns; the sink must not keep the event after it returns.
   */
  public int poll(CaptureEventSink sink, int timeoutMillis) {
    Objects.requireNonNull(sink, "sink");
    lock.lock();
    try {
      if (closed) {
        return 0;
      }
      int delivered = drain(sink);
      if (delivered > 0 || timeoutMillis <= 0) {
        return delivered;
      }
      waiter.await(timeoutMillis);
      return drain(sink);
    } finally {
      lock.unlock();
    }
  }

  /** Bytes written by the kernel and not consumed yet (fill level, for a gauge). */
  public long availableBytes() {
    lock.lock();
    try {
      if (closed) {
        return 0;
      }
      return (long) LONG.getAcquire(producerArea, 0) - (long) LONG.getAcquire(consumerPage, 0);
    } finally {
      lock.unlock();
    }
  }

  /** Size of the data area in bytes. */
  public int capacity() {
    return capacity;
  }

  /** Events delivered to sinks so far. */
  public long recordsRead() {
    return recordsRead;
  }

  /** Records skipped because their length disagreed with the event layout. */
  public long malformedRecords() {
    return malformedRecords;
  }

  /** Unmaps the ring buffer; idempotent. */
  @Override
  public void close() {
    lock.lock();
    try {
      if (!closed) {
        closed = true;
        unmapper.run();
      }
    } finally {
      lock.unlock();
    }
  }

  private int drain(CaptureEventSink sink) {
    long consumer = (long) LONG.getAcquire(consumerPage, 0);
    long released = consumer;
    long producer = (long) LONG.getAcquire(producerArea, 0);
    int delivered = 0;
    int malformed = 0;
    try {
      while (consumer < producer) {
        int at = dataOffset + (int) (consumer & mask);
        int header = (int) INT.getAcquire(producerArea, at);
        if ((header & BUSY_BIT) != 0) {
          break; // reserved but not committed yet: later records wait behind it
        }
        int length = header & ~(BUSY_BIT | DISCARD_BIT);
        long next = consumer + align(RECORD_HEADER_BYTES + length);
        try {
          if ((header & DISCARD_BIT) == 0) {
            if (isWellFormed(at + RECORD_HEADER_BYTES, length)) {
              delivered++;
              sink.onEvent(event.wrap(producerArea, at + RECORD_HEADER_BYTES));
            } else {
              malformed++;
            }
          }
        } finally {
          consumer = next;
        }
        if (consumer - released >= RELEASE_STEP_BYTES) {
          LONG.setRelease(consumerPage, 0, consumer);
          released = consumer;
        }
        if (consumer >= producer) {
          producer = (long) LONG.getAcquire(producerArea, 0);
        }
      }
    } finally {
      if (consumer != released) {
        LONG.setRelease(consumerPage, 0, consumer);
      }
      if (delivered > 0) {
        recordsRead += delivered;
      }
      if (malformed > 0) {
        malformedRecords += malformed;
      }
    }
    return delivered;
  }

  private boolean isWellFormed(int recordStart, int length) {
    if (length < CaptureEvent.HEADER_SIZE || length > capacity) {
      return false;
    }
    int captured = producerArea.getInt(recordStart + CaptureEvent.OFF_CAPTURED);
    return captured >= 0 && captured <= length - CaptureEvent.HEADER_SIZE;
  }

  private static long align(int bytes) {
    return (bytes + RECORD_ALIGNMENT - 1) & -(long) RECORD_ALIGNMENT;
  }
}
