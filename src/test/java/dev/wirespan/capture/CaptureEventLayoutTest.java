package dev.wirespan.capture;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Java mirror of the kernel's records and counters agrees with the C headers. */
class CaptureEventLayoutTest {
  private static final Path INCLUDE = Path.of("bpf/include").toAbsolutePath();
  private static final long COMPILE_TIMEOUT_SECONDS = 60;

  @TempDir Path dir;

  @Test
  void javaOffsetsMatchTheCHeader() throws Exception {
    Map<String, Long> c = cLayout();

    Map<String, Integer> java = new HashMap<>();
    java.put("type", CaptureEvent.OFF_TYPE);
    java.put("direction", CaptureEvent.OFF_DIRECTION);
    java.put("role", CaptureEvent.OFF_ROLE);
    java.put("family", CaptureEvent.OFF_FAMILY);
    java.put("flags", CaptureEvent.OFF_FLAGS);
    java.put("local_port", CaptureEvent.OFF_LOCAL_PORT);
    java.put("remote_port", CaptureEvent.OFF_REMOTE_PORT);
    java.put("tail_captured", CaptureEvent.OFF_TAIL_CAPTURED);
    java.put("captured", CaptureEvent.OFF_CAPTURED);
    java.put("pid", CaptureEvent.OFF_PID);
    java.put("tid", CaptureEvent.OFF_TID);
    java.put("fd", CaptureEvent.OFF_FD);
    java.put("timestamp_ns", CaptureEvent.OFF_TIMESTAMP);
    java.put("conn_id", CaptureEvent.OFF_CONN_ID);
    java.put("cgroup_id", CaptureEvent.OFF_CGROUP_ID);
    java.put("offset", CaptureEvent.OFF_OFFSET);
    java.put("len", CaptureEvent.OFF_LEN);
    java.put("local_addr", CaptureEvent.OFF_LOCAL_ADDR);
    java.put("remote_addr", CaptureEvent.OFF_REMOTE_ADDR);
    java.put("comm", CaptureEvent.OFF_COMM);
    java.put("payload", CaptureEvent.HEADER_SIZE);
    for (Map.Entry<String, Integer> e : java.entrySet()) {
      assertThat(c.get("offsetof." + e.getKey())).as(e.getKey()).isEqualTo(e.getValue().longValue());
    }

    assertThat(c.get("sizeof")).isEqualTo(CaptureEvent.HEADER_SIZE);
    assertThat(c.get("WS_EVENT_HEADER_SIZE")).isEqualTo(CaptureEvent.HEADER_SIZE);
    assertThat(c.get("WS_MAX_PAYLOAD")).isEqualTo(CaptureSettings.MAX_CAPTURE_BYTES);
    assertThat(c.get("WS_MAX_TAIL")).isEqualTo(CaptureSettings.MAX_TAIL_BYTES);
    assertThat(c.get("WS_COMM_LEN")).isEqualTo(CaptureEvent.COMM_BYTES);
    assertThat(c.get("sizeof.comm")).isEqualTo(CaptureEvent.COMM_BYTES);
    assertThat(c.get("sizeof.tail_captured")).isEqualTo(Short.BYTES);
    // Records follow each other in the ring 8-byte aligned; the header keeps payloads aligned too.
    assertThat(CaptureEvent.HEADER_SIZE % Long.BYTES).isZero();
    assertThat(c.get("WS_EVENT_DATA")).isEqualTo(CaptureEvent.TYPE_DATA);
    assertThat(c.get("WS_EVENT_CLOSE")).isEqualTo(CaptureEvent.TYPE_CLOSE);
    assertThat(c.get("WS_FLAG_SENDFILE")).isEqualTo(CaptureEvent.FLAG_SENDFILE);
    assertThat(c.get("WS_FLAG_AFTER_SHED")).isEqualTo(CaptureEvent.FLAG_AFTER_SHED);
    assertThat(c.get("WS_AF_INET")).isEqualTo(CaptureEvent.AF_INET);
    assertThat(c.get("WS_AF_INET6")).isEqualTo(CaptureEvent.AF_INET6);
    assertThat(c.get("WS_DIR_EGRESS")).isEqualTo(CaptureEvent.Direction.EGRESS.ordinal());
    assertThat(c.get("WS_DIR_INGRESS")).isEqualTo(CaptureEvent.Direction.INGRESS.ordinal());
    assertThat(c.get("WS_ROLE_UNKNOWN")).isEqualTo(CaptureEvent.ConnectionRole.UNKNOWN.ordinal());
    assertThat(c.get("WS_ROLE_CLIENT")).isEqualTo(CaptureEvent.ConnectionRole.CLIENT.ordinal());
    assertThat(c.get("WS_ROLE_SERVER")).isEqualTo(CaptureEvent.ConnectionRole.SERVER.ordinal());
    assertThat(c.get("WS_LOSS_RINGBUF_FULL")).isEqualTo(KernelLossCounters.RINGBUF_FULL);
    assertThat(c.get("WS_LOSS_MAP_FULL")).isEqualTo(KernelLossCounters.MAP_FULL);
    assertThat(c.get("WS_LOSS_COPY_TRUNCATED")).isEqualTo(KernelLossCounters.COPY_TRUNCATED);
    assertThat(c.get("WS_LOSS_EVENTS_EMITTED")).isEqualTo(KernelLossCounters.EVENTS_EMITTED);
    assertThat(c.get("WS_LOSS_SELF_CONNS_IGNORED"))
        .isEqualTo(KernelLossCounters.SELF_CONNECTIONS_IGNORED);
    assertThat(c.get("WS_LOSS_EXCHANGES_SHED")).isEqualTo(KernelLossCounters.EXCHANGES_SHED);
    assertThat(c.get("WS_LOSS_COUNT")).isEqualTo(KernelLossCounters.COUNT);
  }

