package dev.wirespan.http;

import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.capture.CaptureEvent;
import dev.wirespan.capture.CaptureEventSink;
import dev.wirespan.capture.CaptureEventWriter;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * Delivers a {@link Conversation} to a tracker as the ring buffer would: one record per syscall,
 * written by {@link CaptureEventWriter}, with increasing timestamps and a distinct thread id per
 * syscall so that tests can tell which event an exchange was timed from.
 */
final class Wire {
  static final long FIRST_TIMESTAMP_NANOS = 1_000_000_000L;
  static final long NANOS_BETWEEN_EVENTS = 1_000L;
  static final int FIRST_TID = 100;
  /** The comm every event of the wire carries. */
  static final String PROCESS_NAME = "orders-api";
  /** The process every event of the wire comes from. */
  static final int PID = 4242;
  /**
   * Connection {@code id}'s socket is fd FIRST_FD + id by default: connections open at once have
   * distinct fds, as in a real process (the tracker tells connections apart by pid and fd too).
   */
  static final int FIRST_FD = 7;

  /** One delivered data syscall. */
  record Sent(Conversation.Party party, long offset, long length, long timestampNanos, int tid) {}

  private final CaptureEventSink sink;
  private final HttpExchange.Side side;
  private final CaptureEvent.ConnectionRole role;
  private final CaptureEventWriter writer = new CaptureEventWriter();
  private final CaptureEvent view = new CaptureEvent();
  private final List<Sent> sent = new ArrayList<>();
  private long clock = FIRST_TIMESTAMP_NANOS;
  private int nextTid = FIRST_TID;
  private int captureCapBytes = Integer.MAX_VALUE;
  private int captureTailBytes;
  private boolean recording = true;
  /** Flags of the next data event only. */
  private int nextFlags;
  private int fd;
  private InetAddress localAddress;
  private int localPort;
  private InetAddress remoteAddress;
  private int remotePort;

  Wire(CaptureEventSink sink, HttpExchange.Side side, long connectionId) {
    this(sink, side, connectionId, side == HttpExchange.Side.SERVER
        ? CaptureEvent.ConnectionRole.SERVER
        : CaptureEvent.ConnectionRole.CLIENT);
  }

  Wire(
      CaptureEventSink sink,
      HttpExchange.Side side,
      long connectionId,
      CaptureEvent.ConnectionRole role) {
    this.sink = sink;
    this.side = side;
    this.role = role;
    try {
      localAddress = InetAddress.getByName("127.0.0.1");
      remoteAddress = InetAddress.getByName("127.0.0.2");
    } catch (java.net.UnknownHostException e) {
      throw new AssertionError(e);
    }
    localPort = side == HttpExchange.Side.SERVER ? 8080 : 40000;
    remotePort = side == HttpExchange.Side.SERVER ? 40000 : 8080;
    fd = (int) (FIRST_FD + connectionId);
    writer
        .connectionId(connectionId)
        .role(role)
        .pid(PID)
        .processName(PROCESS_NAME)
        .fd(fd)
        .cgroupId(99)
        .local(localAddress, localPort)
        .remote(remoteAddress, remotePort);
  }

  /**
   * The same socket (pid, fd, addresses and ports) as the kernel tracks it again after forgetting
   * it: a new connection id with role UNKNOWN whose offsets start at 0, on this wire's clock.
   */
  Wire reTracked(long newConnectionId) {
    Wire w = new Wire(sink, side, newConnectionId, CaptureEvent.ConnectionRole.UNKNOWN);
    w.fd(fd);
    w.clock = clock;
    w.nextTid = nextTid;
    return w;
  }

  /** Events carry this fd (another connection's fd: the fd was reused). */
  Wire fd(int fd) {
    this.fd = fd;
    writer.fd(fd);
    return this;
  }

  int fd() {
    return fd;
  }

  /** Events carry this remote port (a socket to another peer). */
  Wire remotePort(int port) {
    this.remotePort = port;
    writer.remote(remoteAddress, port);
    return this;
  }

  /** Continues the clock of {@code other} (its events came first). */
  Wire after(Wire other) {
    clock = Math.max(clock, other.clock);
    nextTid = Math.max(nextTid, other.nextTid);
    return this;
  }

  /** The next data event carries these flags ({@link CaptureEvent#FLAG_AFTER_SHED}, ...). */
  void flagNext(int flags) {
    nextFlags = flags;
  }

  /** Copy at most this many payload bytes per syscall, as the kernel side's cap does. */
  Wire captureCap(int bytes) {
    this.captureCapBytes = bytes;
    return this;
  }

