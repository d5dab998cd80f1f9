package dev.wirespan.capture;

import java.util.Objects;

/**
 * How the kernel capture is sized and tuned; immutable. Every value is checked when built, so
 * that {@link KernelCapture#open} only fails for reasons of the machine.
 */
public final class CaptureSettings {
  /** Largest capture cap: {@code WS_MAX_PAYLOAD} in {@code bpf/include/wirespan_event.h}. */
  public static final int MAX_CAPTURE_BYTES = 16384;
  /** Smallest capture cap: the kernel judges the protocol by a payload's first 8 bytes. */
  public static final int MIN_CAPTURE_BYTES = 64;
  public static final int DEFAULT_CAPTURE_BYTES = 4096;

  /** Largest tail capture: {@code WS_MAX_TAIL} in {@code bpf/include/wirespan_event.h}. */
  public static final int MAX_TAIL_BYTES = 256;
  /**
   * Last bytes also copied of a call that moved more than the cap. 64 holds the framing that ends
   * a large write (a chunk's CRLF, the next chunk-size line, the last chunk and its CRLF) with
   * room for a trailer or a short following message start, at 1.6% of a full-size event.
   */
  public static final int DEFAULT_TAIL_BYTES = 64;

  /** One page: the smallest ring buffer the kernel accepts. */
  public static final int MIN_RING_BUFFER_BYTES = 4096;
  /**
   * Largest ring buffer: the reader views the twice-mapped data area as one {@link
   * java.nio.ByteBuffer}, whose size is an int.
   */
  public static final int MAX_RING_BUFFER_BYTES = 512 * 1024 * 1024;
  public static final int DEFAULT_RING_BUFFER_BYTES = 8 * 1024 * 1024;

  /**
   * Unread bytes at which the kernel wakes the reader. 64 KiB is 1/128 of the default ring: the
   * reader is woken about 16 times per MiB of events (a few thousand events per wake-up at full
   * load instead of one each), long before the ring fills; below it the reader's poll timeout
   * bounds the delay. 0 wakes the reader whenever it has caught up (the kernel's default). Each CPU
   * checks the unread count once per 1/16 of this it has written (reading it costs a cache miss
   * per event otherwise), so the wake-up may come that much per CPU later.
   */
  public static final long DEFAULT_WAKEUP_BYTES = 64 * 1024;
  /** The wake-up threshold may be at most this fraction of the ring, or events would be lost. */
  private static final int MIN_RING_TO_WAKEUP_RATIO = 4;

  /**
   * While at least this fraction of the ring is unread, the kernel sheds exchanges as they begin
   * (see {@link #shedBytes()}). Half: the other half is room for the exchanges under way to end
   * whole (a few records each) and for a wake-up that is late by the per-CPU query interval,
   * while a reader that is behind by less than half never makes the kernel drop anything.
   */
  private static final int RING_TO_SHED_RATIO = 2;

  /**
   * TCP sockets the kernel tracks at once: every socket that moves bytes, HTTP or not (a non-HTTP
   * one is remembered as such, so that its later calls cost one lookup).
   */
  public static final int DEFAULT_CONNECTION_MAP_ENTRIES = 65536;
  /** Kernel maps below this are too small to be useful and most likely a unit mistake. */
  public static final int MIN_CONNECTION_MAP_ENTRIES = 64;

  private final int captureBytes;
  private final int tailBytes;
  private final int ringBufferBytes;
  private final long wakeupBytes;
  private final int selfTgid;
  private final int connectionMapEntries;
  private final ProgramVariant programVariant;
  private final boolean shedExchanges;