  @Test
  void recordRoundTripsThroughWriterAndView() throws Exception {
    byte[] payload = "GET / HTTP/1.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
    ByteBuffer record =
        new CaptureEventWriter()
            .type(CaptureEvent.TYPE_DATA)
            .direction(CaptureEvent.Direction.INGRESS)
            .role(CaptureEvent.ConnectionRole.SERVER)
            .flags(CaptureEvent.FLAG_SENDFILE)
            .pid(4242)
            .tid(4243)
            .fd(17)
            .timestampNanos(123_456_789_012L)
            .connectionId(99)
            .cgroupId(7)
            .streamOffset(1L << 33)
            .length(5000)
            .local(InetAddress.getByName("::1"), 8080)
            .remote(InetAddress.getByName("::1"), 54321)
            .processName("curl")
            .write(payload);

    CaptureEvent e = new CaptureEvent().wrap(record, 0);
    assertThat(e.type()).isEqualTo(CaptureEvent.TYPE_DATA);
    assertThat(e.direction()).isEqualTo(CaptureEvent.Direction.INGRESS);
    assertThat(e.role()).isEqualTo(CaptureEvent.ConnectionRole.SERVER);
    assertThat(e.family()).isEqualTo(CaptureEvent.AF_INET6);
    assertThat(e.isSendfile()).isTrue();
    assertThat(e.pid()).isEqualTo(4242);
    assertThat(e.tid()).isEqualTo(4243);
    assertThat(e.fd()).isEqualTo(17);
    assertThat(e.timestampNanos()).isEqualTo(123_456_789_012L);
    assertThat(e.connectionId()).isEqualTo(99);
    assertThat(e.cgroupId()).isEqualTo(7);
    assertThat(e.streamOffset()).isEqualTo(1L << 33);
    assertThat(e.length()).isEqualTo(5000);
    assertThat(e.localPort()).isEqualTo(8080);
    assertThat(e.remotePort()).isEqualTo(54321);
    assertThat(e.localAddress()).isEqualTo(InetAddress.getByName("::1"));
    assertThat(e.remoteAddress()).isEqualTo(InetAddress.getByName("::1"));
    assertThat(e.captured()).isEqualTo(payload.length);
    assertThat(e.headCaptured()).isEqualTo(payload.length);
    assertThat(e.tailCaptured()).isZero();
    assertThat(e.processName()).isEqualTo("curl");
    assertThat(e.recordSize()).isEqualTo(CaptureEvent.HEADER_SIZE + payload.length);
    ByteBuf copy = Unpooled.buffer();
    e.copyPayloadTo(copy);
    assertThat(copy.toString(StandardCharsets.US_ASCII)).isEqualTo("GET / HTTP/1.1\r\n\r\n");
    copy.release();
  }

  @Test
  void headAndTailAreCopiedSeparately() {
    byte[] head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\nabc"
        .getBytes(StandardCharsets.US_ASCII);
    byte[] tail = "xyz\r\n0\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
    long moved = 5000;
    ByteBuffer record =
        new CaptureEventWriter()
            .length(moved)
            .processName("a-very-long-thread-name")
            .write(head, tail);

    CaptureEvent e = new CaptureEvent().wrap(record, 0);
    assertThat(e.length()).isEqualTo(moved);
    assertThat(e.captured()).isEqualTo(head.length + tail.length);
    assertThat(e.headCaptured()).isEqualTo(head.length);
    assertThat(e.tailCaptured()).isEqualTo(tail.length);
    assertThat(e.recordSize()).isEqualTo(CaptureEvent.HEADER_SIZE + head.length + tail.length);
    // The kernel's comm holds 15 characters and a NUL.
    assertThat(e.processName()).isEqualTo("a-very-long-thr");
    ByteBuf h = Unpooled.buffer();
    ByteBuf t = Unpooled.buffer();
    ByteBuf all = Unpooled.buffer();
    e.copyHeadTo(h);
    e.copyTailTo(t);
    e.copyPayloadTo(all);
    assertThat(ByteBufUtil.getBytes(h)).isEqualTo(head);
    assertThat(ByteBufUtil.getBytes(t)).isEqualTo(tail);
    assertThat(all.toString(StandardCharsets.US_ASCII))
        .isEqualTo(new String(head, StandardCharsets.US_ASCII) + new String(tail, StandardCharsets.US_ASCII));
    h.release();
    t.release();
    all.release();
  }