  /**
   * Of a syscall that moved more than the cap, also copy its last bytes, at most this many, as
   * the kernel side's tail_bytes does (0, the default here: none).
   */
  Wire captureTail(int bytes) {
    this.captureTailBytes = bytes;
    return this;
  }

  /** Stop remembering the syscalls sent (memory tests with many long-lived wires). */
  Wire withoutHistory() {
    this.recording = false;
    return this;
  }

  /** Delivers every step, each cut into syscalls of the sizes {@code split} gives for it. */
  void deliver(Conversation c, IntFunction<int[]> split) {
    List<Conversation.Step> steps = c.steps();
    for (int i = 0; i < steps.size(); i++) {
      Conversation.Step s = steps.get(i);
      if (s.close()) {
        close();
        continue;
      }
      int[] sizes = split.apply(i);
      int at = 0;
      for (int size : sizes) {
        data(s.party(), s.offset() + at, s.bytes(), at, size);
        at += size;
      }
      assertThat(at).as("pieces cover step %d", i).isEqualTo(s.bytes().length);
    }
  }

  /** Delivers every step in one syscall each. */
  void deliver(Conversation c) {
    deliver(c, i -> new int[] {c.steps().get(i).bytes().length});
  }

  /** One data syscall moving {@code length} bytes of {@code bytes} from {@code from}. */
  void data(Conversation.Party party, long offset, byte[] bytes, int from, int length) {
    int head = Math.min(length, captureCapBytes);
    int tail = length > head ? Math.min(captureTailBytes, length - head) : 0;
    dataHeadAndTail(party, offset, bytes, from, length, head, tail);
  }

  /** One data syscall that moved {@code length} bytes of which {@code captured} were copied. */
  void dataTruncated(
      Conversation.Party party, long offset, byte[] bytes, int from, long length, int captured) {
    dataHeadAndTail(party, offset, bytes, from, length, captured, 0);
  }

  /**
   * One data syscall that moved {@code bytes[from, from + length)}, of which the first {@code
   * head} and the last {@code tail} were copied.
   */
  void dataHeadAndTail(
      Conversation.Party party, long offset, byte[] bytes, int from, long length, int head,
      int tail) {
    int captured = head + tail;
    long ts = tick();
    int tid = nextTid++;
    writer
        .type(CaptureEvent.TYPE_DATA)
        .flags(nextFlags)
        .direction(directionOf(party))
        .timestampNanos(ts)
        .tid(tid)
        .streamOffset(offset)
        .length(length);
    ByteBuffer b =
        ByteBuffer.allocate(CaptureEvent.HEADER_SIZE + captured)
            .order(java.nio.ByteOrder.LITTLE_ENDIAN);
    writer.write(b, bytes, from, head, tail);
    nextFlags = 0;
    b.flip();
    sink.onEvent(view.wrap(b, 0));
    if (recording) {
      sent.add(new Sent(party, offset, length, ts, tid));
    }
  }

  void close() {
    long ts = tick();
    writer.type(CaptureEvent.TYPE_CLOSE).flags(0).timestampNanos(ts).streamOffset(0).length(0);
    ByteBuffer b = writer.write(new byte[0]);
    sink.onEvent(view.wrap(b, 0));
    lastCloseNanos = ts;
  }

  private long lastCloseNanos;

  long lastCloseNanos() {
    return lastCloseNanos;
  }

  /** Advances the clock without an event (e.g. time passing before a late response). */
  void advance(long nanos) {
    clock += nanos;
  }

  long now() {
    return clock;
  }

  private long tick() {
    clock += NANOS_BETWEEN_EVENTS;
    return clock;
  }

  CaptureEvent.Direction directionOf(Conversation.Party party) {
    boolean requestsIngress = side == HttpExchange.Side.SERVER;
    boolean ingress = (party == Conversation.Party.REQUESTS) == requestsIngress;
    return ingress ? CaptureEvent.Direction.INGRESS : CaptureEvent.Direction.EGRESS;
  }

  /** The syscall that moved byte {@code offset} of {@code party}'s stream. */
  Sent carrying(Conversation.Party party, long offset) {
    for (Sent s : sent) {
      if (s.party() == party && s.offset() <= offset && offset < s.offset() + s.length()) {
        return s;
      }
    }
    throw new AssertionError("no syscall carried " + party + " byte " + offset);
  }

  List<Sent> sent() {
    return sent;
  }

  CaptureEvent.ConnectionRole role() {
    return role;
  }
}
