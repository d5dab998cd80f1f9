package dev.wirespan.capture;

import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * Writes records in the kernel's event layout. Used to replay recorded captures and to feed the
 * pipeline in tests and benchmarks exactly as the ring buffer would.
 */
public final class CaptureEventWriter {
  private int type = CaptureEvent.TYPE_DATA;
  private CaptureEvent.Direction direction = CaptureEvent.Direction.EGRESS;
  private CaptureEvent.ConnectionRole role = CaptureEvent.ConnectionRole.UNKNOWN;
  private int family = CaptureEvent.AF_INET;
  private int flags;
  private int pid = 1;
  private int tid = 1;
  private int fd = 3;
  private long timestampNanos;
  private long connectionId = 1;
  private long cgroupId;
  private long streamOffset;
  private long length = -1;
  private byte[] localAddress = mapped(new byte[] {127, 0, 0, 1});
  private byte[] remoteAddress = mapped(new byte[] {127, 0, 0, 1});
  private int localPort = 40000;
  private int remotePort = 8080;
  private byte[] processName = comm("");

  public CaptureEventWriter type(int type) {
    this.type = type;
    return this;
  }

  public CaptureEventWriter direction(CaptureEvent.Direction direction) {
    this.direction = Objects.requireNonNull(direction, "direction");
    return this;
  }

  public CaptureEventWriter role(CaptureEvent.ConnectionRole role) {
    this.role = Objects.requireNonNull(role, "role");
    return this;
  }

  public CaptureEventWriter flags(int flags) {
    this.flags = flags;
    return this;
  }

  public CaptureEventWriter pid(int pid) {
    this.pid = pid;
    return this;
  }

  public CaptureEventWriter tid(int tid) {
    this.tid = tid;
    return this;
  }

  public CaptureEventWriter fd(int fd) {
    this.fd = fd;
    return this;
  }

  public CaptureEventWriter timestampNanos(long timestampNanos) {
    this.timestampNanos = timestampNanos;
    return this;
  }

  public CaptureEventWriter connectionId(long connectionId) {
    this.connectionId = connectionId;
    return this;
  }

  public CaptureEventWriter cgroupId(long cgroupId) {
    this.cgroupId = cgroupId;
    return this;
  }

  public CaptureEventWriter streamOffset(long streamOffset) {
    this.streamOffset = streamOffset;
    return this;
  }

  /** Bytes the syscall moved; defaults to the payload length when not set (or negative). */
  public CaptureEventWriter length(long length) {
    this.length = length;
    return this;
  }

  /** The comm of the calling thread, cut to the kernel's 15 characters as the kernel does. */
  public CaptureEventWriter processName(String processName) {
    this.processName = comm(Objects.requireNonNull(processName, "processName"));
    return this;
  }

  public CaptureEventWriter local(InetAddress address, int port) {
    this.family = address.getAddress().length == 4 ? CaptureEvent.AF_INET : CaptureEvent.AF_INET6;
    this.localAddress = mapped(address.getAddress());
    this.localPort = port;
    return this;
  }

  public CaptureEventWriter remote(InetAddress address, int port) {
    this.remoteAddress = mapped(address.getAddress());
    this.remotePort = port;
    return this;
  }

  /** A little-endian buffer holding one record with {@code payload} as its captured bytes. */
  public ByteBuffer write(byte[] payload) {
    ByteBuffer b =
        ByteBuffer.allocate(CaptureEvent.HEADER_SIZE + payload.length)
            .order(ByteOrder.LITTLE_ENDIAN);
    write(b, payload, 0, payload.length);
    b.flip();
    return b;
  }

  /**
   * A little-endian buffer holding one record whose payload is {@code head} then {@code tail}, as
   * for a call that moved more than the capture cap. Set {@link #length(long)} to what the call
   * moved (at least both together).
   */
  public ByteBuffer write(byte[] head, byte[] tail) {
    byte[] payload = new byte[head.length + tail.length];
    System.arraycopy(head, 0, payload, 0, head.length);
    System.arraycopy(tail, 0, payload, head.length, tail.length);
    ByteBuffer b =
        ByteBuffer.allocate(CaptureEvent.HEADER_SIZE + payload.length)
            .order(ByteOrder.LITTLE_ENDIAN);
    writeRecord(b, payload, 0, payload.length, tail.length);
    b.flip();
    return b;
  }

