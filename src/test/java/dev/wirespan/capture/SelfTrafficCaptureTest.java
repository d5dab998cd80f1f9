package dev.wirespan.capture;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The other end of the agent's own connections is not captured either: with this JVM as the
 * agent (selfTgid = its pid), a plain HTTP server in a child process serves this JVM and another
 * child; only the other child's exchange shows up, on both sides.
 */
class SelfTrafficCaptureTest {
  private static final int PID = (int) ProcessHandle.current().pid();
  private static final int CAPTURE_BYTES = 4096;
  private static final int POLL_TIMEOUT_MILLIS = 20;
  private static final Duration EVENT_WAIT = Duration.ofSeconds(15);
  private static final long CHILD_WAIT_SECONDS = 15;
  private static final String FILE_NAME = "hello.txt";
  private static final String FILE_BODY = "hello from the child server\n";
  /** http.server's first line on stdout once it listens. */
  private static final Pattern SERVING = Pattern.compile("Serving HTTP on \\S+ port (\\d+)");
  private static final List<String> PYTHONS = List.of("/usr/bin/python3", "/usr/local/bin/python3");

  @TempDir Path dir;

  @Test
  void theOtherEndOfTheAgentsOwnConnectionsIsNotCaptured() throws Exception {
    Privileges.requireRoot();
    String python = python3();
    Files.writeString(dir.resolve(FILE_NAME), FILE_BODY, US_ASCII);
    String request = "GET /" + FILE_NAME + " HTTP/1.0\r\nHost: test\r\n\r\n";

    Process server =
        new ProcessBuilder(
                python, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
                "--directory", dir.toString())
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start();
    Process control = null;
    List<CapturedEvent> seen = new CopyOnWriteArrayList<>();
    try {
      int port = servingPort(server);
      int serverPid = (int) server.pid();
      InetAddress lo = InetAddress.getByName("127.0.0.1");
      // Connected before the capture starts: the agent's endpoint is learnt from its first write.
      // Both of this JVM's sockets stay open to the end, so that no other socket takes their ports.
      try (Socket early = new Socket(lo, port);
          KernelCapture capture =
              KernelCapture.open(CaptureSettings.builder().setCaptureBytes(CAPTURE_BYTES).build());
          // Connected while the capture runs: the endpoint is learnt at connect().
          Socket connected = new Socket(lo, port)) {
        assertThat(capture.settings().selfTgid()).isEqualTo(PID);
        int earlyPort = early.getLocalPort();
        int connectedPort = connected.getLocalPort();
        assertThat(exchange(connected, request)).startsWith("HTTP/1.0 200").endsWith(FILE_BODY);
        assertThat(exchange(early, request)).startsWith("HTTP/1.0 200").endsWith(FILE_BODY);

        // The control: another process (bash) fetches the same file from the same server.
        control =
            new ProcessBuilder(
                    "bash",
                    "-c",
                    "exec 3<>/dev/tcp/127.0.0.1/" + port
                        + "; printf '" + request.replace("\r\n", "\\r\\n") + "' >&3"
                        + "; cat <&3 >/dev/null; exec 3>&-")
                .redirectErrorStream(true)
                .start();
        assertThat(control.waitFor(CHILD_WAIT_SECONDS, TimeUnit.SECONDS)).isTrue();
        int controlPid = (int) control.pid();

        // Events are read in reservation order, and the server wrote everything about the
        // agent's exchanges before this JVM saw their end: once the control exchange is in on
        // both sides, anything about the agent's would be too.
        AtomicInteger controlPort = new AtomicInteger();
        await()
            .atMost(EVENT_WAIT)
            .until(
                () -> {
                  capture.ringBuffer().poll(
                      e -> {
                        if (e.localPort() == port || e.remotePort() == port) {
                          seen.add(CapturedEvent.copyOf(e));
                        }
                      },
                      POLL_TIMEOUT_MILLIS);
                  seen.stream()
                      .filter(e -> e.pid() == controlPid && e.remotePort() == port)
                      .findFirst()
                      .ifPresent(e -> controlPort.set(e.localPort()));
                  return controlPort.get() != 0
                      && seen.stream()
                          .anyMatch(e -> e.isClose() && e.between(port, controlPort.get()));
                });

        List<CapturedEvent> controlClient =
            seen.stream().filter(e -> e.between(controlPort.get(), port)).toList();
        List<CapturedEvent> controlServer =
            seen.stream().filter(e -> e.between(port, controlPort.get())).toList();
        assertThat(egress(controlClient)).isEqualTo(request);
        assertThat(controlServer).allMatch(e -> e.pid() == serverPid);
        assertThat(ingress(controlServer)).isEqualTo(request);
        assertThat(egress(controlServer)).startsWith("HTTP/1.0 200").endsWith(FILE_BODY);

        // Nothing at all of the server's side of this JVM's two connections.
        assertThat(seen).noneMatch(e -> e.touches(earlyPort) || e.touches(connectedPort));
        assertThat(seen)
            .filteredOn(e -> e.pid() == serverPid)
            .isNotEmpty()
            .allMatch(e -> e.remotePort() == controlPort.get());
        assertThat(seen).noneMatch(e -> e.pid() == PID);
        assertThat(capture.lossCounters().selfConnectionsIgnored()).isGreaterThanOrEqualTo(2);
      }
    } finally {
      server.destroy();
      assertThat(server.waitFor(CHILD_WAIT_SECONDS, TimeUnit.SECONDS)).isTrue();
      if (control != null) {
        control.destroy();
      }
    }
  }

  /** Sends an HTTP/1.0 request and reads the response up to the server's close. */
  private static String exchange(Socket socket, String request) throws IOException {
    socket.getOutputStream().write(request.getBytes(US_ASCII));
    ByteArrayOutputStream response = new ByteArrayOutputStream();
    socket.getInputStream().transferTo(response);
    return response.toString(US_ASCII);
  }

  private static String egress(List<CapturedEvent> side) {
    return stream(side, CaptureEvent.Direction.EGRESS);
  }

  private static String ingress(List<CapturedEvent> side) {
    return stream(side, CaptureEvent.Direction.INGRESS);
  }

  /** One direction's captured bytes in stream order (every payload here is below the cap). */
  private static String stream(List<CapturedEvent> side, CaptureEvent.Direction d) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    side.stream()
        .filter(e -> e.isData() && e.direction() == d)
        .sorted((a, b) -> Long.compare(a.streamOffset(), b.streamOffset()))
        .forEach(e -> out.writeBytes(e.payload()));
    return out.toString(US_ASCII);
  }

  /** The port http.server announces once it listens (it was told to pick a free one). */
  private static int servingPort(Process server) throws IOException {
    BufferedReader out = new BufferedReader(new InputStreamReader(server.getInputStream(), US_ASCII));
    String line = out.readLine();
    assertThat(line).as("http.server's first line").isNotNull();
    Matcher m = SERVING.matcher(line);
    assertThat(m.find()).as("http.server said: %s", line).isTrue();
    return Integer.parseInt(m.group(1));
  }

  /**
   * The interpreter itself rather than a shim in front of it, so that the child's pid is the
   * server's.
   */
  private static String python3() {
    String found = PYTHONS.stream().filter(p -> Files.isExecutable(Path.of(p))).findFirst().orElse(null);
    Privileges.requireThat(found != null, "python3 (" + PYTHONS + ") is needed as the child server");
    return found;
  }
}