  private CaptureSettings(Builder b) {
    this.captureBytes = b.captureBytes;
    this.tailBytes = b.tailBytes;
    this.ringBufferBytes = b.ringBufferBytes;
    this.wakeupBytes = b.wakeupBytes;
    this.selfTgid = b.selfTgid;
    this.connectionMapEntries = b.connectionMapEntries;
    this.programVariant = b.programVariant;
    this.shedExchanges = b.shedExchanges;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** All defaults, excluding this process. */
  public static CaptureSettings defaults() {
    return builder().build();
  }

  public Builder toBuilder() {
    return new Builder()
        .setCaptureBytes(captureBytes)
        .setTailBytes(tailBytes)
        .setRingBufferBytes(ringBufferBytes)
        .setWakeupBytes(wakeupBytes)
        .setSelfTgid(selfTgid)
        .setConnectionMapEntries(connectionMapEntries)
        .setProgramVariant(programVariant)
        .setShedExchanges(shedExchanges);
  }

  /**
   * Payload bytes copied per syscall (the first ones); of longer calls only these and the last
   * {@link #tailBytes()} are copied.
   */
  public int captureBytes() {
    return captureBytes;
  }

  /**
   * Of a call that moved more than {@link #captureBytes()}, how many of its last bytes are also
   * copied (after the head); 0 = none.
   */
  public int tailBytes() {
    return tailBytes;
  }

  /** Size of the kernel's event ring buffer. */
  public int ringBufferBytes() {
    return ringBufferBytes;
  }

  /** Unread bytes at which the kernel wakes the reader; 0 = whenever it has caught up. */
  public long wakeupBytes() {
    return wakeupBytes;
  }

  /** Process whose traffic is not captured (the agent itself); 0 = none. */
  public int selfTgid() {
    return selfTgid;
  }

  /**
   * Entries of the kernel's connection map: TCP sockets tracked at once, HTTP or not (LRU: beyond,
   * the least recently used is forgotten; the HTTP stage counts it as kernel/map_full when it
   * comes back).
   */
  public int connectionMapEntries() {
    return connectionMapEntries;
  }

  /** Which build of the capture programs to load; {@link ProgramVariant#AUTO} by default. */
  public ProgramVariant programVariant() {
    return programVariant;
  }

  /** Whether the kernel sheds whole exchanges while the ring is crowded (the default). */
  public boolean shedExchanges() {
    return shedExchanges;
  }

  /**
   * Unread ring bytes from which exchanges that begin are shed: not reported at all, rather than
   * cut into pieces when a full ring drops their records (counted as kernel/exchange_shed, once
   * per exchange and traced side). Half the ring; 0 when shedding is off.
   */
  public long shedBytes() {
    return shedExchanges ? ringBufferBytes / RING_TO_SHED_RATIO : 0;
  }

  @Override
  public String toString() {
    return "CaptureSettings{captureBytes="
        + captureBytes
        + ", tailBytes="
        + tailBytes
        + ", ringBufferBytes="
        + ringBufferBytes
        + ", wakeupBytes="
        + wakeupBytes
        + ", selfTgid="
        + selfTgid
        + ", connectionMapEntries="
        + connectionMapEntries
        + ", programVariant="
        + programVariant.label()
        + ", shedExchanges="
        + shedExchanges
        + '}';
  }

  /** Builds {@link CaptureSettings}; each setter checks its value. */
  public static final class Builder {
    private int captureBytes = DEFAULT_CAPTURE_BYTES;
    private int tailBytes = DEFAULT_TAIL_BYTES;
    private int ringBufferBytes = DEFAULT_RING_BUFFER_BYTES;
    private long wakeupBytes = DEFAULT_WAKEUP_BYTES;
    private int selfTgid = Math.toIntExact(ProcessHandle.current().pid());
    private int connectionMapEntries = DEFAULT_CONNECTION_MAP_ENTRIES;
    private ProgramVariant programVariant = ProgramVariant.AUTO;
    private boolean shedExchanges = true;

    private Builder() {}

    /** Between {@link #MIN_CAPTURE_BYTES} and {@link #MAX_CAPTURE_BYTES}. */
    public Builder setCaptureBytes(int captureBytes) {
      if (captureBytes < MIN_CAPTURE_BYTES || captureBytes > MAX_CAPTURE_BYTES) {
        throw new IllegalArgumentException(
            "captureBytes must be in ["
                + MIN_CAPTURE_BYTES
                + ", "
                + MAX_CAPTURE_BYTES
                + "]: "
                + captureBytes);
      }
      this.captureBytes = captureBytes;
      return this;
    }

    /** Between 0 (no tail) and {@link #MAX_TAIL_BYTES}. */
    public Builder setTailBytes(int tailBytes) {
      if (tailBytes < 0 || tailBytes > MAX_TAIL_BYTES) {
        throw new IllegalArgumentException(
            "tailBytes must be in [0, " + MAX_TAIL_BYTES + "]: " + tailBytes);
      }
      this.tailBytes = tailBytes;
      return this;
    }

    /** A power of two between one page and {@link #MAX_RING_BUFFER_BYTES}. */
    public Builder setRingBufferBytes(int ringBufferBytes) {
      if (ringBufferBytes < MIN_RING_BUFFER_BYTES
          || ringBufferBytes > MAX_RING_BUFFER_BYTES
          || Integer.bitCount(ringBufferBytes) != 1) {
        throw new IllegalArgumentException(
            "ringBufferBytes must be a power of two in ["
                + MIN_RING_BUFFER_BYTES
                + ", "
                + MAX_RING_BUFFER_BYTES
                + "]: "
                + ringBufferBytes);
      }
      this.ringBufferBytes = ringBufferBytes;
      return this;
    }

    /** 0, or at most a quarter of the ring buffer (checked at {@link #build()}). */
    public Builder setWakeupBytes(long wakeupBytes) {
      if (wakeupBytes < 0) {
        throw new IllegalArgumentException("wakeupBytes must be >= 0: " + wakeupBytes);
      }
      this.wakeupBytes = wakeupBytes;
      return this;
    }

    /** The process not to capture, normally {@code ProcessHandle.current().pid()}; 0 = none. */
    public Builder setSelfTgid(int selfTgid) {
      if (selfTgid < 0) {
        throw new IllegalArgumentException("selfTgid must be >= 0: " + selfTgid);
      }
      this.selfTgid = selfTgid;
      return this;
    }

    /** At least {@link #MIN_CONNECTION_MAP_ENTRIES}. */
    public Builder setConnectionMapEntries(int connectionMapEntries) {
      this.connectionMapEntries = checkEntries("connectionMapEntries", connectionMapEntries);
      return this;
    }

    /**
     * {@link ProgramVariant#AUTO} (the default) picks by kernel; {@link ProgramVariant#PORTABLE}
     * forces the build that loads on every supported kernel; {@link ProgramVariant#KFUNC} fails to
     * open on kernels without it.
     */
    public Builder setProgramVariant(ProgramVariant programVariant) {
      this.programVariant = Objects.requireNonNull(programVariant, "programVariant");
      return this;
    }

    /**
     * Whether exchanges that begin while half the ring is unread are shed whole (the default), or
     * the ring fills and whatever records come next are dropped.
     */
    public Builder setShedExchanges(boolean shedExchanges) {
      this.shedExchanges = shedExchanges;
      return this;
    }

    public CaptureSettings build() {
      if (wakeupBytes > ringBufferBytes / MIN_RING_TO_WAKEUP_RATIO) {
        throw new IllegalArgumentException(
            "wakeupBytes ("
                + wakeupBytes
                + ") must be at most 1/"
                + MIN_RING_TO_WAKEUP_RATIO
                + " of ringBufferBytes ("
                + ringBufferBytes
                + ")");
      }
      return new CaptureSettings(this);
    }

    private static int checkEntries(String name, int entries) {
      if (entries < MIN_CONNECTION_MAP_ENTRIES) {
        throw new IllegalArgumentException(
            name + " must be >= " + MIN_CONNECTION_MAP_ENTRIES + ": " + entries);
      }
      return entries;
    }
  }
}