  /** Appends one record to {@code b} (little-endian) at its position: a head, no tail. */
  public void write(ByteBuffer b, byte[] payload, int from, int captured) {
    writeRecord(b, payload, from, captured, 0);
  }

  /**
   * Appends one record to {@code b} (little-endian) at its position for a call that moved
   * {@code moved[from, from + length)} (set {@link #length(long)}), of which the kernel copied the
   * first {@code headCaptured} and the last {@code tailCaptured} bytes.
   */
  public void write(ByteBuffer b, byte[] moved, int from, int headCaptured, int tailCaptured) {
    if (tailCaptured == 0) {
      writeRecord(b, moved, from, headCaptured, 0);
      return;
    }
    if (length < (long) headCaptured + tailCaptured) {
      throw new IllegalStateException(
          "length (" + length + ") must cover head and tail: " + headCaptured + " + " + tailCaptured);
    }
    byte[] payload = new byte[headCaptured + tailCaptured];
    System.arraycopy(moved, from, payload, 0, headCaptured);
    System.arraycopy(
        moved, Math.toIntExact(from + length - tailCaptured), payload, headCaptured, tailCaptured);
    writeRecord(b, payload, 0, payload.length, tailCaptured);
  }

  private void writeRecord(ByteBuffer b, byte[] payload, int from, int captured, int tail) {
    int base = b.position();
    b.put(base + CaptureEvent.OFF_TYPE, (byte) type);
    b.put(base + CaptureEvent.OFF_DIRECTION, (byte) direction.ordinal());
    b.put(base + CaptureEvent.OFF_ROLE, (byte) role.ordinal());
    b.put(base + CaptureEvent.OFF_FAMILY, (byte) family);
    b.putShort(base + CaptureEvent.OFF_FLAGS, (short) flags);
    b.putShort(base + CaptureEvent.OFF_LOCAL_PORT, (short) localPort);
    b.putShort(base + CaptureEvent.OFF_REMOTE_PORT, (short) remotePort);
    b.putShort(base + CaptureEvent.OFF_TAIL_CAPTURED, (short) tail);
    b.putInt(base + CaptureEvent.OFF_CAPTURED, captured);
    b.putInt(base + CaptureEvent.OFF_PID, pid);
    b.putInt(base + CaptureEvent.OFF_TID, tid);
    b.putInt(base + CaptureEvent.OFF_FD, fd);
    b.putLong(base + CaptureEvent.OFF_TIMESTAMP, timestampNanos);
    b.putLong(base + CaptureEvent.OFF_CONN_ID, connectionId);
    b.putLong(base + CaptureEvent.OFF_CGROUP_ID, cgroupId);
    b.putLong(base + CaptureEvent.OFF_OFFSET, streamOffset);
    b.putLong(base + CaptureEvent.OFF_LEN, length >= 0 ? length : captured);
    for (int i = 0; i < 16; i++) {
      b.put(base + CaptureEvent.OFF_LOCAL_ADDR + i, localAddress[i]);
      b.put(base + CaptureEvent.OFF_REMOTE_ADDR + i, remoteAddress[i]);
    }
    for (int i = 0; i < CaptureEvent.COMM_BYTES; i++) {
      b.put(base + CaptureEvent.OFF_COMM + i, processName[i]);
    }
    for (int i = 0; i < captured; i++) {
      b.put(base + CaptureEvent.HEADER_SIZE + i, payload[from + i]);
    }
    b.position(base + CaptureEvent.HEADER_SIZE + captured);
  }

  /** NUL-padded, at most COMM_BYTES - 1 bytes of text like the kernel's comm. */
  private static byte[] comm(String name) {
    byte[] text = name.getBytes(StandardCharsets.UTF_8);
    byte[] c = new byte[CaptureEvent.COMM_BYTES];
    System.arraycopy(text, 0, c, 0, Math.min(text.length, CaptureEvent.COMM_BYTES - 1));
    return c;
  }

  private static byte[] mapped(byte[] address) {
    if (address.length == 16) {
      return address.clone();
    }
    byte[] m = new byte[16];
    m[10] = (byte) 0xff;
    m[11] = (byte) 0xff;
    System.arraycopy(address, 0, m, 12, 4);
    return m;
  }
}
