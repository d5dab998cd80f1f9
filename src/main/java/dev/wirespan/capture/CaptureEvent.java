package dev.wirespan.capture;

import io.netty.buffer.ByteBuf;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * One record of the kernel's "events" ring buffer, read in place: a reusable view over the
 * record's bytes, so that reading costs no allocation per event. Mirrors {@code struct ws_event}
 * in {@code bpf/include/wirespan_event.h}; {@code CaptureEventLayoutTest} checks the offsets
 * against the C header.
 *
 * <p>The payload is the head (the first {@link #headCaptured()} bytes the call moved) followed,
 * when the call moved more than the capture cap, by the tail (its last {@link #tailCaptured()}
 * bytes). The {@code length() - captured()} bytes between them were not copied.
 *
 * <p>A view is only valid until the consumer returns from its callback: the ring buffer space is
 * then handed back to the kernel. Copy what must outlive it ({@link #copyHeadTo(ByteBuf)}, {@link
 * #copyTailTo(ByteBuf)}).
 */
public final class CaptureEvent {
  public static final int TYPE_DATA = 1;
  public static final int TYPE_CLOSE = 2;

  public static final int FLAG_SENDFILE = 0x1;
  public static final int FLAG_AFTER_SHED = 0x2;

  public static final int AF_INET = 2;
  public static final int AF_INET6 = 10;

  static final int OFF_TYPE = 0;
  static final int OFF_DIRECTION = 1;
  static final int OFF_ROLE = 2;
  static final int OFF_FAMILY = 3;
  static final int OFF_FLAGS = 4;
  static final int OFF_LOCAL_PORT = 6;
  static final int OFF_REMOTE_PORT = 8;
  static final int OFF_TAIL_CAPTURED = 10;
  static final int OFF_CAPTURED = 12;
  static final int OFF_PID = 16;
  static final int OFF_TID = 20;
  static final int OFF_FD = 24;
  static final int OFF_TIMESTAMP = 32;
  static final int OFF_CONN_ID = 40;
  static final int OFF_CGROUP_ID = 48;
  static final int OFF_OFFSET = 56;
  static final int OFF_LEN = 64;
  static final int OFF_LOCAL_ADDR = 72;
  static final int OFF_REMOTE_ADDR = 88;
  static final int OFF_COMM = 104;
  /** Bytes of the comm field: the kernel's TASK_COMM_LEN, NUL-padded. */
  public static final int COMM_BYTES = 16;
  public static final int HEADER_SIZE = 120;

  private ByteBuffer buf;
  private int base;
  private final ByteBuffer[] payloadViews = new ByteBuffer[1];

  /**
   * Points this view at the record that starts at {@code base} in {@code buf}. The buffer's byte
   * order must be little-endian.
   */
  public CaptureEvent wrap(ByteBuffer buf, int base) {
    if (buf.order() != ByteOrder.LITTLE_ENDIAN) {
      throw new IllegalArgumentException("ring buffer views must be little-endian");
    }
    if (this.buf != buf) {
      this.buf = buf;
      payloadViews[0] = buf.duplicate();
    }
    this.base = base;
    return this;
  }

  public int type() {
    return buf.get(base + OFF_TYPE) & 0xff;
  }

  public Direction direction() {
    return buf.get(base + OFF_DIRECTION) == 0 ? Direction.EGRESS : Direction.INGRESS;
  }

  public ConnectionRole role() {
    return ConnectionRole.of(buf.get(base + OFF_ROLE) & 0xff);
  }

  /**
   * {@link #AF_INET} or {@link #AF_INET6}: the family of the traffic, so {@link #AF_INET} also for
   * IPv4 on a dual-stack IPv6 socket (addresses are always 16 bytes, IPv4 v4-mapped).
   */
  public int family() {
    return buf.get(base + OFF_FAMILY) & 0xff;
  }

  public int flags() {
    return buf.getShort(base + OFF_FLAGS) & 0xffff;
  }

  /** Bytes sent by sendfile: the length is real, no payload was captured. */
  public boolean isSendfile() {
    return (flags() & FLAG_SENDFILE) != 0;
  }

  /**
   * The bytes this direction moved since its previous event were whole exchanges the kernel shed
   * while its ring buffer was crowded (already counted there): the offset jumps over them, and
   * this event's bytes begin an exchange as far as the kernel could tell. Not set when a record
   * of the direction was also dropped on a full ring.
   */
  public boolean followsShedExchanges() {
    return (flags() & FLAG_AFTER_SHED) != 0;
  }

  public int localPort() {
    return buf.getShort(base + OFF_LOCAL_PORT) & 0xffff;
  }

  public int remotePort() {
    return buf.getShort(base + OFF_REMOTE_PORT) & 0xffff;
  }

  /**
   * Payload bytes that follow the header, head and tail together: at most {@link #length()} and
   * the capture cap plus the tail setting.
   */
  public int captured() {
    return buf.getInt(base + OFF_CAPTURED);
  }

  /** The first bytes the call moved: the payload's first {@code headCaptured()} bytes. */
  public int headCaptured() {
    return captured() - tailCaptured();
  }

  /**
   * The last bytes the call moved, stored after the head; 0 unless the call moved more than the
   * capture cap. They end at stream offset {@code streamOffset() + length()}.
   */
  public int tailCaptured() {
    return buf.getShort(base + OFF_TAIL_CAPTURED) & 0xffff;
  }

  /** Process id (thread group id). */
  public int pid() {
    return buf.getInt(base + OFF_PID);
  }

  /** Thread id. */
  public int tid() {
    return buf.getInt(base + OFF_TID);
  }

  public int fd() {
    return buf.getInt(base + OFF_FD);
  }

  /** CLOCK_MONOTONIC nanoseconds when the syscall returned. */
  public long timestampNanos() {
    return buf.getLong(base + OFF_TIMESTAMP);
  }

  /** Unique per connection for the agent's lifetime, whatever fd number it has. */
  public long connectionId() {
    return buf.getLong(base + OFF_CONN_ID);
  }

  /**
   * The process's cgroup (v2) id when the kernel side started tracking the connection: read once
   * per connection, since a process only changes cgroup when an administrator moves it.
   */
  public long cgroupId() {
    return buf.getLong(base + OFF_CGROUP_ID);
  }

  /** Offset in this direction's byte stream of the first byte this syscall moved. */
  public long streamOffset() {
    return buf.getLong(base + OFF_OFFSET);
  }

  /** Bytes the syscall really moved (its return value). */
  public long length() {
    return buf.getLong(base + OFF_LEN);
  }

  /** 16 bytes, IPv4 v4-mapped. Allocates: call once per connection, not per event. */
  public InetAddress localAddress() {
    return address(OFF_LOCAL_ADDR);
  }

  /** 16 bytes, IPv4 v4-mapped. Allocates: call once per connection, not per event. */
  public InetAddress remoteAddress() {
    return address(OFF_REMOTE_ADDR);
  }

  /**
   * The comm (thread name, which is the executable's name unless the thread renamed itself) of
   * the thread that made the call, as the kernel had it then: known even when the process is gone
   * by the time the event is read. Allocates: call once per connection, not per event.
   */
  public String processName() {
    int n = 0;
    while (n < COMM_BYTES && buf.get(base + OFF_COMM + n) != 0) {
      n++;
    }
    byte[] raw = new byte[n];
    for (int i = 0; i < n; i++) {
      raw[i] = buf.get(base + OFF_COMM + i);
    }
    return new String(raw, StandardCharsets.UTF_8);
  }

  /** Appends the whole captured payload (head, then tail) to {@code dst}. */
  public void copyPayloadTo(ByteBuf dst) {
    copyPayloadRange(dst, 0, captured());
  }

  /** Appends the head (the first {@link #headCaptured()} bytes the call moved) to {@code dst}. */
  public void copyHeadTo(ByteBuf dst) {
    copyPayloadRange(dst, 0, headCaptured());
  }

  /** Appends the tail (the last {@link #tailCaptured()} bytes the call moved) to {@code dst}. */
  public void copyTailTo(ByteBuf dst) {
    int tail = tailCaptured();
    copyPayloadRange(dst, captured() - tail, tail);
  }

  private void copyPayloadRange(ByteBuf dst, int from, int n) {
    if (n <= 0) {
      return;
    }
    ByteBuffer view = payloadViews[0];
    int start = base + HEADER_SIZE + from;
    view.limit(start + n).position(start);
    dst.writeBytes(view);
  }

  /** Reads payload byte {@code i} (0-based, head then tail) without copying. */
  public byte payloadByte(int i) {
    return buf.get(base + HEADER_SIZE + i);
  }

  /** Size in bytes of this record (header plus captured payload). */
  public int recordSize() {
    return HEADER_SIZE + captured();
  }

  private InetAddress address(int off) {
    byte[] raw = new byte[16];
    for (int i = 0; i < 16; i++) {
      raw[i] = buf.get(base + off + i);
    }
    try {
      // getByAddress turns a v4-mapped address into an Inet4Address.
      return InetAddress.getByAddress(raw);
    } catch (UnknownHostException e) {
      throw new IllegalStateException(e); // 16 bytes are always a valid length
    }
  }

  /** Direction of a data event as seen by the traced process. */
  public enum Direction {
    /** The process wrote the bytes. */
    EGRESS,
    /** The process read the bytes. */
    INGRESS
  }

  /** How the connection was opened, when the kernel side saw it happen. */
  public enum ConnectionRole {
    UNKNOWN,
    /** The process called connect(). */
    CLIENT,
    /** The process accepted the connection. */
    SERVER;

    static ConnectionRole of(int code) {
      return switch (code) {
        case 1 -> CLIENT;
        case 2 -> SERVER;
        default -> UNKNOWN;
      };
    }
  }
}
