package dev.wirespan.capture;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The real BPF programs in this kernel, observing this JVM's own sockets (selfTgid = 0): what the
 * ring buffer says must be exactly what the sockets carried. Runs with the build the agent picks
 * by default ({@link ProgramVariant#AUTO}); {@link PortableKernelCaptureTest} runs the same
 * checks with the portable build forced.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class KernelCaptureTest {
  private static final int PID = (int) ProcessHandle.current().pid();
  /** This process's comm: the name of its main thread, not of the thread making the calls. */
  private static final String PROCESS_NAME = processName();
  private static final int CAPTURE_BYTES = 4096;
  private static final int TAIL_BYTES = CaptureSettings.DEFAULT_TAIL_BYTES;
  private static final int POLL_TIMEOUT_MILLIS = 20;
  private static final Duration EVENT_WAIT = Duration.ofSeconds(15);
  private static final long JOIN_SECONDS = 15;
  private static final int BIG_BODY_BYTES = 10_000;
  private static final int READ_BUFFER_BYTES = 65536;
  /** Wake-up threshold of the wake-up test: one full-size event crosses it. */
  private static final long SMALL_WAKEUP_BYTES = 4096;
  /** Three capture-sized events: well above SMALL_WAKEUP_BYTES. */
  private static final int BURST_BODY_BYTES = 3 * CAPTURE_BYTES;
  /** Far longer than BURST_WAIT_SECONDS: a poll that is not woken cannot deliver in time. */
  private static final int LONG_POLL_TIMEOUT_MILLIS = 60_000;
  private static final long BURST_WAIT_SECONDS = 20;
  private static final String SYSCALL_POLL = "7";
  private static final String SYSCALL_PPOLL = "271";
  /** The fd {@code exec 3<>...} gives in bash. */
  private static final int BASH_REDIRECTED_FD = 3;
  private static final int CLOSE_WAIT_MILLIS = 5000;

  private final List<CapturedEvent> events = new CopyOnWriteArrayList<>();
  /** Processes whose events the collector keeps: this one, and children of some tests. */
  private final Set<Integer> watchedPids = ConcurrentHashMap.newKeySet();
  private KernelCapture capture;
  private Thread collector;
  private volatile boolean collecting;

  // A connection opened before the capture started.
  private ServerSocket preServer;
  private Socket preClient;
  private Socket preAccepted;

  @BeforeAll
  void startCapture() throws IOException {
    Privileges.requireRoot();
    InetAddress lo = InetAddress.getByName("127.0.0.1");
    preServer = new ServerSocket(0, 1, lo);
    preClient = new Socket(lo, preServer.getLocalPort());
    preAccepted = preServer.accept();

    capture =
        KernelCapture.open(
            CaptureSettings.builder()
                .setSelfTgid(0)
                .setCaptureBytes(CAPTURE_BYTES)
                .setProgramVariant(variant())
                .build());
    watchedPids.add(PID);
    collecting = true;
    collector =
        new Thread(
            () -> {
              while (collecting) {
                capture
                    .ringBuffer()
                    .poll(
                        e -> {
                          if (watchedPids.contains(e.pid())) {
                            events.add(CapturedEvent.copyOf(e));
                          }
                        },
                        POLL_TIMEOUT_MILLIS);
              }
            },
            "capture-test-collector");
    collector.start();
  }

  @AfterAll
  void stopCapture() throws Exception {
    collecting = false;
    if (collector != null) {
      collector.join(TimeUnit.SECONDS.toMillis(JOIN_SECONDS));
    }
    if (capture != null) {
      capture.close();
    }
    for (AutoCloseable c : new AutoCloseable[] {preClient, preAccepted, preServer}) {
      if (c != null) {
        c.close();
      }
    }
  }

  /** The build these tests load. */
  ProgramVariant variant() {
    return ProgramVariant.AUTO;
  }

  /** The build that must run: the kfunc one wherever the kernel has the kfunc. */
  ProgramVariant expectedVariant() {
    return KernelCapture.kernelHasKfunc() ? ProgramVariant.KFUNC : ProgramVariant.PORTABLE;
  }

  @Test
  void theExpectedBuildOfTheProgramsRuns() {
    assertThat(capture.programVariant()).isEqualTo(expectedVariant());
    assertThat(capture.settings().programVariant()).isEqualTo(variant());
  }

  @ParameterizedTest
  @ValueSource(strings = {"127.0.0.1", "::1"})
  void keepAliveHttpExchangesAreCapturedOnBothSides(String host) throws Exception {
    InetAddress lo = InetAddress.getByName(host);
    byte[] req1 = "GET /first HTTP/1.1\r\nHost: test\r\n\r\n".getBytes(US_ASCII);
    byte[] req2 = "GET /second HTTP/1.1\r\nHost: test\r\n\r\n".getBytes(US_ASCII);
    byte[] resp1 = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none".getBytes(US_ASCII);
    byte[] resp2 = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo".getBytes(US_ASCII);

    try (ServerSocket server = new ServerSocket(0, 1, lo)) {
      int port = server.getLocalPort();
      CompletableFuture<int[]> serverSide =
          CompletableFuture.supplyAsync(
              () -> {
                try (Socket s = server.accept()) {
                  int[] tidAndFd = {osTid(), socketFd(s.getLocalPort(), s.getPort())};
                  InputStream in = s.getInputStream();
                  OutputStream out = s.getOutputStream();
                  assertThat(readExactly(in, req1.length)).isEqualTo(req1);
                  out.write(resp1);
                  assertThat(readExactly(in, req2.length)).isEqualTo(req2);
                  out.write(resp2);
                  assertThat(in.read()).isEqualTo(-1);
                  return tidAndFd;
                } catch (IOException e) {
                  throw new IllegalStateException(e);
                }
              });

      int clientPort;
      int clientFd;
      int clientTid = osTid();
      try (Socket client = new Socket(lo, port)) {
        clientPort = client.getLocalPort();
        clientFd = socketFd(clientPort, port);
        InputStream in = client.getInputStream();
        OutputStream out = client.getOutputStream();
        out.write(req1);
        assertThat(readExactly(in, resp1.length)).isEqualTo(resp1);
        out.write(req2);
        assertThat(readExactly(in, resp2.length)).isEqualTo(resp2);
      }
      int[] serverTidAndFd = serverSide.get(JOIN_SECONDS, TimeUnit.SECONDS);

      List<CapturedEvent> client = awaitClosed(clientPort, port);
      List<CapturedEvent> served = awaitClosed(port, clientPort);

      int family = lo.getAddress().length == 4 ? CaptureEvent.AF_INET : CaptureEvent.AF_INET6;
      assertSide(client, CaptureEvent.ConnectionRole.CLIENT, family, lo, clientTid, clientFd);
      assertSide(
          served, CaptureEvent.ConnectionRole.SERVER, family, lo, serverTidAndFd[0], serverTidAndFd[1]);
      assertThat(client.get(0).connectionId()).isNotEqualTo(served.get(0).connectionId());

      assertThat(stream(client, CaptureEvent.Direction.EGRESS)).isEqualTo(concat(req1, req2));
      assertThat(stream(client, CaptureEvent.Direction.INGRESS)).isEqualTo(concat(resp1, resp2));
      assertThat(stream(served, CaptureEvent.Direction.INGRESS)).isEqualTo(concat(req1, req2));
      assertThat(stream(served, CaptureEvent.Direction.EGRESS)).isEqualTo(concat(resp1, resp2));

      // One thread's sequential syscalls: timestamps strictly increase in ring order.
      List<CapturedEvent> clientData = client.stream().filter(CapturedEvent::isData).toList();
      for (int i = 1; i < clientData.size(); i++) {
        assertThat(clientData.get(i).timestampNanos())
            .isGreaterThan(clientData.get(i - 1).timestampNanos());
      }
    }
  }

  @Test
  void gatheringWritesAndScatteringReadsAreCapturedWhole() throws Exception {
    String[] requestParts = {"GET /gathered HTTP/1.1\r\n", "Host: test\r\n", "Accept: */*\r\n\r\n"};
    String[] responseParts = {"HTTP/1.1 204 No Content\r\n", "Server: test\r\n", "\r\n"};
    byte[] request = String.join("", requestParts).getBytes(US_ASCII);
    byte[] response = String.join("", responseParts).getBytes(US_ASCII);

    try (ServerSocketChannel server =
        ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0))) {
      int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
      int clientPort;
      try (SocketChannel client = SocketChannel.open(server.getLocalAddress());
          SocketChannel accepted = server.accept()) {
        clientPort = ((InetSocketAddress) client.getLocalAddress()).getPort();
        writeGathered(client, requestParts);
        assertThat(readScattered(accepted, request.length)).isEqualTo(request);
        writeGathered(accepted, responseParts);
        assertThat(readScattered(client, response.length)).isEqualTo(response);
      }

      List<CapturedEvent> client = awaitClosed(clientPort, port);
      List<CapturedEvent> served = awaitClosed(port, clientPort);
      assertThat(stream(client, CaptureEvent.Direction.EGRESS)).isEqualTo(request);
      assertThat(stream(served, CaptureEvent.Direction.INGRESS)).isEqualTo(request);
      assertThat(stream(served, CaptureEvent.Direction.EGRESS)).isEqualTo(response);
      assertThat(stream(client, CaptureEvent.Direction.INGRESS)).isEqualTo(response);
      // The gathered request left in one writev: one event holding all three buffers.
      assertThat(data(client, CaptureEvent.Direction.EGRESS)).hasSize(1);
    }
  }

  @Test
  void payloadsLongerThanTheCapAreTruncatedWithRealLengthsAndOffsets() throws Exception {
    byte[] body = new byte[BIG_BODY_BYTES];
    for (int i = 0; i < body.length; i++) {
      body[i] = (byte) ('a' + i % 26);
    }
    byte[] request =
        concat(
            ("POST /big HTTP/1.1\r\nHost: test\r\nContent-Length: " + body.length + "\r\n\r\n")
                .getBytes(US_ASCII),
            body);
    long truncatedBefore = capture.lossCounters().copyTruncated();

    try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      int port = server.getLocalPort();
      int clientPort;
      try (Socket client = new Socket(server.getInetAddress(), port);
          Socket accepted = server.accept()) {
        clientPort = client.getLocalPort();
        client.getOutputStream().write(request);
        InputStream in = accepted.getInputStream();
        byte[] buf = new byte[READ_BUFFER_BYTES];
        int total = 0;
        while (total < request.length) {
          int n = in.read(buf);
          assertThat(n).isPositive();
          total += n;
        }
      }

      for (List<CapturedEvent> side :
          List.of(
              data(awaitClosed(clientPort, port), CaptureEvent.Direction.EGRESS),
              data(awaitClosed(port, clientPort), CaptureEvent.Direction.INGRESS))) {
        long offset = 0;
        for (CapturedEvent e : side) {
          assertThat(e.streamOffset()).isEqualTo(offset);
          assertHeadAndTail(e, request, (int) offset);
          offset += e.length();
        }
        assertThat(offset).isEqualTo(request.length);
        assertThat(side).anyMatch(e -> e.length() > CAPTURE_BYTES);
        assertThat(side)
            .filteredOn(e -> e.length() >= CAPTURE_BYTES + TAIL_BYTES)
            .isNotEmpty()
            .allMatch(e -> e.tailCaptured() == TAIL_BYTES);
      }
    }
    await()
        .atMost(EVENT_WAIT)
        .untilAsserted(
            () -> assertThat(capture.lossCounters().copyTruncated()).isGreaterThan(truncatedBefore));
  }

  /**
   * A gathering write over the cap whose last bytes lie in several buffers (chunk data, its CRLF,
   * the last chunk): the tail is taken from the right buffers, in order.
   */
  @Test
  void theTailOfAGatheringWriteComesFromItsLastBuffers() throws Exception {
    byte[] data = new byte[BIG_BODY_BYTES];
    for (int i = 0; i < data.length; i++) {
      data[i] = (byte) ('a' + i % 26);
    }
    byte[][] parts = {
      ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              + Integer.toHexString(data.length) + "\r\n")
          .getBytes(US_ASCII),
      data,
      "\r\n".getBytes(US_ASCII),
      "0\r\n\r\n".getBytes(US_ASCII)
    };
    byte[] response = new byte[0];
    for (byte[] p : parts) {
      response = concat(response, p);
    }
    byte[] request = "GET /chunked HTTP/1.1\r\n\r\n".getBytes(US_ASCII);

    try (ServerSocketChannel server =
        ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0))) {
      int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
      int clientPort;
      try (SocketChannel client = SocketChannel.open(server.getLocalAddress());
          SocketChannel accepted = server.accept()) {
        clientPort = ((InetSocketAddress) client.getLocalAddress()).getPort();
        client.write(ByteBuffer.wrap(request));
        readScattered(accepted, request.length);
        ByteBuffer[] bufs = new ByteBuffer[parts.length];
        for (int i = 0; i < parts.length; i++) {
          // Direct buffers: the JDK hands them to writev as they are, one iovec each.
          bufs[i] = ByteBuffer.allocateDirect(parts[i].length).put(parts[i]).flip();
        }
        while (Arrays.stream(bufs).anyMatch(ByteBuffer::hasRemaining)) {
          accepted.write(bufs);
        }
        ByteBuffer in = ByteBuffer.allocate(response.length);
        while (in.hasRemaining()) {
          assertThat(client.read(in)).isPositive();
        }
      }

      List<CapturedEvent> written = data(awaitClosed(port, clientPort), CaptureEvent.Direction.EGRESS);
      long offset = 0;
      for (CapturedEvent e : written) {
        assertThat(e.streamOffset()).isEqualTo(offset);
        assertHeadAndTail(e, response, (int) offset);
        offset += e.length();
      }
      assertThat(offset).isEqualTo(response.length);
      // The write that ended the response (one writev, unless the socket took it in parts)
      // carried the chunk's last data, its CRLF and the last chunk in its tail.
      CapturedEvent last = written.get(written.size() - 1);
      if (last.length() >= CAPTURE_BYTES + TAIL_BYTES) {
        assertThat(new String(last.tail(), US_ASCII)).endsWith("\r\n0\r\n\r\n");
      }
      assertThat(written).anyMatch(e -> e.tailCaptured() == TAIL_BYTES);
    }
  }

  @Test
  void connectionsOpenedBeforeTheCaptureAreFollowedWithUnknownRole() throws Exception {
    byte[] request = "GET /before HTTP/1.1\r\nHost: test\r\n\r\n".getBytes(US_ASCII);
    byte[] response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".getBytes(US_ASCII);
    int clientPort = preClient.getLocalPort();
    int serverPort = preServer.getLocalPort();

    preClient.getOutputStream().write(request);
    assertThat(readExactly(preAccepted.getInputStream(), request.length)).isEqualTo(request);
    preAccepted.getOutputStream().write(response);
    assertThat(readExactly(preClient.getInputStream(), response.length)).isEqualTo(response);

    List<CapturedEvent> client =
        awaitEvents(
            e -> e.between(clientPort, serverPort),
            l -> stream(l, CaptureEvent.Direction.INGRESS).length == response.length);
    List<CapturedEvent> served =
        awaitEvents(
            e -> e.between(serverPort, clientPort),
            l -> stream(l, CaptureEvent.Direction.EGRESS).length == response.length);
    assertThat(client).allMatch(e -> e.role() == CaptureEvent.ConnectionRole.UNKNOWN);
    assertThat(served).allMatch(e -> e.role() == CaptureEvent.ConnectionRole.UNKNOWN);
    assertThat(stream(client, CaptureEvent.Direction.EGRESS)).isEqualTo(request);
    assertThat(stream(served, CaptureEvent.Direction.INGRESS)).isEqualTo(request);
    assertThat(stream(served, CaptureEvent.Direction.EGRESS)).isEqualTo(response);
    assertThat(client.get(0).connectionId()).isNotEqualTo(served.get(0).connectionId());
    assertThat(client.stream().map(CapturedEvent::connectionId).distinct()).hasSize(1);
    assertThat(client.get(0).localAddress()).isEqualTo(InetAddress.getByName("127.0.0.1"));
  }

  @Test
  void nonHttpConnectionsProduceNoEvents() throws Exception {
    byte[] clientHello = {0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00};
    byte[] serverHello = {0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00};
    byte[] laterHttpLookalike = "GET / HTTP/1.1\r\n\r\n".getBytes(US_ASCII);
    int port;
    int clientPort;
    try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      port = server.getLocalPort();
      try (Socket client = new Socket(server.getInetAddress(), port);
          Socket accepted = server.accept()) {
        clientPort = client.getLocalPort();
        client.getOutputStream().write(clientHello);
        assertThat(readExactly(accepted.getInputStream(), clientHello.length)).isEqualTo(clientHello);
        accepted.getOutputStream().write(serverHello);
        assertThat(readExactly(client.getInputStream(), serverHello.length)).isEqualTo(serverHello);
        client.getOutputStream().write(laterHttpLookalike);
        assertThat(readExactly(accepted.getInputStream(), laterHttpLookalike.length))
            .isEqualTo(laterHttpLookalike);
      }
    }
    // Events are read in order: once a later HTTP connection's events are in, these would be too.
    httpBarrier();
    assertThat(events).noneMatch(e -> e.touches(port) || e.touches(clientPort));
  }

  @Test
  void theAgentsOwnProcessIsExcluded() throws Exception {
    byte[] response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".getBytes(US_ASCII);
    List<CapturedEvent> seen = new CopyOnWriteArrayList<>();
    try (KernelCapture excludingSelf =
            KernelCapture.open(
                CaptureSettings.builder()
                    .setCaptureBytes(CAPTURE_BYTES)
                    .setProgramVariant(variant())
                    .build());
        ServerSocket server = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      assertThat(excludingSelf.settings().selfTgid()).isEqualTo(PID);
      int port = server.getLocalPort();
      // Another process (bash) is the client; this process serves.
      Process child =
          new ProcessBuilder(
                  "bash",
                  "-c",
                  "exec 3<>/dev/tcp/127.0.0.1/" + port
                      + "; printf 'GET /child HTTP/1.1\\r\\nHost: test\\r\\n\\r\\n' >&3"
                      + "; head -c " + response.length + " <&3 >/dev/null; exec 3>&-")
              .redirectErrorStream(true)
              .start();
      byte[] request = "GET /child HTTP/1.1\r\nHost: test\r\n\r\n".getBytes(US_ASCII);
      int childPid = (int) child.pid();
      CaptureEventSink collect =
          e -> {
            if (e.localPort() == port || e.remotePort() == port) {
              seen.add(CapturedEvent.copyOf(e));
            }
          };
      try (Socket accepted = server.accept()) {
        byte[] head = readUntilBlankLine(accepted.getInputStream());
        assertThat(new String(head, US_ASCII)).startsWith("GET /child HTTP/1.1");
        // bash spoke first: its side is traced. Answer once that is settled (its write has
        // returned), or whether this process's answer came first would be a race.
        await()
            .atMost(EVENT_WAIT)
            .until(
                () -> {
                  excludingSelf.ringBuffer().poll(collect, POLL_TIMEOUT_MILLIS);
                  return stream(fromPid(seen, childPid), CaptureEvent.Direction.EGRESS).length
                      == request.length;
                });
        accepted.getOutputStream().write(response);
        assertThat(child.waitFor(JOIN_SECONDS, TimeUnit.SECONDS)).isTrue();
      }
      // head (another process) read this process's answer first: the other end of this
      // process's traffic, ignored. Counted before head could exit.
      assertThat(excludingSelf.lossCounters().selfConnectionsIgnored()).isPositive();
      excludingSelf.ringBuffer().poll(collect, POLL_TIMEOUT_MILLIS);

      // The client's side is there, from bash (it writes through a dup of the socket); nothing
      // of this process's serving side, nor of head reading what this process wrote.
      assertThat(seen).isNotEmpty().noneMatch(e -> e.pid() == PID).allMatch(e -> e.pid() == childPid);
      assertThat(stream(seen, CaptureEvent.Direction.EGRESS)).isEqualTo(request);
      assertThat(seen).allMatch(e -> e.remotePort() == port);
      // bash's socket is a plain AF_INET one (the JDK's are dual-stack IPv6 ones).
      InetAddress loopback = InetAddress.getByName("127.0.0.1");
      assertThat(seen)
          .allMatch(e -> e.family() == CaptureEvent.AF_INET)
          .allMatch(e -> e.localAddress().equals(loopback));
      // The capture that includes this process saw the serving side.
      awaitEvents(
          e -> e.localPort() == port && e.pid() == PID,
          l -> l.stream().anyMatch(CapturedEvent::isClose));
    }
  }

  /**
   * A tracked fd replaced without a close() the programs see (dup2 by bash's {@code exec 3<...}):
   * first by another socket, whose traffic is a new connection, then by a file, whose reads are
   * not captured. Each replaced connection ends with its CLOSE. bash only reads, and with {@code
   * read -u 3}, on fd 3 itself ({@code >&3} would write through a copy on fd 1).
   */
  @Test
  void aTrackedFdReplacedByDup2EndsItsConnection() throws Exception {
    byte[] greeting = "HTTP/1.1 204 No Content\r\n\r\n".getBytes(US_ASCII);
    Path file = Files.createTempFile("wirespan-reuse", ".txt");
    Files.writeString(file, "GET /not-http-but-a-file HTTP/1.1\n", US_ASCII);
    try (ServerSocket server = new ServerSocket(0, 2, InetAddress.getByName("127.0.0.1"))) {
      int port = server.getLocalPort();
      String connectAndRead =
          "exec 3<>/dev/tcp/127.0.0.1/" + port + "; read -r -N " + greeting.length + " -u 3 a; ";
      // Waits for a line first, so that its pid is watched before it makes any call.
      Process child =
          new ProcessBuilder(
                  "bash",
                  "-c",
                  "read -r go; " + connectAndRead + connectAndRead
                      + "exec 3<" + file + "; read -r -u 3 line; exec 3<&-; echo done")
              .redirectErrorStream(true)
              .start();
      int childPid = (int) child.pid();
      watchedPids.add(childPid);
      child.getOutputStream().write('\n');
      child.getOutputStream().flush();
      int[] clientPorts = new int[2];
      for (int i = 0; i < clientPorts.length; i++) {
        try (Socket accepted = server.accept()) {
          clientPorts[i] = accepted.getPort();
          accepted.getOutputStream().write(greeting);
          accepted.getOutputStream().flush();
          // bash replaces fd 3 with the next socket (or the file) once it has read the greeting
          readUntilClosedOrTimeout(accepted);
        }
      }
      assertThat(child.waitFor(JOIN_SECONDS, TimeUnit.SECONDS)).isTrue();
      assertThat(new String(child.getInputStream().readAllBytes(), US_ASCII)).isEqualTo("done\n");

      for (int clientPort : clientPorts) {
        List<CapturedEvent> side =
            awaitEvents(
                e -> e.pid() == childPid && e.between(clientPort, port),
                l -> l.stream().anyMatch(CapturedEvent::isClose));
        assertThat(side.get(side.size() - 1).isClose()).isTrue();
        assertThat(side.stream().filter(CapturedEvent::isClose)).hasSize(1);
        assertThat(side).allMatch(e -> e.fd() == BASH_REDIRECTED_FD);
        assertThat(side.stream().map(CapturedEvent::connectionId).distinct()).hasSize(1);
        assertThat(stream(side, CaptureEvent.Direction.INGRESS)).isEqualTo(greeting);
        assertThat(stream(side, CaptureEvent.Direction.EGRESS)).isEmpty();
      }
      List<CapturedEvent> childEvents = fromPid(events, childPid);
      assertThat(childEvents.stream().map(CapturedEvent::connectionId).distinct()).hasSize(2);
      // The file's line looks like a request: only a read taken for the old connection's could
      // have made it an event. Events are read in order: once a later connection's are in, any
      // such would be too.
      httpBarrier();
      assertThat(fromPid(events, childPid))
          .hasSize(childEvents.size())
          .allMatch(e -> e.touches(port));
    } finally {
      Files.deleteIfExists(file);
    }
  }

  @Test
  void aBurstAboveTheWakeupThresholdWakesABlockedPoll() throws Exception {
    byte[] body = new byte[BURST_BODY_BYTES];
    Arrays.fill(body, (byte) 'w');
    byte[] request =
        concat(
            ("POST /burst HTTP/1.1\r\nHost: test\r\nContent-Length: " + body.length + "\r\n\r\n")
                .getBytes(US_ASCII),
            body);
    try (KernelCapture woken =
            KernelCapture.open(
                CaptureSettings.builder()
                    .setSelfTgid(0)
                    .setCaptureBytes(CAPTURE_BYTES)
                    .setWakeupBytes(SMALL_WAKEUP_BYTES)
                    .build());
        ServerSocket server = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      int port = server.getLocalPort();
      RingBufferReader ring = woken.ringBuffer();
      AtomicLong burstBytesSeen = new AtomicLong();
      AtomicInteger pollerTid = new AtomicInteger();
      AtomicBoolean stop = new AtomicBoolean();
      // Polls with a timeout far longer than the test waits: only a wake-up delivers in time.
      CompletableFuture<Integer> poller =
          CompletableFuture.supplyAsync(
              () -> {
                pollerTid.set(osTid());
                int deliveredWithBurst = 0;
                while (burstBytesSeen.get() < SMALL_WAKEUP_BYTES && !stop.get()) {
                  deliveredWithBurst =
                      ring.poll(
                          e -> {
                            if (e.pid() == PID && (e.localPort() == port || e.remotePort() == port)) {
                              burstBytesSeen.addAndGet(e.captured());
                            }
                          },
                          LONG_POLL_TIMEOUT_MILLIS);
                }
                return deliveredWithBurst;
              });
      try {
        // Only once the poller waits in the kernel on an empty ring does the burst start.
        await().atMost(EVENT_WAIT).until(() -> inPollSyscall(pollerTid.get()));
        try (Socket client = new Socket(server.getInetAddress(), port);
            Socket accepted = server.accept()) {
          client.getOutputStream().write(request);
          assertThat(readExactly(accepted.getInputStream(), request.length)).isEqualTo(request);
        }
        assertThat(poller.get(BURST_WAIT_SECONDS, TimeUnit.SECONDS))
            .as("records returned by the woken poll")
            .isPositive();
        assertThat(burstBytesSeen.get()).isGreaterThanOrEqualTo(SMALL_WAKEUP_BYTES);
      } finally {
        stop.set(true);
      }
    }
  }

  @Test
  void closeDetachesEveryProgramAndIsIdempotent() throws Exception {
    Map<String, Long> before = bpfFds();
    KernelCapture second = KernelCapture.open(CaptureSettings.defaults());
    Map<String, Long> during = bpfFds();
    assertThat(second.attachedPrograms())
        .hasSize(23)
        .contains("enter_write", "exit_read", "exit_accept4", "enter_close", "exit_sendfile64");
    assertThat(during.getOrDefault("bpf-prog", 0L) - before.getOrDefault("bpf-prog", 0L))
        .isGreaterThanOrEqualTo(second.attachedPrograms().size());

    second.close();
    second.close();

    assertThat(second.isClosed()).isTrue();
    assertThat(bpfFds()).isEqualTo(before);
    assertThat(second.ringBuffer().poll(e -> {}, 0)).isZero();
  }

  @Test
  void lossCountersAreReadableAndConsistent() throws Exception {
    httpBarrier();
    KernelLossCounters losses = capture.lossCounters();
    assertThat(losses.eventsEmitted()).isGreaterThanOrEqualTo(events.size());
    assertThat(losses.ringbufFull()).isZero(); // 8 MiB against a handful of test events
    // LRU maps evict rather than fail, and task storage is created on demand: no insert fails here
    // (evictions themselves are detected in user space: KernelMapFullTest).
    assertThat(losses.mapFull()).isZero();
    assertThat(capture.ringBuffer().capacity()).isEqualTo(CaptureSettings.DEFAULT_RING_BUFFER_BYTES);
    assertThat(capture.ringBuffer().availableBytes()).isBetween(0L, (long) capture.ringBuffer().capacity());
  }

  // ---- helpers ----

  /** A small HTTP exchange whose CLOSE events mark that everything before it has been read. */
  private void httpBarrier() throws Exception {
    try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      int port = server.getLocalPort();
      int clientPort;
      byte[] request = "GET /barrier HTTP/1.1\r\n\r\n".getBytes(US_ASCII);
      try (Socket client = new Socket(server.getInetAddress(), port);
          Socket accepted = server.accept()) {
        clientPort = client.getLocalPort();
        client.getOutputStream().write(request);
        readExactly(accepted.getInputStream(), request.length);
      }
      awaitClosed(port, clientPort);
      awaitClosed(clientPort, port);
    }
  }

  /** One side's events, once its CLOSE arrived (the CLOSE is the last). */
  private List<CapturedEvent> awaitClosed(int localPort, int remotePort) {
    List<CapturedEvent> side =
        awaitEvents(
            e -> e.between(localPort, remotePort),
            l -> l.stream().anyMatch(CapturedEvent::isClose));
    assertThat(side.get(side.size() - 1).isClose()).isTrue();
    assertThat(side.stream().filter(CapturedEvent::isClose)).hasSize(1);
    return side;
  }

  private List<CapturedEvent> awaitEvents(
      Predicate<CapturedEvent> filter, Predicate<List<CapturedEvent>> complete) {
    return await()
        .atMost(EVENT_WAIT)
        .until(() -> events.stream().filter(filter).toList(), complete);
  }

  private static void assertSide(
      List<CapturedEvent> side,
      CaptureEvent.ConnectionRole role,
      int family,
      InetAddress lo,
      int tid,
      int fd) {
    assertThat(side).allSatisfy(
        e -> {
          assertThat(e.pid()).isEqualTo(PID);
          assertThat(e.role()).isEqualTo(role);
          assertThat(e.family()).isEqualTo(family);
          assertThat(e.localAddress()).isEqualTo(lo);
          assertThat(e.remoteAddress()).isEqualTo(lo);
          assertThat(e.fd()).isEqualTo(fd);
          assertThat(e.connectionId()).isEqualTo(side.get(0).connectionId());
          assertThat(e.flags()).isZero();
          assertThat(e.processName()).isEqualTo(PROCESS_NAME);
        });
    assertThat(side.stream().filter(CapturedEvent::isData)).allMatch(e -> e.tid() == tid);
    for (CaptureEvent.Direction d : CaptureEvent.Direction.values()) {
      long offset = 0;
      long last = 0;
      for (CapturedEvent e : data(side, d)) {
        assertThat(e.streamOffset()).isEqualTo(offset);
        assertThat(e.payload().length).isEqualTo((int) e.length());
        assertThat(e.timestampNanos()).isGreaterThanOrEqualTo(last);
        offset += e.length();
        last = e.timestampNanos();
      }
    }
  }

  /**
   * The event's head is the first min(length, cap) bytes it moved of {@code stream} from {@code
   * offset}; its tail the last min(TAIL_BYTES, length - cap) ones when it moved more than the cap.
   */
  private static void assertHeadAndTail(CapturedEvent e, byte[] stream, int offset) {
    int head = (int) Math.min(e.length(), CAPTURE_BYTES);
    int tail = e.length() > CAPTURE_BYTES ? (int) Math.min(TAIL_BYTES, e.length() - CAPTURE_BYTES) : 0;
    int end = offset + (int) e.length();
    assertThat(e.head()).isEqualTo(Arrays.copyOfRange(stream, offset, offset + head));
    assertThat(e.tailCaptured()).isEqualTo(tail);
    assertThat(e.tail()).isEqualTo(Arrays.copyOfRange(stream, end - tail, end));
  }

  private static List<CapturedEvent> fromPid(List<CapturedEvent> events, int pid) {
    return events.stream().filter(e -> e.pid() == pid).toList();
  }

  private static List<CapturedEvent> data(List<CapturedEvent> side, CaptureEvent.Direction d) {
    return side.stream()
        .filter(e -> e.isData() && e.direction() == d)
        .sorted(Comparator.comparingLong(CapturedEvent::streamOffset))
        .toList();
  }

  /** The captured bytes of one direction, in stream order. */
  private static byte[] stream(List<CapturedEvent> side, CaptureEvent.Direction d) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (CapturedEvent e : data(side, d)) {
      out.writeBytes(e.payload());
    }
    return out.toByteArray();
  }

  private static String processName() {
    try {
      return Files.readString(Path.of("/proc/self/comm"), US_ASCII).strip();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] c = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, c, a.length, b.length);
    return c;
  }

  private static byte[] readExactly(InputStream in, int n) throws IOException {
    byte[] b = in.readNBytes(n);
    assertThat(b).hasSize(n);
    return b;
  }

  /** Reads until the peer closes (or the socket's timeout passes), discarding what comes. */
  private static void readUntilClosedOrTimeout(Socket s) throws IOException {
    s.setSoTimeout(CLOSE_WAIT_MILLIS);
    try {
      while (s.getInputStream().read() >= 0) {
        // nothing more is expected
      }
    } catch (java.net.SocketTimeoutException e) {
      // the peer kept it open: the test's assertions say whether that was wrong
    }
  }

  private static byte[] readUntilBlankLine(InputStream in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[READ_BUFFER_BYTES];
    while (!out.toString(US_ASCII).contains("\r\n\r\n")) {
      int n = in.read(buf);
      assertThat(n).isPositive();
      out.write(buf, 0, n);
    }
    return out.toByteArray();
  }

  private static void writeGathered(SocketChannel ch, String[] parts) throws IOException {
    ByteBuffer[] bufs = new ByteBuffer[parts.length];
    for (int i = 0; i < parts.length; i++) {
      bufs[i] = ByteBuffer.wrap(parts[i].getBytes(US_ASCII));
    }
    while (Arrays.stream(bufs).anyMatch(ByteBuffer::hasRemaining)) {
      ch.write(bufs);
    }
  }

  /** Reads n bytes into several small buffers at once (readv). */
  private static byte[] readScattered(SocketChannel ch, int n) throws IOException {
    ByteBuffer[] bufs = {ByteBuffer.allocate(7), ByteBuffer.allocate(11), ByteBuffer.allocate(n)};
    long total = 0;
    while (total < n) {
      long r = ch.read(bufs);
      assertThat(r).isPositive();
      total += r;
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (ByteBuffer b : bufs) {
      out.write(b.array(), 0, b.position());
    }
    return out.toByteArray();
  }

  /**
   * Whether thread tid of this process is blocked in poll(2) or ppoll(2) (x86-64 numbers): its
   * /proc syscall file starts with the number of the syscall it is in.
   */
  private static boolean inPollSyscall(int tid) throws IOException {
    if (tid == 0) {
      return false;
    }
    String syscall = Files.readString(Path.of("/proc/self/task/" + tid + "/syscall")).trim();
    String number = syscall.split(" ")[0];
    return number.equals(SYSCALL_POLL) || number.equals(SYSCALL_PPOLL);
  }

  /** The calling thread's kernel thread id. */
  private static int osTid() {
    try {
      Path self = Files.readSymbolicLink(Path.of("/proc/thread-self"));
      return Integer.parseInt(self.getFileName().toString());
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** This process's fd of the TCP socket localPort -> remotePort, found through its inode. */
  private static int socketFd(int localPort, int remotePort) {
    try {
      String inode = null;
      for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
        for (String line : Files.readAllLines(Path.of(table))) {
          String[] f = line.trim().split("\\s+");
          if (f.length > 9 && f[1].endsWith(String.format(":%04X", localPort))
              && f[2].endsWith(String.format(":%04X", remotePort))) {
            inode = f[9];
          }
        }
      }
      assertThat(inode).as("socket %d -> %d", localPort, remotePort).isNotNull();
      try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
        for (Path fd : fds) {
          try {
            if (Files.readSymbolicLink(fd).toString().equals("socket:[" + inode + "]")) {
              return Integer.parseInt(fd.getFileName().toString());
            }
          } catch (IOException gone) {
            // an fd closed while listing
          }
        }
      }
      throw new AssertionError("no fd for socket inode " + inode);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** This process's BPF objects by kind ("bpf-prog", "bpf_link", "bpf-map", "[perf_event]"). */
  private static Map<String, Long> bpfFds() throws IOException {
    List<String> kinds = new ArrayList<>();
    try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
      for (Path fd : fds) {
        try {
          String target = Files.readSymbolicLink(fd).toString();
          if (target.startsWith("anon_inode:")
              && (target.contains("bpf") || target.contains("perf_event"))) {
            kinds.add(target.substring("anon_inode:".length()));
          }
        } catch (IOException gone) {
          // an fd closed while listing
        }
      }
    }
    return kinds.stream().collect(Collectors.groupingBy(k -> k, Collectors.counting()));
  }
}