  @Test
  void writerTakesHeadAndTailFromTheBytesMoved() {
    byte[] moved = new byte[300];
    for (int i = 0; i < moved.length; i++) {
      moved[i] = (byte) i;
    }
    CaptureEventWriter writer = new CaptureEventWriter().length(200);
    ByteBuffer b = ByteBuffer.allocate(1024).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    writer.write(b, moved, 50, 64, 16); // the call moved moved[50, 250)
    b.flip();

    CaptureEvent e = new CaptureEvent().wrap(b, 0);
    assertThat(e.headCaptured()).isEqualTo(64);
    assertThat(e.tailCaptured()).isEqualTo(16);
    assertThat(e.payloadByte(0)).isEqualTo((byte) 50);
    assertThat(e.payloadByte(63)).isEqualTo((byte) 113);
    assertThat(e.payloadByte(64)).isEqualTo((byte) 234);
    assertThat(e.payloadByte(79)).isEqualTo((byte) 249);
  }

  /** Compiles and runs a C program printing the header's sizes, offsets and constants. */
  private Map<String, Long> cLayout() throws IOException, InterruptedException {
    Privileges.requireThat(onPath("gcc"), "gcc is needed to check the C layout");
    StringBuilder src = new StringBuilder();
    src.append("#include <stdio.h>\n#include <stddef.h>\n#include <linux/types.h>\n")
        .append("#include \"wirespan_event.h\"\n#include \"wirespan_losses.h\"\n")
        .append("int main(void) {\n")
        .append("  printf(\"sizeof %zu\\n\", sizeof(struct ws_event));\n")
        .append("  printf(\"sizeof.comm %zu\\n\", sizeof(((struct ws_event *)0)->comm));\n")
        .append("  printf(\"sizeof.tail_captured %zu\\n\",")
        .append(" sizeof(((struct ws_event *)0)->tail_captured));\n");
    for (String field :
        List.of(
            "type", "direction", "role", "family", "flags", "local_port", "remote_port",
            "tail_captured", "captured", "pid", "tid", "fd", "timestamp_ns", "conn_id", "cgroup_id", "offset",
            "len", "local_addr", "remote_addr", "comm", "payload")) {
      src.append("  printf(\"offsetof.")
          .append(field)
          .append(" %zu\\n\", offsetof(struct ws_event, ")
          .append(field)
          .append("));\n");
    }
    for (String constant :
        List.of(
            "WS_EVENT_HEADER_SIZE", "WS_MAX_PAYLOAD", "WS_MAX_TAIL", "WS_COMM_LEN", "WS_EVENT_DATA", "WS_EVENT_CLOSE",
            "WS_FLAG_SENDFILE", "WS_FLAG_AFTER_SHED", "WS_AF_INET", "WS_AF_INET6", "WS_DIR_EGRESS", "WS_DIR_INGRESS",
            "WS_ROLE_UNKNOWN", "WS_ROLE_CLIENT", "WS_ROLE_SERVER", "WS_LOSS_RINGBUF_FULL",
            "WS_LOSS_MAP_FULL", "WS_LOSS_COPY_TRUNCATED", "WS_LOSS_EVENTS_EMITTED",
            "WS_LOSS_SELF_CONNS_IGNORED", "WS_LOSS_EXCHANGES_SHED", "WS_LOSS_COUNT")) {
      src.append("  printf(\"")
          .append(constant)
          .append(" %ld\\n\", (long)(")
          .append(constant)
          .append("));\n");
    }
    src.append("  return 0;\n}\n");
    Path c = dir.resolve("layout.c");
    Path exe = dir.resolve("layout");
    Files.writeString(c, src);
    run(List.of("gcc", "-Wall", "-Werror", "-I", INCLUDE.toString(), "-o", exe.toString(), c.toString()));
    Map<String, Long> values = new HashMap<>();
    for (String line : run(List.of(exe.toString())).split("\n")) {
      String[] kv = line.trim().split(" ");
      values.put(kv[0], Long.parseLong(kv[1]));
    }
    return values;
  }

  private static String run(List<String> command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(COMPILE_TIMEOUT_SECONDS, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(String.join(" ", command) + ":\n" + out).isZero();
    return out;
  }

  private static boolean onPath(String tool) {
    for (String d : System.getenv().getOrDefault("PATH", "").split(":")) {
      if (Files.isExecutable(Path.of(d, tool))) {
        return true;
      }
    }
    return false;
  }
}
